import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { printJson } from '../output.js';

const HELP = `Usage: deploy-keys audit [--json]

Checks the fleet from public data only (no age identity needed) and exits 1
when it finds any of:
  unknown-key          a key on a managed repo that no host's state knows
  shared-key           a host's key also enabled on another managed repo
                       (GitLab, Gitea); removing it from one repo leaves it
                       valid on the other
  token-bound          GitHub: a key added by a user, not a GitHub App: it
                       dies with that user's personal access or OAuth token;
                       rotate it once forge.auth names a GitHub App
  revoked-host-key     a key of a revoked host
  never-used, unused   a key never used (older than audit.unused_days) or
                       unused for longer than audit.unused_days
  too-old              a key past rotation.max_age_days
  write-enabled, disabled
  missing-on-forge, unregistered   a host key the forge does not hold
  recipients-mismatch, no-sops-rule  a host file the current .sops.yaml rule
                       would not encrypt for (from its sops.age metadata)
  interrupted          a command that did not finish; re-run it
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values } = parseCommandArgs('audit', args, { json: { type: 'boolean' } }, { min: 0, max: 0, names: '' });
    const config = await ctx.config();
    const { wire, ForgeCache, collectAudit, printFindings } = await import('../../lib/lifecycle/index.js');
    const deps = await wire(config, ctx.env, ctx, { json: Boolean(values.json) });
    const { findings, hosts, keys } = await collectAudit(deps, new ForgeCache(deps.forge), { maxAgeDays: config.rotation.maxAgeDays, unusedDays: config.audit.unusedDays });
    if (values.json) printJson(ctx.stdout, { ok: findings.length === 0, hosts, forgeKeys: keys, findings });
    else printFindings(ctx.stdout, findings, hosts, keys);
    return findings.length ? 1 : 0;
  },
};
