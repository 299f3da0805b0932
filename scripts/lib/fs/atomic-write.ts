/**
 * Atomic file replacement: write a temp file beside the target, fsync it,
 * rename it over the target, fsync the directory. A reader sees the old file
 * or the new one, never a torn one. The temp file is named after this process
 * (temp-files.ts), so one left by a kill is swept by the next write there.
 */
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { DeployKeysError } from '../errors.js';
import { assertNotWorldWritable } from './dirs.js';
import { sweepStaleTemps, tempPath } from './temp-files.js';

export interface AtomicWriteOptions {
  /**
   * Mode of the file. Default: keep the mode of the file being replaced, or
   * 0600 for a new file (safe default: anything we write may be secret).
   */
  mode?: number;
  /**
   * Owner of the new file, set on the temp file before the rename so the file
   * never exists with the wrong owner (e.g. an authorized_keys sshd reads as
   * another user). Needs root; default: whoever runs this.
   */
  owner?: { uid: number; gid: number };
}

export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = path.dirname(target);
  let existing: import('node:fs').Stats | undefined;
  try {
    existing = await fs.stat(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(target, e);
  }
  // Renaming over /dev/null or a FIFO would replace the device with a file full of
  // whatever we were writing (possibly a secret): refuse anything but a regular file.
  if (existing && !existing.isFile()) {
    throw new DeployKeysError(`cannot write ${target}: it is not a regular file`, { hint: 'choose a file path (to discard output, omit the option instead)' });
  }
  const mode = options.mode ?? (existing ? existing.mode & 0o7777 : 0o600);
  const dirStat = await fs.stat(dir).catch((e: unknown) => {
    throw writeError(target, e);
  });
  assertNotWorldWritable(dir, dirStat);
  await sweepStaleTemps(dir);
  const tmp = tempPath(target);
  let handle: fs.FileHandle | undefined;
  try {
    // O_EXCL: never follow or reuse something an attacker placed at the temp name.
    handle = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    await handle.writeFile(data);
    if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, target);
  } catch (e) {
    await handle?.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw writeError(target, e);
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, constants.O_RDONLY);
    await h.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await h?.close().catch(() => {});
  }
}

function writeError(target: string, e: unknown): DeployKeysError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'ENOENT' ? 'its directory does not exist'
    : code === 'EROFS' ? 'read-only file system'
    : code === 'ENOSPC' ? 'no space left on device'
    : code ?? (e instanceof Error ? e.message : String(e));
  return new DeployKeysError(`cannot write ${target}: ${why}`, {
    hint: 'check that the directory exists and is writable',
    cause: e,
  });
}
