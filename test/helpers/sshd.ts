/**
 * The real sshd the tests use: the same local git server the demo runs
 * (scripts/demo/local-git-server.ts), plus client keys and a tool check.
 *
 *   const sshd = await startSshd({ repos: ['acme/nix-config'] });
 *   const key = await makeClientKey(sshd.dir, 'host1');
 *   await fs.appendFile(sshd.authorizedKeys, key.publicKey + '\n');   // or the ssh forge provider
 *   await git(['clone', sshd.repoUrl('acme/nix-config'), dest], { env: gitTestEnv(sshd.gitEnv(key.privateKeyPath)) });
 *   await sshd.stop();
 *
 * Tests run as root, so the login account is `git` with login shell /bin/sh
 * (sshd runs forced commands through it; git-shell would refuse the ssh
 * provider's gate). Keys appended without a forced command get a shell: tests only.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { SSHD, startGitServer, type GitServer, type GitServerOptions } from '../../scripts/demo/local-git-server.js';
import { haveTools } from './tools.js';

const run = promisify(execFile);

export type SshdFixture = GitServer;
export type StartSshdOptions = Omit<GitServerOptions, 'dir'>;

/** True when sshd, ssh, ssh-keygen and git are available (throws in CI when not). */
export function haveSshd(): boolean {
  return haveTools(SSHD, 'ssh', 'ssh-keygen', 'git', 'useradd', 'usermod');
}

export { freePort } from '../../scripts/demo/local-git-server.js';

export function startSshd(opts: StartSshdOptions = {}): Promise<SshdFixture> {
  return startGitServer(opts);
}

export interface ClientKey {
  privateKeyPath: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
}

/** An ed25519 client key pair (no passphrase) in `dir`, private file 0600. */
export async function makeClientKey(dir: string, name: string, comment = `${name}@test`): Promise<ClientKey> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`makeClientKey: bad name ${JSON.stringify(name)}`);
  const privateKeyPath = path.join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', privateKeyPath]);
  const publicKey = (await fs.readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
  return { privateKeyPath, publicKey };
}
