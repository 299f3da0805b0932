/**
 * Advisory lock files for commands that must not overlap: created with O_EXCL,
 * holding pid, machine, command and start time. A lock whose process is gone
 * (same machine) is stale and taken over; a live one is an error or is waited for.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import os from 'node:os';
import { DeployKeysError } from '../errors.js';
import { processAlive } from './temp-files.js';

export interface LockInfo {
  pid: number;
  machine: string;
  command: string;
  startedAt: string;
  /** Makes every lock's content unique, so a takeover can check it removes exactly the stale lock it judged. */
  nonce?: string;
}

export class LockedError extends DeployKeysError {
  override name = 'LockedError';
}

export interface Lock {
  file: string;
  release(): Promise<void>;
}

export interface FileLockOptions {
  /** What holds the lock, shown to whoever finds it held. */
  command: string;
  /** Names the locked thing in messages; default the lock file. */
  label?: string;
  /** How long to wait for a live holder; default 0 = fail at once with LockedError. */
  waitMs?: number;
  now?: Date;
}

/**
 * Takes `file` (O_EXCL) or throws LockedError. A lock whose process is gone on
 * this machine, or an unreadable one older than a minute, is stale and taken
 * over (safely, see takeOver); a live one is waited for up to `waitMs`.
 */
export async function acquireFileLock(file: string, opts: FileLockOptions): Promise<Lock> {
  const info: LockInfo = { pid: process.pid, machine: os.hostname(), command: opts.command, startedAt: (opts.now ?? new Date()).toISOString(), nonce: randomBytes(8).toString('hex') };
  const mine = `${JSON.stringify(info)}\n`;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (let takeovers = 0; takeovers < 5; ) {
    if (await createExclusive(file, mine)) {
      let released = false;
      return {
        file,
        async release() {
          if (released) return;
          released = true;
          // Only our own lock: never the one a later command holds.
          const now = await fs.readFile(file, 'utf8').catch(() => undefined);
          if (now === mine) await fs.rm(file, { force: true });
        },
      };
    }
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      text = undefined;
    }
    let holder: LockInfo | undefined;
    try {
      holder = text === undefined ? undefined : (JSON.parse(text) as LockInfo);
    } catch {
      holder = undefined;
    }
    const stale =
      holder === undefined
        ? await olderThan(file, 60_000) // unreadable: a writer died between create and write
        : holder.machine === os.hostname() && !processAlive(holder.pid);
    if (stale) {
      await takeOver(file, text ?? '');
      takeovers++;
      await new Promise((r) => setTimeout(r, 5 * takeovers));
      continue;
    }
    if (Date.now() >= deadline) {
      const who = holder ? `"${holder.command}" (pid ${holder.pid} on ${holder.machine}, since ${holder.startedAt})` : 'another command';
      throw new LockedError(`${opts.label ?? file} is locked by ${who}`, {
        hint: `wait for it to finish; if that process is gone, delete ${file}`,
      });
    }
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
  }
  throw new LockedError(`cannot take the lock ${file}`, { hint: 'another command keeps taking it; retry' });
}

/** Runs `fn` holding `file`. */
export async function withFileLock<T>(file: string, opts: FileLockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireFileLock(file, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function createExclusive(file: string, content: string): Promise<boolean> {
  let h;
  try {
    h = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new DeployKeysError(`cannot create lock ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    await h.chmod(0o644); // whatever the umask
    await h.writeFile(content);
    await h.sync();
  } finally {
    await h.close();
  }
  return true;
}

/**
 * Removes the stale lock whose content is `stale`, if it is still that lock.
 * Two commands that both judged it stale must not both "win": a plain rm
 * followed by O_EXCL lets the slower one delete the faster one's fresh lock.
 * So the removal runs under a guard named after the stale content (created
 * with O_EXCL; only one command gets it), and the guard holder re-reads the
 * lock and removes it only when it is still the stale one. A lock's content is
 * unique (nonce), so the guard can never apply to a later lock.
 */
async function takeOver(file: string, stale: string): Promise<void> {
  const guard = `${file}.takeover-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
  if (!(await createExclusive(guard, `${process.pid}\n`))) {
    // Another command is taking it over; a guard left by a crashed one expires.
    if (await olderThan(guard, 30_000)) await fs.rm(guard, { force: true });
    return;
  }
  try {
    const now = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (now === stale) await fs.rm(file, { force: true });
  } finally {
    await fs.rm(guard, { force: true });
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    return Date.now() - st.mtimeMs > ms;
  } catch {
    return true;
  }
}
