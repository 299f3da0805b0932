/**
 * One command per host at a time: `<secrets_dir>/deploy-keys-state/<name>.lock`
 * (see ../fs/file-lock.ts for the format and the stale-lock takeover).
 */
import path from 'node:path';
import { acquireFileLock, ensureDir, type Lock } from '../fs/index.js';

export { LockedError, type Lock, type LockInfo } from '../fs/file-lock.js';

/** Locks `name` (a host, or `_sops-config`) in `dir`; a held lock is an error at once. */
export async function acquireLock(dir: string, name: string, command: string, now = new Date()): Promise<Lock> {
  await ensureDir(dir);
  return acquireFileLock(path.join(dir, `${name}.lock`), { command, label: name, now });
}
