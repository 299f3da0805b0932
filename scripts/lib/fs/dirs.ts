/**
 * Directories and append-only files with explicit modes, whatever the umask:
 * under `umask 000` a plain `mkdir -p` makes world-writable directories, and
 * anyone could then swap a file in them (e.g. an activation script root runs).
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { DeployKeysError } from '../errors.js';

/** Directories the tool creates: readable by all, writable by the owner only. */
export const DIR_MODE = 0o755;

/**
 * Refuses a directory every user may write to without the sticky bit (as
 * /tmp has): anyone could replace or add files in it after we wrote them.
 */
export function assertNotWorldWritable(dir: string, st: { mode: number }): void {
  if ((st.mode & 0o1002) === 0o002) {
    throw new DeployKeysError(`${dir} is writable by every user (mode ${(st.mode & 0o7777).toString(8)})`, {
      hint: `anyone could replace the files in it: chmod o-w ${dir}`,
    });
  }
}

/**
 * `mkdir -p DIR` where every directory created gets exactly `mode`: made 0700
 * (never looser than wanted, whatever the umask) and then chmod'ed. Existing
 * directories are kept as they are; the nearest one must not be writable by
 * every user (assertNotWorldWritable).
 */
export async function ensureDir(dir: string, mode = DIR_MODE): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const st = await fs.stat(d).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw dirError(d, e);
    });
    if (st) {
      if (!st.isDirectory()) throw new DeployKeysError(`cannot create ${dir}: ${d} is not a directory`, { hint: 'move that file out of the way' });
      assertNotWorldWritable(d, st);
      break;
    }
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      await fs.mkdir(d, 0o700);
    } catch (e) {
      // Made meanwhile by another command: check it like an existing one.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return ensureDir(dir, mode);
      throw dirError(d, e);
    }
    await fs.chmod(d, mode).catch((e: unknown) => {
      throw dirError(d, e);
    });
  }
}

/**
 * Appends `text` in one write (O_APPEND: concurrent appenders interleave whole
 * writes) and fsyncs. A new file gets exactly `mode`; the file is never
 * opened through a symlink.
 */
export async function appendToFile(file: string, text: string, mode: number): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW;
  let h: fs.FileHandle;
  let created = true;
  try {
    h = await fs.open(file, flags | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw dirError(file, e);
    created = false;
    h = await fs.open(file, flags).catch((e2: unknown) => {
      throw dirError(file, e2);
    });
  }
  try {
    if (created) await h.chmod(mode);
    await h.write(text);
    await h.sync();
  } finally {
    await h.close();
  }
}

function dirError(p: string, e: unknown): DeployKeysError {
  const code = (e as NodeJS.ErrnoException).code;
  return new DeployKeysError(`cannot write ${p}: ${code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ELOOP' ? 'it is a symlink' : (code ?? String(e))}`, {
    hint: 'check the path and its permissions',
    cause: e,
  });
}
