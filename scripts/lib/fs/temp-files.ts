/**
 * Temp files and directories that may hold a secret (a private key, a
 * decrypted file, a tree of host keys for nixos-anywhere) are named after the
 * process that makes them: `.<name>.dk-tmp.<host>.<pid>.<rand>` beside their
 * target. A process killed with SIGKILL cannot remove them, so the next write
 * into the same directory sweeps the ones whose process is gone: matched by
 * exactly this pattern (never by guessing), on this machine (`<host>`, a hash
 * of the host name), owned by this user.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeployKeysError } from '../errors.js';
import { assertNotWorldWritable } from './dirs.js';

/** True while `pid` runs (on this machine); a process of another user counts as running. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const HOST_TAG = createHash('sha256').update(os.hostname()).digest('hex').slice(0, 8);
const TEMP_RE = /^\..+\.dk-tmp\.([0-9a-f]{8})\.([1-9][0-9]{0,9})\.[0-9a-f]{12}$/;

/** A fresh temp path beside `target` (by default owned by this process). */
export function tempPath(target: string, pid = process.pid): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.dk-tmp.${HOST_TAG}.${pid}.${randomBytes(6).toString('hex')}`);
}

const swept = new Set<string>();

/**
 * Removes the temp files and temp directories (with their content) in `dir`
 * left by processes of this user on this machine that are gone; once per
 * directory and process. Returns their paths. Best effort: a directory that
 * cannot be read is left alone.
 */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  const key = path.resolve(dir);
  if (swept.has(key)) return [];
  swept.add(key);
  let names: string[];
  try {
    names = await fs.readdir(key);
  } catch {
    return [];
  }
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const [, host, pidText] = TEMP_RE.exec(name) ?? [];
    const pid = Number(pidText);
    if (host !== HOST_TAG || pid === process.pid || processAlive(pid)) continue;
    const file = path.join(key, name);
    try {
      const st = await fs.lstat(file);
      // Root also removes those it gave another owner (writeFileAtomic's `owner`).
      if (!(st.isFile() || st.isDirectory()) || (uid !== undefined && uid !== 0 && st.uid !== uid)) continue;
      // rm never follows a symlink inside the directory: it removes the link.
      await fs.rm(file, { recursive: true, force: true });
      removed.push(file);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

/**
 * Makes a new private directory (exactly 0700, whatever the umask) in
 * `parent`, named like a temp file for `label`, so that the sweep removes it
 * if this process is killed before it is removed. Stale ones of dead
 * processes in `parent` are swept first.
 */
export async function secretTempDir(parent: string, label: string): Promise<string> {
  const st = await fs.stat(parent).catch((e: unknown) => {
    throw new DeployKeysError(`cannot make a private directory in ${parent}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'check that the directory exists and is writable' });
  });
  assertNotWorldWritable(parent, st);
  await sweepStaleTemps(parent);
  const dir = tempPath(path.join(parent, label));
  // mkdir fails if the name exists: never reuse something someone else placed there.
  await fs.mkdir(dir, 0o700);
  await fs.chmod(dir, 0o700);
  return dir;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface SecretTempDirOptions {
  /**
   * Called on SIGINT, SIGTERM or SIGHUP before the directory is removed and
   * the signal re-raised: e.g. forward it to a child that reads the
   * directory and wait for that child to exit.
   */
  onSignal?: (signal: NodeJS.Signals) => Promise<void>;
}

/**
 * Runs `fn` with a new private temp directory (secretTempDir) and removes it
 * with its content when `fn` settles, and on SIGINT, SIGTERM and SIGHUP
 * (then dies of that signal). A SIGKILL leaves it to the next sweep of
 * `parent`.
 */
export async function withSecretTempDir<T>(parent: string, label: string, fn: (dir: string) => Promise<T>, opts: SecretTempDirOptions = {}): Promise<T> {
  const dir = await secretTempDir(parent, label);
  // An object: the handlers set it, and TypeScript does not track closures' writes to a let.
  const got = { signal: false };
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const handlers = SIGNALS.map((sig) => {
    const handler = (): void => {
      if (got.signal) return;
      got.signal = true;
      void (opts.onSignal?.(sig) ?? Promise.resolve())
        .catch(() => undefined)
        .finally(() => {
          remove();
          detach();
          process.kill(process.pid, sig);
        });
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  const detach = (): void => {
    for (const [sig, handler] of handlers) process.removeListener(sig, handler);
  };
  try {
    return await fn(dir);
  } finally {
    if (!got.signal) {
      detach();
      remove();
    }
  }
}
