import path from 'node:path';
import { UsageError } from '../../lib/errors.js';
import { FINDING_RULES } from '../../lib/lifecycle/index.js';
import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { version } from '../version.js';

const FORMATS = ['text', 'json', 'prometheus', 'sarif'] as const;
type Format = (typeof FORMATS)[number];

/** `  kind  summary`, the summary wrapped under itself. */
function ruleLines(): string {
  const width = 78;
  const indent = 23;
  return FINDING_RULES.map((r) => {
    const lines: string[] = [];
    let line = `  ${r.kind}${r.level === 'error' ? ' (E)' : ''}`.padEnd(indent - 1);
    for (const word of r.summary.split(' ')) {
      if (line.length + 1 + word.length > width && line.trim().length) {
        lines.push(line);
        line = ' '.repeat(indent - 1);
      }
      line += ` ${word}`;
    }
    lines.push(line);
    return lines.join('\n');
  }).join('\n');
}

const HELP = `Usage: deploy-keys audit [--format text|json|prometheus|sarif] [--output FILE] [--json]

Checks the fleet from public data only: the state files in
<secrets_dir>/deploy-keys-state, one forge listing per repo, the host files'
unencrypted sops metadata and .sops.yaml. No age identity needed. Exits 1
when it finds any of (E: misuse or a key that must not exist; the others:
maintenance that is due):
${ruleLines()}

Formats:
  text        one line per finding and a summary (default)
  json        {"$schema", "schema_version", "ok", "hosts", "forgeKeys",
              "findings": [{"kind", "host"?, "repo"?, "keyId"?, "fingerprint"?,
              "message"}]}, described by schemas/audit.schema.json (JSON
              Schema, shipped with the package); --json is the same
  prometheus  node_exporter textfile metrics (Prometheus text format, gauges):
              deploy_keys_audit_findings{kind} (every kind, 0 included),
              deploy_keys_host_audit_findings{host,kind}, per key (labels host,
              repo, slot): deploy_keys_key_age_seconds, deploy_keys_key_used,
              deploy_keys_key_last_use_age_seconds (used keys only),
              deploy_keys_key_registration{state=registered|pending|missing|
              stored}; deploy_keys_audit_timestamp_seconds,
              deploy_keys_audit_hosts, deploy_keys_audit_forge_keys
  sarif       SARIF 2.1.0 for CI annotations (GitHub code scanning): one rule
              per kind above (level error or warning), each result located at
              the host file it concerns, else the config file, relative to the
              config file's directory (base %SRCROOT%)

Options:
  --format FORMAT  see above
  --output FILE    write FORMAT to FILE instead of standard output, replaced
                   atomically (mode 0644: e.g. into node_exporter's
                   --collector.textfile.directory), and print the text report;
                   written with findings too, left alone when the audit fails
  --json           --format json
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values } = parseCommandArgs(
      'audit',
      args,
      { json: { type: 'boolean' }, format: { type: 'string' }, output: { type: 'string', short: 'o' } },
      { min: 0, max: 0, names: '' },
    );
    if (values.json && values.format !== undefined && values.format !== 'json') throw new UsageError(`audit: --json and --format ${values.format} exclude each other`);
    const format = (values.json ? 'json' : (values.format ?? 'text')) as Format;
    if (!FORMATS.includes(format)) throw new UsageError(`audit: --format ${JSON.stringify(values.format)} is not one of ${FORMATS.join(', ')}`, 'see deploy-keys audit --help');
    if (values.output !== undefined && (format === 'text' || values.output === '')) throw new UsageError('audit: --output needs a FILE and --format json, prometheus or sarif');
    const output = values.output === undefined ? undefined : path.resolve(ctx.cwd, values.output);

    const config = await ctx.config();
    const { wire, ForgeCache, auditJson, collectAudit, collectStatus, printFindings } = await import('../../lib/lifecycle/index.js');
    // Machine output on stdout: the manual checklist (if any) goes to stderr.
    const deps = await wire(config, ctx.env, ctx, { json: format !== 'text' && output === undefined });
    const cache = new ForgeCache(deps.forge);
    const { findings, hosts, keys } = await collectAudit(deps, cache, { maxAgeDays: config.rotation.maxAgeDays, unusedDays: config.audit.unusedDays });
    let report: string | undefined;
    if (format === 'json') {
      report = `${JSON.stringify(auditJson(findings, hosts, keys), null, 2)}\n`;
    } else if (format === 'prometheus') {
      const { prometheusTextfile } = await import('../../lib/audit-formats/index.js');
      // The same listings (cached): status rows are the per-key data.
      const status = await collectStatus(deps, cache, undefined, config.rotation.maxAgeDays);
      report = prometheusTextfile({
        now: new Date(deps.clock.now()),
        kinds: FINDING_RULES.map((r) => r.kind),
        findings,
        keys: status.hosts.flatMap((h) => h.rows),
        hosts,
        forgeKeys: keys,
      });
    } else if (format === 'sarif') {
      const { sarifLog } = await import('../../lib/audit-formats/index.js');
      const { hostFilePath } = await import('../../lib/config/index.js');
      const relative = (file: string) => path.relative(config.root, file).split(path.sep).join('/');
      const log = sarifLog({
        toolVersion: version(),
        rules: FINDING_RULES,
        findings,
        locate: (f) => relative(f.host === undefined ? config.file : hostFilePath(config, f.host)),
      });
      report = `${JSON.stringify(log, null, 2)}\n`;
    }
    if (report === undefined || output !== undefined) printFindings(ctx.stdout, findings, hosts, keys);
    if (report !== undefined) {
      if (output === undefined) ctx.stdout.write(report);
      else {
        const { writeFileAtomic } = await import('../../lib/fs/index.js');
        await writeFileAtomic(output, report, { mode: 0o644 });
      }
    }
    return findings.length ? 1 : 0;
  },
};
