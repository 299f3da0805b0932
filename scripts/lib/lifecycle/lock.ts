/**
 * One command per host at a time: `<secrets_dir>/deploy-keys-state/<name>.lock`
 * created with O_EXCL, holding pid, machine and start time. A lock whose process
 * is gone (same machine) is stale and taken over; anything else is a clear error.
 */
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeployKeysError } from '../errors.js';

export interface LockInfo {
  pid: number;
  machine: string;
  command: string;
  startedAt: string;
}

export class LockedError extends DeployKeysError {
  override name = 'LockedError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Lock {
  file: string;
  release(): Promise<void>;
}

/** Locks `name` (a host, or `_sops-config`) in `dir`. */
export async function acquireLock(dir: string, name: string, command: string, now = new Date()): Promise<Lock> {
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.lock`);
  const info: LockInfo = { pid: process.pid, machine: os.hostname(), command, startedAt: now.toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const h = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      try {
        await h.writeFile(`${JSON.stringify(info)}\n`);
        await h.sync();
      } finally {
        await h.close();
      }
      let released = false;
      return {
        file,
        async release() {
          if (released) return;
          released = true;
          await fs.rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DeployKeysError(`cannot create lock ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    }
    let holder: LockInfo | undefined;
    try {
      holder = JSON.parse(await fs.readFile(file, 'utf8')) as LockInfo;
    } catch {
      holder = undefined;
    }
    const stale =
      holder === undefined
        ? await olderThan(file, 60_000) // unreadable: a writer died between create and write
        : holder.machine === os.hostname() && !alive(holder.pid);
    if (!stale) {
      const who = holder ? `"${holder.command}" (pid ${holder.pid} on ${holder.machine}, since ${holder.startedAt})` : 'another command';
      throw new LockedError(`${name} is locked by ${who}`, {
        hint: `wait for it to finish; if that process is gone, delete ${file}`,
      });
    }
    // Stale: remove it and retry; O_EXCL arbitrates between two processes racing here.
    await fs.rm(file, { force: true });
  }
  throw new LockedError(`cannot take the lock ${file}`, { hint: 'another command keeps taking it; retry' });
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    return Date.now() - st.mtimeMs > ms;
  } catch {
    return true;
  }
}
