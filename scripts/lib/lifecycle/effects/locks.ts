/**
 * One command per host at a time: `<secrets_dir>/deploy-keys-state/<host>.lock`,
 * and `_sops-config.lock` while `.sops.yaml` is edited (see ../../fs/file-lock.ts
 * for the format and the stale-lock takeover).
 */
import path from 'node:path';
import { acquireFileLock, ensureDir, withFileLock, type Lock } from '../../fs/index.js';
import type { Clock, LockPort } from '../core/types.js';

/** `.sops.yaml` is held only for one small read-modify-write: another command waits this long for it. */
const SOPS_CONFIG_WAIT_MS = 5_000;

/** Locks `name` (a host, or `_sops-config`) in `dir`; a held lock is an error at once unless `waitMs` says otherwise. */
export async function acquireLock(dir: string, name: string, command: string, now = new Date(), waitMs = 0): Promise<Lock> {
  await ensureDir(dir);
  return acquireFileLock(path.join(dir, `${name}.lock`), { command, label: name, now, waitMs });
}

export class FileLocks implements LockPort {
  constructor(
    readonly dir: string,
    readonly clock: Clock,
  ) {}

  async withHost<T>(host: string, command: string, fn: () => Promise<T>): Promise<T> {
    const lock = await acquireLock(this.dir, host, command, new Date(this.clock.now()));
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  async withSopsConfig<T>(fn: () => Promise<T>): Promise<T> {
    await ensureDir(this.dir);
    return withFileLock(path.join(this.dir, '_sops-config.lock'), { command: 'edit .sops.yaml', label: '_sops-config', now: new Date(this.clock.now()), waitMs: SOPS_CONFIG_WAIT_MS }, fn);
  }
}
