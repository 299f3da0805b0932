import { parseCommandArgs } from '../args.js';
import type { Command } from '../context.js';
import { printJson } from '../output.js';
import { decryptHostKeys } from '../host-script.js';
import { DeployKeysError, UsageError } from '../../lib/errors.js';
import { assertHostName } from '../../lib/names.js';
import type { HostCheck } from '../../lib/check/index.js';

const HELP = `Usage: deploy-keys check [HOST…|--all] [--json]

Proves each key works before the host needs it: decrypts the host's deploy
keys with your age identity (SOPS_AGE_KEY_FILE, …) and runs a read-only
"git ls-remote <repo> HEAD" per repo from here, through exactly what the
activation installs on the host: its ssh alias, its pinned host keys
(StrictHostKeyChecking yes, nothing else trusted) and its key. The keys are
written only to a private temp dir (0700, files 0600) that is removed when the
check ends, also on Ctrl-C; a run killed outright leaves it to the next run.

Per repo, one of:
  ok           the key reads the repo
  auth         the server refused the key (not registered: revoked, rotated
               out, never added); never retried
  host-key     the server's host key matches none pinned for it; never
               accepted, never retried
  repo         the key was accepted but cannot read this repo (wrong URL, or
               registered on another repo)
  unreachable  connection refused, timed out or no route, after 3 retries
               2 s apart
  error        anything else (ssh's or the server's message is shown)

Exit status 0 when every key of every host works, 1 otherwise, 2 usage.

Options:
  --all    every provisioned (not revoked) host
  --json   machine-readable result: { ok, hosts: [{ host, ok, error?, repos:
           [{ repo, url, alias, endpoint, fingerprint, status, attempts,
           detail, ok, message }] }] }
`;

export const command: Command = {
  help: HELP,
  async run(args, ctx) {
    const { values, positionals } = parseCommandArgs('check', args, { all: { type: 'boolean' }, json: { type: 'boolean' } }, { min: 0, max: Infinity, names: 'HOST' });
    if (values.all && positionals.length) throw new UsageError('check: give hosts or --all, not both');
    if (!values.all && positionals.length === 0) throw new UsageError('check: missing HOST (or --all)', 'see deploy-keys check --help');
    const named = positionals.map((h) => assertHostName(h));
    const config = await ctx.config();
    const { probeHost, checkJson, checkLines, hostOk, PROBE_RETRIES, PROBE_RETRY_DELAY_MS } = await import('../../lib/check/index.js');
    let hosts = named;
    if (values.all) {
      const { provisionedHosts, FileStateStore } = await import('../../lib/lifecycle/index.js');
      hosts = await provisionedHosts(config, new FileStateStore(config.secretsDir));
      if (hosts.length === 0) throw new DeployKeysError(`check --all: no provisioned host in ${config.secretsDir}`, { hint: 'run "deploy-keys vm-fresh HOST" first' });
    }
    const results: HostCheck[] = [];
    for (const host of hosts) {
      let result: HostCheck;
      try {
        const keys = await decryptHostKeys(config, host, ctx.env);
        result = {
          host,
          repos: await probeHost(config, host, keys, {
            env: ctx.env,
            onRetry: (repo, attempt, o) => ctx.stderr.write(`deploy-keys: ${host} ${repo}: ${o.detail}; retry ${attempt} of ${PROBE_RETRIES} in ${PROBE_RETRY_DELAY_MS / 1000} s\n`),
          }),
        };
      } catch (e) {
        if (!(e instanceof DeployKeysError)) throw e;
        result = { host, error: e.oneLine(), repos: [] };
      }
      results.push(result);
      if (!values.json) for (const line of checkLines(result)) ctx.stdout.write(`${line}\n`);
    }
    if (values.json) printJson(ctx.stdout, checkJson(results));
    const failed = results.filter((r) => !hostOk(r));
    if (failed.length === 0) return 0;
    if (!values.json) ctx.stderr.write(`deploy-keys: check failed for: ${failed.map((r) => r.host).join(' ')}\n`);
    return 1;
  },
};
