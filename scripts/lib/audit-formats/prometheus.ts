/**
 * The audit as node_exporter textfile metrics: the Prometheus text exposition
 * format 0.0.4, gauges only. Ages are in seconds (Prometheus' base unit;
 * divide by 86400 for days in a query). Every finding kind gets a sample, 0
 * included, so an alert can tell "none" from "not measured".
 */
import type { AuditReport } from './types.js';

const REGISTRATIONS = ['registered', 'pending', 'missing', 'stored'] as const;

type Labels = Record<string, string>;
type Sample = readonly [Labels, number];

/** Label values: backslash, double quote and line feed escaped, as the format requires. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function sampleLine(name: string, labels: Labels, value: number): string {
  const ls = Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`);
  return `${name}${ls.length ? `{${ls.join(',')}}` : ''} ${Number.isInteger(value) ? String(value) : value.toFixed(3)}\n`;
}

function family(name: string, help: string, samples: readonly Sample[]): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${samples.map(([l, v]) => sampleLine(name, l, v)).join('')}`;
}

const seconds = (ms: number) => Math.max(0, Math.floor(ms / 1000));

export function prometheusTextfile(report: AuditReport): string {
  const now = report.now.getTime();
  const key = (k: AuditReport['keys'][number]): Labels => ({ host: k.host, repo: k.repo, slot: k.slot });
  const byKind = new Map<string, number>(report.kinds.map((k) => [k, 0]));
  const byHostKind = new Map<string, { host: string; kind: string; n: number }>();
  for (const f of report.findings) {
    byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
    if (f.host === undefined) continue;
    const id = `${f.host}\0${f.kind}`;
    const entry = byHostKind.get(id) ?? { host: f.host, kind: f.kind, n: 0 };
    entry.n++;
    byHostKind.set(id, entry);
  }
  const used = report.keys.filter((k) => k.lastUsed !== null);
  return [
    family('deploy_keys_audit_timestamp_seconds', 'When this audit ran (Unix time); an old value means the audit stopped running.', [[{}, now / 1000]]),
    family('deploy_keys_audit_hosts', 'Provisioned hosts with a state file (revoked ones included).', [[{}, report.hosts]]),
    family('deploy_keys_audit_forge_keys', 'Deploy keys on the managed repos, as the forge lists them.', [[{}, report.forgeKeys]]),
    family('deploy_keys_audit_findings', 'Audit findings by kind (deploy-keys audit --help explains each).', [...byKind].map(([kind, n]): Sample => [{ kind }, n])),
    family('deploy_keys_host_audit_findings', 'Audit findings by host and kind (kinds with none are left out).', [...byHostKind.values()].map((e): Sample => [{ host: e.host, kind: e.kind }, e.n])),
    family('deploy_keys_key_age_seconds', 'Age of each stored key (slot current, next or previous).', report.keys.map((k): Sample => [key(k), seconds(now - Date.parse(k.createdAt))])),
    family('deploy_keys_key_used', '1 when the forge reports a use of the key, 0 when it never did (or does not tell).', report.keys.map((k): Sample => [key(k), k.lastUsed === null ? 0 : 1])),
    family('deploy_keys_key_last_use_age_seconds', 'Time since the forge last saw the key used (keys never used are left out).', used.map((k): Sample => [key(k), seconds(now - Date.parse(k.lastUsed ?? ''))])),
    family(
      'deploy_keys_key_registration',
      'Registration of each key, one sample per state with 1 for the current one: registered (on the forge), pending (manual, unconfirmed), missing (recorded but gone), stored (never registered).',
      report.keys.flatMap((k) => REGISTRATIONS.map((state): Sample => [{ ...key(k), state }, k.registration === state ? 1 : 0])),
    ),
  ].join('');
}
