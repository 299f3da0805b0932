/**
 * A real OpenSSH server on 127.0.0.1 for tests (recipe and pitfalls:
 * /work/shared/docs/toolchain-notes.md §4).
 *
 *   const sshd = await startSshd({ repos: ['acme/nix-config'] });
 *   const key = await makeClientKey(sshd.dir, 'host1');
 *   await fs.appendFile(sshd.authorizedKeys, key.publicKey + '\n');   // or the ssh forge provider
 *   await git(['clone', sshd.repoUrl('acme/nix-config'), dest], { env: gitTestEnv(sshd.gitEnv(key.privateKeyPath)) });
 *   await sshd.stop();
 *
 * Pitfalls handled here:
 * - /run/sshd must exist; sshd is started by absolute path with -D as our child
 *   (PID 1 does not reap daemons), and stop() kills and waits for it.
 * - The login account is `git`. `useradd` leaves `!` in shadow (= locked: sshd
 *   refuses even key auth) → `usermod -p '*'`.
 * - The account's login shell is /bin/sh, NOT git-shell: sshd runs a key's
 *   forced command through the login shell (`$SHELL -c "<command>"`), and
 *   git-shell only accepts `git-upload-pack '<path>'`-style commands, so the
 *   ssh forge provider's gate snippet (a `case` on $SSH_ORIGINAL_COMMAND) would
 *   be refused. Every key the provider writes is `restrict,command="…"`, so
 *   no key gets a shell. Keys appended without a forced command DO get a shell:
 *   tests only.
 * - sshd reads AuthorizedKeysFile as the target user: the temp dir is 0711 and
 *   the file is 0644 owned by git (StrictModes no because it lives under /tmp).
 *   A root-owned replacement written by writeFileAtomic keeps mode 0644 and so
 *   stays readable.
 * - The pinned known_hosts entry for a non-22 port is `[127.0.0.1]:PORT ssh-ed25519 …`.
 * - Free port: bind port 0, close, start sshd; if sshd loses the race it exits
 *   and we retry with another port.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createBareRepo } from './git-server.js';
import { haveTools } from './tools.js';

const run = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';
export const GIT_USER = 'git';
const GIT_HOME = '/home/git';
const LOGIN_SHELL = '/bin/sh';

/** True when sshd, ssh, ssh-keygen and git are available (throws in CI when not). */
export function haveSshd(): boolean {
  return haveTools(SSHD, 'ssh', 'ssh-keygen', 'git', 'useradd', 'usermod');
}

export interface StartSshdOptions {
  /** Bare repos to create (owner/repo), seeded with one commit, owned by git. */
  repos?: string[];
  /** Initial content of authorized_keys (default empty). */
  authorizedKeys?: string;
  /** sshd LogLevel (default VERBOSE; DEBUG1..3 for debugging). */
  logLevel?: string;
}

export interface SshdFixture {
  /** Temp dir holding everything (removed by stop()). */
  readonly dir: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Login account: `git`. */
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** The account's AuthorizedKeysFile (what the ssh forge provider manages). */
  readonly authorizedKeys: string;
  /** Root of the bare repos: `<reposRoot>/<owner>/<repo>.git`. */
  readonly reposRoot: string;
  /** Host public key, `ssh-ed25519 AAAA…` (no comment). */
  readonly hostPublicKey: string;
  /** A known_hosts file holding only `knownHostsLine()`. */
  readonly knownHostsFile: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…` */
  knownHostsLine(): string;
  /** Absolute path of a repo: `<reposRoot>/owner/repo.git`. */
  repoPath(ownerRepo: string): string;
  /** `ssh://git@127.0.0.1:PORT/<abs path>/owner/repo.git` */
  repoUrl(ownerRepo: string): string;
  /** Creates another bare repo (seeded, owned by git); returns its path. */
  addRepo(ownerRepo: string, seed?: string | false): Promise<string>;
  /** A GIT_SSH_COMMAND pinned to this server and using only `identityFile`. */
  sshCommand(identityFile: string): string;
  /** `{ GIT_SSH_COMMAND }` for git child processes (merge into gitTestEnv()). */
  gitEnv(identityFile: string): NodeJS.ProcessEnv;
  /** sshd's log (useful in failure messages). */
  log(): Promise<string>;
  /** Kills sshd, waits for it, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
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

export async function startSshd(opts: StartSshdOptions = {}): Promise<SshdFixture> {
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const { uid, gid } = await ensureGitUser();

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ndk-sshd-'));
  await fs.chmod(dir, 0o711); // sshd reads authorized_keys as git
  const reposRoot = path.join(dir, 'srv');
  await fs.mkdir(reposRoot, { mode: 0o755 });
  await fs.chown(reposRoot, uid, gid);
  const hostKey = path.join(dir, 'host_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hostkey', '-f', hostKey]);
  const hostPublicKey = (await fs.readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await fs.writeFile(authorizedKeys, opts.authorizedKeys ?? '', { mode: 0o644 });
  await fs.chmod(authorizedKeys, 0o644);
  await fs.chown(authorizedKeys, uid, gid);

  for (const r of opts.repos ?? []) await createBareRepo(reposRoot, r, { chownTo: { uid, gid } });

  const logFile = path.join(dir, 'sshd.log');
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError = '';
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    const config = path.join(dir, 'sshd_config');
    await fs.writeFile(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        'StrictModes no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin no',
        `AllowUsers ${GIT_USER}`,
        'AcceptEnv GIT_PROTOCOL',
        `LogLevel ${opts.logLevel ?? 'VERBOSE'}`,
        '',
      ].join('\n'),
    );
    await run(SSHD, ['-t', '-f', config]);
    const c = spawn(SSHD, ['-D', '-f', config, '-E', logFile], { stdio: 'ignore' });
    const ready = await waitReady(c, port);
    if (ready) child = c;
    else {
      lastError = await fs.readFile(logFile, 'utf8').catch(() => '');
      await kill(c);
    }
  }
  if (!child) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(`sshd did not start: ${lastError.trim().split('\n').slice(-3).join(' | ')}`);
  }
  const sshdChild = child;
  const onExit = (): void => {
    sshdChild.kill('SIGKILL');
  };
  process.once('exit', onExit);

  const knownHostsLine = `[127.0.0.1]:${port} ${hostPublicKey}`;
  const knownHostsFile = path.join(dir, 'known_hosts');
  await fs.writeFile(knownHostsFile, `${knownHostsLine}\n`);

  const repoPath = (ownerRepo: string): string => path.join(reposRoot, `${ownerRepo.replace(/\.git$/, '')}.git`);
  const sshCommand = (identityFile: string): string => {
    for (const p of [identityFile, knownHostsFile]) {
      if (!/^[A-Za-z0-9._/-]+$/.test(p)) throw new Error(`sshCommand: unsafe path ${JSON.stringify(p)}`);
    }
    return [
      'ssh',
      '-F /dev/null',
      `-i ${identityFile}`,
      '-o IdentitiesOnly=yes',
      '-o IdentityAgent=none',
      '-o StrictHostKeyChecking=yes',
      `-o UserKnownHostsFile=${knownHostsFile}`,
      '-o GlobalKnownHostsFile=/dev/null',
      '-o BatchMode=yes',
      '-o ConnectTimeout=10',
    ].join(' ');
  };

  let stopped = false;
  return {
    dir,
    host: '127.0.0.1',
    port,
    user: GIT_USER,
    uid,
    gid,
    authorizedKeys,
    reposRoot,
    hostPublicKey,
    knownHostsFile,
    knownHostsLine: () => knownHostsLine,
    repoPath,
    repoUrl: (ownerRepo) => `ssh://${GIT_USER}@127.0.0.1:${port}${repoPath(ownerRepo)}`,
    addRepo: (ownerRepo, seed) =>
      createBareRepo(reposRoot, ownerRepo, { chownTo: { uid, gid }, ...(seed === undefined ? {} : { seed }) }),
    sshCommand,
    gitEnv: (identityFile) => ({ GIT_SSH_COMMAND: sshCommand(identityFile) }),
    log: () => fs.readFile(logFile, 'utf8').catch(() => ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await kill(sshdChild);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Creates the `git` account if needed, unlocked, login shell /bin/sh. Safe against parallel workers. */
async function ensureGitUser(): Promise<{ uid: number; gid: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      let entry = await getent('passwd', GIT_USER);
      if (!entry) {
        await run('useradd', ['--system', '--create-home', '--home-dir', GIT_HOME, '--shell', LOGIN_SHELL, GIT_USER]).catch(
          () => {}, // another worker may have won the race: re-check below
        );
        entry = await getent('passwd', GIT_USER);
        if (!entry) throw new Error('useradd git failed');
      }
      const f = entry.split(':');
      const shadow = (await getent('shadow', GIT_USER)) ?? '';
      const args: string[] = [];
      if (f[6] !== LOGIN_SHELL) args.push('-s', LOGIN_SHELL);
      if (shadow.split(':')[1] !== '*') args.push('-p', '*');
      if (args.length) await run('usermod', [...args, GIT_USER]);
      return { uid: Number(f[2]), gid: Number(f[3]) };
    } catch (e) {
      // usermod/useradd fail with "cannot lock /etc/passwd" while another worker edits it.
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

async function getent(db: string, key: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('getent', [db, key]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(p));
    });
  });
}

/** Resolves true once sshd sends its SSH banner on `port`, false if the child exits first. */
async function waitReady(child: ChildProcess, port: number): Promise<boolean> {
  let exited = child.exitCode !== null;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 10_000;
  while (!exited && Date.now() < deadline) {
    if (await banner(port)) return !exited;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('data', (d) => done(d.toString('latin1').startsWith('SSH-')));
    sock.once('error', () => done(false));
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}
