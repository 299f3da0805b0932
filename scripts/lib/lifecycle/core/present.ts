/** Human and JSON output of the life-cycle commands. */
import type { Finding, HostStatus } from './report.js';
import { describeStep, isBookkeeping, type HostResult, type Plan } from './plan.js';

interface Out {
  write(s: string): unknown;
}

function planJson(plan: Plan) {
  return {
    command: plan.command,
    host: plan.host,
    steps: plan.steps.map((s) => ({ ...s, description: describeStep(s, plan.host) })),
    notes: plan.notes,
    warnings: plan.warnings,
  };
}

export function hostResultJson(r: HostResult) {
  return {
    host: r.host,
    dryRun: r.dryRun,
    changed: r.done.length > 0,
    ...(r.resumed ? { resumed: r.resumed } : {}),
    plan: planJson(r.plan),
    keys: r.keys,
    ...(r.activationFile ? { activationFile: r.activationFile } : {}),
    ...(r.plan.exposed ? { exposed: r.plan.exposed } : {}),
  };
}

export function printHostResult(out: Out, err: Out, r: HostResult): void {
  const p = r.plan;
  if (r.resumed) out.write(`${r.host}: resuming an interrupted "${r.resumed.command}" (started ${r.resumed.startedAt}${r.resumed.step ? `, last step ${r.resumed.step}` : ''})\n`);
  const visible = p.steps.filter((s) => !isBookkeeping(s));
  if (r.dryRun) {
    out.write(visible.length ? `${p.command} ${r.host} would (dry run, nothing changed):\n` : `${p.command} ${r.host}: nothing to do\n`);
    for (const s of visible) out.write(`  ${describeStep(s, r.host)}\n`);
  } else if (visible.length === 0) {
    out.write(`${p.command} ${r.host}: nothing to do${p.steps.length ? ' (public state updated)' : ''}\n`);
  } else {
    out.write(`${p.command} ${r.host}:\n`);
    for (const s of visible) out.write(`  done: ${describeStep(s, r.host)}\n`);
  }
  for (const n of p.notes) out.write(`  note: ${n}\n`);
  if (p.exposed?.length) {
    out.write(`  ${r.host} could read these secret values; git history keeps them, so change each at its source:\n`);
    for (const f of p.exposed) out.write(`    ${f.file}: ${f.values.join(' ')}\n`);
  }
  for (const w of p.warnings) err.write(`deploy-keys: warning: ${r.host}: ${w}\n`);
  if (!r.dryRun && r.keys.length) {
    for (const k of r.keys) out.write(`  ${k.repo.padEnd(20)} ${k.slot.padEnd(8)} ${k.fingerprint}  ${k.status}${k.forgeId ? ` (id ${k.forgeId})` : ''}\n`);
  }
  if (r.activationFile && !r.dryRun) out.write(`  activation script: ${r.activationFile}\n`);
}

/**
 * The published schemas of `status --json` and `audit --json` (schemas/*.schema.json):
 * each output names its schema's $id and version; the version changes only
 * on an incompatible change, so other tools can rely on the shape.
 */
export const STATUS_SCHEMA = { id: 'urn:nix-deploy-keys:schema:status:1', version: 1 } as const;
export const AUDIT_SCHEMA = { id: 'urn:nix-deploy-keys:schema:audit:1', version: 1 } as const;

export function statusJson(hosts: HostStatus[], missing: string[]) {
  return { $schema: STATUS_SCHEMA.id, schema_version: STATUS_SCHEMA.version, hosts, missing };
}

export function auditJson(findings: Finding[], hosts: number, forgeKeys: number) {
  return { $schema: AUDIT_SCHEMA.id, schema_version: AUDIT_SCHEMA.version, ok: findings.length === 0, hosts, forgeKeys, findings };
}

export function printStatus(out: Out, hosts: HostStatus[], missing: string[]): void {
  const header = ['HOST', 'REPO', 'SLOT', 'FINGERPRINT', 'AGE', 'FORGE ID', 'STATE', 'RO', 'ENABLED', 'LAST USED', 'ROTATION'];
  const rows: string[][] = [header];
  for (const h of hosts) {
    if (h.rows.length === 0) rows.push([h.host, '-', '-', '-', '-', '-', h.revoked ? 'revoked' : 'no keys', '-', '-', '-', '-']);
    for (const r of h.rows) {
      rows.push([
        h.host,
        r.repo,
        r.slot,
        r.fingerprint,
        `${r.ageDays}d`,
        r.forgeId ?? '-',
        r.registration,
        r.readOnly === null ? '-' : r.readOnly ? 'yes' : 'NO',
        r.enabled === null ? '-' : r.enabled ? 'yes' : 'NO',
        r.lastUsed ? r.lastUsed.slice(0, 10) : 'never',
        r.rotation,
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  for (const r of rows) out.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}\n`);
  for (const h of hosts) if (h.interrupted) out.write(`${h.host}: interrupted ${h.interrupted}; re-run it\n`);
  for (const h of hosts) {
    for (const repo of new Set(h.rows.filter((r) => !r.assigned).map((r) => r.repo))) {
      out.write(`${h.host}: ${repo} is no longer the host's (repos.${repo}.hosts); "deploy-keys vm-fresh ${h.host}" removes its key\n`);
    }
  }
  for (const h of hosts) {
    for (const r of h.rows.filter((x) => x.registration === 'missing')) {
      out.write(`${h.host}: ${r.repo} key ${r.fingerprint} is gone from the forge ("deploy-keys audit" names the likely cause); "deploy-keys vm-fresh ${h.host}" registers the stored key again\n`);
    }
  }
  const disabled = new Set(hosts.flatMap((h) => h.rows.filter((r) => r.enabled === false).map((r) => r.repo)));
  for (const repo of disabled) {
    out.write(`${repo}: the forge reports its deploy keys disabled (DeployKeysDisabled: an organization or enterprise policy forbids deploy keys); hosts cannot fetch through them until an owner allows deploy keys again\n`);
  }
  for (const m of missing) out.write(`${m}: no state (never provisioned with vm-fresh?)\n`);
}

export function printFindings(out: Out, findings: Finding[], hosts: number, keys: number): void {
  if (findings.length === 0) {
    out.write(`audit: ok (${hosts} hosts, ${keys} forge keys)\n`);
    return;
  }
  for (const f of findings) out.write(`${f.kind}: ${f.message}\n`);
  out.write(`audit: ${findings.length} finding${findings.length === 1 ? '' : 's'} (${hosts} hosts, ${keys} forge keys)\n`);
}
