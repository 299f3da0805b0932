/**
 * Writes the extra-files tree into a private directory, lists it, and removes
 * one. Root's deploy keys, ssh config, pins and git's ssh command are written
 * by the activation script itself (`--root DIR --stage`): the same files, the
 * same modes and the same manifest as on a host, so the host's first
 * activation finds them as its own.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DeployKeysError } from '../errors.js';
import { writeFileAtomic } from '../fs/index.js';
import { etcEntry, hostKeyEntries, type TreeEntry } from './tree.js';

export interface TreeOptions {
  /** The host key: OpenSSH private key text, its public line, where it goes on the host. */
  hostKey: { privateKey: string; publicKey: string; path: string };
  /** Root's deploy keys, staged by the host's activation script (rendered for user root). */
  deployKeys?: { script: string; keys: ReadonlyMap<string, string>; gitSsh: boolean };
}

/** Entries as written: relative path, kind and mode. */
export type Listing = Omit<TreeEntry, 'content'>[];

/** Writes the tree into `dir` (an empty private directory); returns what is in it. */
export async function writeTree(dir: string, opts: TreeOptions): Promise<Listing> {
  const hostKey = hostKeyEntries(opts.hostKey.path, opts.hostKey.privateKey, opts.hostKey.publicKey);
  const entries = opts.deployKeys?.gitSsh ? [...hostKey, ...etcEntry(hostKey)] : hostKey;
  for (const e of entries) {
    const p = path.join(dir, e.path);
    if (e.kind === 'dir') {
      // Made 0700 first: never looser than wanted, whatever the umask.
      await fs.mkdir(p, 0o700);
      await fs.chmod(p, e.mode);
    } else {
      await writeFileAtomic(p, e.content ?? '', { mode: e.mode });
    }
  }
  if (opts.deployKeys) {
    const { runActivation } = await import('../activation/index.js');
    const r = await runActivation({
      script: opts.deployKeys.script,
      root: dir,
      keys: opts.deployKeys.keys,
      args: ['--stage', '--no-clone', '-q', ...(opts.deployKeys.gitSsh ? [] : ['--no-git-ssh'])],
    });
    if (r.exitCode !== 0) {
      const why = r.stderr.trim().split('\n').slice(-3).join('; ').replace(/[^\x20-\x7e]/g, '?');
      throw new DeployKeysError(`the activation script could not stage root's deploy keys: ${why}`, { hint: 'see the message; nothing is kept' });
    }
  }
  return listTree(dir);
}

/** Every entry under `dir` (not following symlinks), sorted; at most `max` (a bigger tree is not ours). */
export async function listTree(dir: string, max = 256): Promise<Listing> {
  const out: Listing = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      const st = await fs.lstat(path.join(dir, p));
      if (out.length >= max) throw new DeployKeysError(`${dir} holds more than ${max} entries: not an extra-files tree`);
      if (st.isDirectory()) {
        out.push({ path: p, kind: 'dir', mode: st.mode & 0o7777 });
        await walk(p);
      } else if (st.isFile()) {
        out.push({ path: p, kind: 'file', mode: st.mode & 0o7777 });
      } else {
        throw new DeployKeysError(`${path.join(dir, p)} is neither a file nor a directory: not an extra-files tree`);
      }
    }
  };
  await walk('');
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Removes a tree `writeTree` wrote (`--cleanup DIR`). Anything else is refused
 * rather than deleted: DIR must be a private directory of this user (not a
 * symlink) holding only files and directories, among them an ssh host key
 * (a 0600 file beside its `.pub`).
 */
export async function removeTree(dir: string): Promise<void> {
  const st = await fs.lstat(dir).catch((e: unknown) => {
    throw new DeployKeysError(`--cleanup ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { hint: 'name the directory extra-files --out wrote' });
  });
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new DeployKeysError(`--cleanup ${dir}: not a private directory of this user (as extra-files --out makes)`, { hint: 'remove it yourself if it is what you mean' });
  }
  const listing = await listTree(dir);
  // A host key is a 0600 file beside its .pub, wherever --host-key-path put it.
  const files = new Set(listing.filter((e) => e.kind === 'file').map((e) => e.path));
  if (!listing.some((e) => e.kind === 'file' && e.mode === 0o600 && files.has(`${e.path}.pub`))) {
    throw new DeployKeysError(`--cleanup ${dir}: holds no ssh host key: not an extra-files tree`, { hint: 'remove it yourself if it is what you mean' });
  }
  await fs.rm(dir, { recursive: true, force: true });
}
