/**
 * Bare repositories for tests: create, seed with one commit, hand to a system
 * user. Used by the sshd fixture (`sshd.ts`) and by tests that need a repo to
 * clone over a real transport.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A clean environment for git: no user or system config leaks into tests. */
export function gitTestEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
    LC_ALL: 'C',
    ...extra,
  };
}

export async function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd: opts.cwd,
    env: opts.env ?? gitTestEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

export interface BareRepoOptions {
  /** Commit a README with this content (default: `# <name>\n`). `false` = empty repo. */
  seed?: string | false;
  /** chown -R the repo to this uid:gid (the account sshd runs git as). */
  chownTo?: { uid: number; gid: number };
}

/**
 * Creates `<root>/<ownerRepo>.git` (e.g. `acme/nix-config` → `<root>/acme/nix-config.git`)
 * with branch `main`. Returns the absolute path.
 */
export async function createBareRepo(root: string, ownerRepo: string, opts: BareRepoOptions = {}): Promise<string> {
  if (!/^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/.test(ownerRepo) || ownerRepo.includes('..')) {
    throw new Error(`createBareRepo: expected owner/repo, got ${JSON.stringify(ownerRepo)}`);
  }
  const repoDir = path.join(root, `${ownerRepo.replace(/\.git$/, '')}.git`);
  await fs.mkdir(path.dirname(repoDir), { recursive: true });
  await git(['init', '-q', '--bare', '-b', 'main', repoDir]);
  if (opts.seed !== false) {
    const work = await fs.mkdtemp(path.join(root, '.seed-'));
    try {
      await git(['init', '-q', '-b', 'main', work]);
      await fs.writeFile(path.join(work, 'README.md'), opts.seed ?? `# ${ownerRepo}\n`);
      await git(['add', 'README.md'], { cwd: work });
      await git(['commit', '-q', '-m', 'init'], { cwd: work });
      await git(['push', '-q', repoDir, 'main'], { cwd: work });
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  }
  if (opts.chownTo) await chownR(path.dirname(repoDir), opts.chownTo.uid, opts.chownTo.gid);
  return repoDir;
}

async function chownR(p: string, uid: number, gid: number): Promise<void> {
  await fs.chown(p, uid, gid);
  const st = await fs.lstat(p);
  if (!st.isDirectory()) return;
  for (const name of await fs.readdir(p)) await chownR(path.join(p, name), uid, gid);
}
