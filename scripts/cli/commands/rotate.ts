import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { CHANGE_OPTIONS, eachHost } from '../host-commands.js';
import { printJson } from '../output.js';
import { UsageError } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';

const HELP = `Usage: deploy-keys rotate [HOST…|--all] [--older-than DAYS] [--force] [--dry-run] [--json] [--yes]
       deploy-keys rotate --finish [HOST…|--all] [--force] [--dry-run] [--json] [--yes]

Rotates deploy keys without downtime. First step: a new key per repo is stored
(deploy-keys-next.<repo>), registered read-only, then in one atomic write made
current (deploy-keys.<repo>) with the old key kept as deploy-keys-previous.<repo>;
the old key stays valid on the forge. Hosts pick up the new key at their next
activation.

A repo the config no longer gives a host (repos.<name>.hosts / except) loses
its key in the same run: deleted on the forge, then from the host file (this
needs --yes without a terminal).

--finish removes the old keys from the forge and the host file once the new key
has been used (forge last_used), or after rotation.grace_days, or at once with
--force. An old key is never removed while its replacement is not registered.

Options:
  --all              every provisioned (not revoked) host
  --older-than DAYS  only keys at least DAYS old (default rotation.max_age_days)
  --force            rotate regardless of age; with --finish: remove old keys now
  --finish           second step, see above
  --dry-run          print the plan; change nothing
  --json             machine-readable result
  -y, --yes          no confirmation prompt (--finish without a terminal needs it)
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs(
      'rotate',
      args,
      {
        all: { type: 'boolean' },
        'older-than': { type: 'string' },
        finish: { type: 'boolean' },
        force: { type: 'boolean' },
        ...CHANGE_OPTIONS,
      },
      { min: 0, max: Infinity, names: 'HOST' },
    );
    if (values.all && positionals.length) throw new UsageError('rotate: give hosts or --all, not both');
    if (!values.all && positionals.length === 0) throw new UsageError('rotate: missing HOST (or --all)', 'see deploy-keys rotate --help');
    if (values.finish && values['older-than'] !== undefined) throw new UsageError('rotate: --older-than does not apply to --finish');
    let olderThan: number | undefined;
    if (values['older-than'] !== undefined) {
      olderThan = Number(values['older-than']);
      if (!/^\d+$/.test(values['older-than']) || !Number.isSafeInteger(olderThan)) throw new UsageError(`rotate: --older-than ${JSON.stringify(values['older-than'])} is not a number of days`);
    }
    const hostsArg = positionals.map((h) => assertHostName(h));
    const config = await ctx.config();
    const { wire, Lifecycle, hostResultJson, provisionedHosts } = await import('../../lib/lifecycle/index.js');
    const { confirmer } = await import('../confirm.js');
    const confirm = confirmer(ctx, Boolean(values.yes));
    const deps = await wire(config, ctx.env, ctx, { json: Boolean(values.json), manual: Boolean(values.manual), withActivation: true, ...(confirm ? { confirm } : {}) });
    const hosts = values.all ? await provisionedHosts(config, deps.states) : hostsArg;
    const lc = new Lifecycle(deps);
    await lc.preflight();
    const dryRun = Boolean(values['dry-run']);
    const { results, failures } = await eachHost(ctx, hosts, Boolean(values.json), (host) =>
      values.finish
        ? lc.finish(host, { dryRun, graceDays: config.rotation.graceDays, force: Boolean(values.force) })
        : lc.rotate(host, { dryRun, olderThanDays: olderThan ?? config.rotation.maxAgeDays, force: Boolean(values.force) }),
    );
    if (values.json) printJson(ctx.stdout, { results: results.map(hostResultJson), failures });
    return failures.length ? 1 : 0;
  },
};
