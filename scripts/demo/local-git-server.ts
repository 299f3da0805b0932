/**
 * A real OpenSSH server on 127.0.0.1 serving bare git repos: the forge of the
 * demo and of the end-to-end tests (with the `ssh` forge provider managing its
 * authorized_keys). Recipe and pitfalls: sshd needs /run/sshd and an absolute
 * path; it runs with -D as our child because PID 1 here may not reap daemons.
 *
 * As root the login account is `git` (created if missing, unlocked with
 * `usermod -p '*'` since sshd refuses locked accounts, login shell /bin/sh so
 * the forced commands the ssh provider writes can run). Otherwise sshd runs
 * unprivileged and only the current user can log in.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';
const GIT_USER = 'git';
const GIT_HOME = '/home/git';
const LOGIN_SHELL = '/bin/sh';

/** sshd, ssh, ssh-keygen and git are installed. */
export function sshdAvailable(): boolean {
  return existsSync(SSHD) && ['ssh', 'ssh-keygen', 'git'].every((t) => spawnOk('sh', ['-c', `command -v ${t}`]));
}

function spawnOk(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

export interface GitServerOptions {
  /** Working directory (created, 0711); default a new temp dir, removed by stop(). */
  dir?: string;
  /** Bare repos to create as owner/repo, each seeded with one commit. */
  repos?: string[];
  /** Initial authorized_keys content. */
  authorizedKeys?: string;
  logLevel?: string;
  /** An existing ed25519 host private key (0600) instead of a new one, e.g. a host's made by vm-fresh --new-host-key. */
  hostKeyFile?: string;
  /** Listen on this port instead of a free one. */
  port?: number;
}

export interface GitServer {
  readonly dir: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The login account. */
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** The account's AuthorizedKeysFile (what the ssh forge provider manages). */
  readonly authorizedKeys: string;
  /** `<reposRoot>/<owner>/<repo>.git` */
  readonly reposRoot: string;
  /** `ssh-ed25519 AAAA…` */
  readonly hostPublicKey: string;
  /** A known_hosts file holding only knownHostsLine(). */
  readonly knownHostsFile: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…` */
  knownHostsLine(): string;
  repoPath(ownerRepo: string): string;
  /** `ssh://USER@127.0.0.1:PORT/<abs path>/owner/repo.git` */
  repoUrl(ownerRepo: string): string;
  addRepo(ownerRepo: string, seed?: string | false): Promise<string>;
  /** A GIT_SSH_COMMAND pinned to this server that uses only `identityFile`. */
  sshCommand(identityFile: string): string;
  gitEnv(identityFile: string): NodeJS.ProcessEnv;
  log(): Promise<string>;
  /** Kills sshd, waits for it, removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startGitServer(opts: GitServerOptions = {}): Promise<GitServer> {
  const isRoot = process.getuid?.() === 0;
  if (isRoot) await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const me = os.userInfo();
  const account = isRoot ? { user: GIT_USER, ...(await ensureGitUser()) } : { user: me.username, uid: me.uid, gid: me.gid };
  const { uid, gid } = account;

  const dir = opts.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ndk-sshd-')));
  await fs.mkdir(dir, { recursive: true });
  await fs.chmod(dir, 0o711); // sshd reads authorized_keys as the login account
  const reposRoot = path.join(dir, 'srv');
  await fs.mkdir(reposRoot, { mode: 0o755, recursive: true });
  await fs.chown(reposRoot, uid, gid);
  const hostKey = opts.hostKeyFile ?? path.join(dir, 'host_ed25519');
  if (opts.hostKeyFile === undefined) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hostkey', '-f', hostKey]);
  const hostPublicKey = (await run('ssh-keygen', ['-y', '-f', hostKey])).stdout.trim().split(/\s+/).slice(0, 2).join(' ');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await fs.writeFile(authorizedKeys, opts.authorizedKeys ?? '', { mode: 0o644 });
  await fs.chmod(authorizedKeys, 0o644);
  await fs.chown(authorizedKeys, uid, gid);

  for (const r of opts.repos ?? []) await createBareRepo(reposRoot, r, { chownTo: { uid, gid } });

  const logFile = path.join(dir, 'sshd.log');
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError = '';
  for (let attempt = 0; attempt < (opts.port === undefined ? 5 : 1) && !child; attempt++) {
    port = opts.port ?? (await freePort());
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
        `AllowUsers ${account.user}`,
        'AcceptEnv GIT_PROTOCOL',
        `LogLevel ${opts.logLevel ?? 'VERBOSE'}`,
        '',
      ].join('\n'),
    );
    await run(SSHD, ['-t', '-f', config]);
    const c = spawn(SSHD, ['-D', '-f', config, '-E', logFile], { stdio: 'ignore' });
    if (await waitReady(c, port)) child = c;
    else {
      lastError = await fs.readFile(logFile, 'utf8').catch(() => '');
      await kill(c);
    }
  }
  if (!child) {
    if (!opts.dir) await fs.rm(dir, { recursive: true, force: true });
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
      'ssh -F /dev/null',
      `-i ${identityFile}`,
      '-o IdentitiesOnly=yes -o IdentityAgent=none',
      `-o StrictHostKeyChecking=yes -o UserKnownHostsFile=${knownHostsFile} -o GlobalKnownHostsFile=/dev/null`,
      '-o BatchMode=yes -o ConnectTimeout=10',
    ].join(' ');
  };

  let stopped = false;
  return {
    dir,
    host: '127.0.0.1',
    port,
    user: account.user,
    uid,
    gid,
    authorizedKeys,
    reposRoot,
    hostPublicKey,
    knownHostsFile,
    knownHostsLine: () => knownHostsLine,
    repoPath,
    repoUrl: (ownerRepo) => `ssh://${account.user}@127.0.0.1:${port}${repoPath(ownerRepo)}`,
    addRepo: (ownerRepo, seed) => createBareRepo(reposRoot, ownerRepo, { chownTo: { uid, gid }, ...(seed === undefined ? {} : { seed }) }),
    sshCommand,
    gitEnv: (identityFile) => ({ GIT_SSH_COMMAND: sshCommand(identityFile) }),
    log: () => fs.readFile(logFile, 'utf8').catch(() => ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      await kill(sshdChild);
      if (!opts.dir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** A clean environment for git: no user or system config leaks in. */
export function isolatedGitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'deploy-keys',
    GIT_AUTHOR_EMAIL: 'deploy-keys@example.invalid',
    GIT_COMMITTER_NAME: 'deploy-keys',
    GIT_COMMITTER_EMAIL: 'deploy-keys@example.invalid',
    LC_ALL: 'C',
    ...extra,
  };
}

async function git(args: string[], cwd?: string): Promise<void> {
  await run('git', args, { cwd, env: isolatedGitEnv(), maxBuffer: 16 * 1024 * 1024 });
}

/** Creates `<root>/<owner>/<repo>.git` on branch main, seeded with a README unless `seed` is false. */
export async function createBareRepo(root: string, ownerRepo: string, opts: { seed?: string | false; chownTo?: { uid: number; gid: number } } = {}): Promise<string> {
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
      await git(['add', 'README.md'], work);
      await git(['commit', '-q', '-m', 'init'], work);
      await git(['push', '-q', repoDir, 'main'], work);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  }
  if (opts.chownTo) await chownR(path.dirname(repoDir), opts.chownTo.uid, opts.chownTo.gid);
  return repoDir;
}

async function chownR(p: string, uid: number, gid: number): Promise<void> {
  await fs.chown(p, uid, gid);
  if (!(await fs.lstat(p)).isDirectory()) return;
  for (const name of await fs.readdir(p)) await chownR(path.join(p, name), uid, gid);
}

/** Creates the `git` account if needed, unlocked, login shell /bin/sh; safe against parallel callers. */
async function ensureGitUser(): Promise<{ uid: number; gid: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      let entry = await getent('passwd', GIT_USER);
      if (!entry) {
        await run('useradd', ['--system', '--create-home', '--home-dir', GIT_HOME, '--shell', LOGIN_SHELL, GIT_USER]).catch(() => {}); // a parallel caller may have won: getent decides
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
      // useradd/usermod fail with "cannot lock /etc/passwd" while another process edits it.
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

async function getent(db: string, key: string): Promise<string | undefined> {
  try {
    return (await run('getent', [db, key])).stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A port on 127.0.0.1 nobody listens on right now. */
export function freePort(): Promise<number> {
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

/** True once sshd sends its banner on `port`; false if the child exits first. */
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
