/**
 * What the changing life-cycle commands (vm-fresh, rotate, revoke) share: their
 * common options, and the run over several hosts in one process (one forge
 * preflight and one listing per repo for all of them).
 */
import type { CliContext } from './context.js';
import { DeployKeysError } from '../lib/errors.js';
import type { HostResult } from '../lib/lifecycle/index.js';

export const CHANGE_OPTIONS = {
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  manual: { type: 'boolean' },
} as const;

export interface HostRuns {
  results: HostResult[];
  failures: { host: string; error: string }[];
}

/**
 * Runs `run` for each host in turn, printing each result as text unless
 * `json`. With one host its error is the command's; with several, a host that
 * fails is reported on stderr and in `failures`, and the next one runs.
 */
export async function eachHost(ctx: CliContext, hosts: readonly string[], json: boolean, run: (host: string) => Promise<HostResult>): Promise<HostRuns> {
  const { printHostResult } = await import('../lib/lifecycle/index.js');
  const out: HostRuns = { results: [], failures: [] };
  for (const host of hosts) {
    try {
      const r = await run(host);
      out.results.push(r);
      if (!json) printHostResult(ctx.stdout, ctx.stderr, r);
    } catch (e) {
      if (hosts.length === 1) throw e;
      const msg = e instanceof DeployKeysError ? e.oneLine() : e instanceof Error ? e.message : String(e);
      out.failures.push({ host, error: msg });
      ctx.stderr.write(`deploy-keys: ${host}: ${msg}\n`);
    }
  }
  return out;
}
