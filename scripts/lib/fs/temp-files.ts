/**
 * Temp files that may hold a secret (a private key, a decrypted file) are
 * named after the process that writes them: `.<name>.dk-tmp.<host>.<pid>.<rand>`
 * beside their target. A process killed with SIGKILL cannot remove its temp
 * file, so the next write into the same directory sweeps the ones whose
 * process is gone: matched by exactly this pattern (never by guessing), on
 * this machine (`<host>`, a hash of the host name), owned by this user.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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
 * Removes the temp files in `dir` left by processes of this user on this
 * machine that are gone; once per directory and process. Returns their paths.
 * Best effort: a directory that cannot be read is left alone.
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
      if (!st.isFile() || (uid !== undefined && uid !== 0 && st.uid !== uid)) continue;
      await fs.unlink(file);
      removed.push(file);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}
