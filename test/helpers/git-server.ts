/** git for tests, in the same isolated environment the local git server uses. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isolatedGitEnv } from '../../scripts/demo/local-git-server.js';

export { createBareRepo } from '../../scripts/demo/local-git-server.js';

const run = promisify(execFile);

/** A clean environment for git: no user or system config leaks into tests. */
export const gitTestEnv = isolatedGitEnv;

export async function git(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await run('git', args, { cwd: opts.cwd, env: opts.env ?? gitTestEnv(), maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}
