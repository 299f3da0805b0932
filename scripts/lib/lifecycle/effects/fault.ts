/**
 * `DEPLOY_KEYS_FAULT=after:<step>[#n]`: kill the process with SIGKILL right
 * after the n-th (default first) step whose name is <step> or starts with
 * "<step>:" — for crash tests. Step names: write-host-file:N, forge-add:REPO:SLOT
 * (and …:call, right after the forge answered), forge-remove:REPO:ID, record:…,
 * host-keys-rule, create-host-key, record-host-key, add-recipient, remove-recipient,
 * updatekeys:N, rotate-data-key:N, clear-retired, purge-host-file, write-activation, mark-revoked.
 */
import { DeployKeysError } from '../../errors.js';
import type { FaultHook } from '../core/types.js';

export function faultHookFromEnv(env: NodeJS.ProcessEnv): FaultHook | undefined {
  const spec = env.DEPLOY_KEYS_FAULT;
  if (!spec) return undefined;
  const [, prefix, n] = /^after:([^#]+)(?:#(\d+))?$/.exec(spec) ?? [];
  if (prefix === undefined) throw new DeployKeysError(`DEPLOY_KEYS_FAULT=${spec}: expected after:<step>[#n]`);
  const nth = Number(n ?? 1);
  let seen = 0;
  return (name) => {
    if (name === prefix || name.startsWith(`${prefix}:`)) {
      if (++seen === nth) process.kill(process.pid, 'SIGKILL');
    }
  };
}
