/**
 * An isolated host for tests that run real tools as root against /root, /etc
 * and /home without touching the machine's: a private mount and network
 * namespace (unshare) in which
 *  - /etc is an overlay over the real /etc (writes land in a tmpfs),
 *  - /root and /home are bind mounts of directories of the test's sandbox,
 *  - loopback is up, and 127.0.0.1:22 forwards (through a unix socket in the
 *    sandbox) to a TCP port outside, e.g. the test sshd, so a name added to
 *    /etc/hosts reaches it on port 22, as scp-like git URLs need.
 * Commands enter it with nsenter, without a controlling terminal (setsid), so
 * nothing can prompt. Mounts are private and vanish with the namespace.
 *
 *   const host = await startIsolatedHost({ sandbox, forwardTo: sshd.port, setup: 'echo "127.0.0.1 forge.test" >>/etc/hosts' });
 *   const r = await host.run(['env', '-i', 'PATH=/usr/bin:/bin', 'HOME=/root', 'git', 'ls-remote', 'git@forge.test:acme/x.git']);
 *   await host.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why this machine cannot make such a host (not root, no namespaces, no overlayfs), or undefined. */
export function isolationProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (mount and network namespaces)';
  const r = spawnSync('unshare', ['--mount', '--net', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs t /mnt && mount -t overlay o -o lowerdir=/etc:/mnt /mnt'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return `cannot create a private mount and network namespace with overlayfs here: ${(r.stderr || String(r.error)).trim()}`;
  return undefined;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface IsolatedHost {
  /** The namespace holder's pid (nsenter -t). */
  readonly pid: number;
  /** Runs argv inside, as root, with no controlling terminal and only PATH in its environment. */
  run(argv: readonly string[], opts?: { input?: string }): Promise<RunResult>;
  /** Ends the forwarder and the namespace; idempotent. */
  stop(): Promise<void>;
}

export interface IsolatedHostOptions {
  /** A directory of the test's: gets root/, home/, etc-rw/ and the forwarder's socket. */
  sandbox: string;
  /** TCP port on this machine's 127.0.0.1 that 127.0.0.1:22 inside forwards to. */
  forwardTo: number;
  /** Shell run inside as root after the mounts (e.g. lines for /etc/hosts, /etc/passwd). */
  setup?: string;
}

const SETUP = `set -eu
sb=$1
ip link set lo up
mount -t tmpfs -o mode=0755 dk-etc "$sb/etc-rw"
mkdir "$sb/etc-rw/upper" "$sb/etc-rw/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$sb/etc-rw/upper,workdir=$sb/etc-rw/work" /etc
mount --bind "$sb/root" /root
mount --bind "$sb/home" /home
`;

export async function startIsolatedHost(opts: IsolatedHostOptions): Promise<IsolatedHost> {
  const sb = opts.sandbox;
  if (!/^\/[A-Za-z0-9._/-]+$/.test(sb)) throw new Error(`startIsolatedHost: unsafe sandbox path ${JSON.stringify(sb)}`);
  for (const d of ['root', 'home', 'etc-rw']) mkdirSync(path.join(sb, d), { recursive: true });
  const socket = path.join(sb, 'forward.sock');

  // Outside: the socket leads to the real port.
  const outside = net.createServer((c) => {
    const t = net.connect(opts.forwardTo, '127.0.0.1');
    c.pipe(t).pipe(c);
    c.on('error', () => t.destroy());
    t.on('error', () => c.destroy());
  });
  await new Promise<void>((resolve, reject) => outside.once('error', reject).listen(socket, resolve));

  const holder = spawn('unshare', ['--mount', '--net', '--propagation', 'private', '--', 'sh', '-c', `${SETUP}${opts.setup ?? ''}\necho ready\nexec sleep 86400`, 'setup', sb], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: SYSTEM_PATH },
  });
  let forwarder: ChildProcess | undefined;
  const kill = (): void => {
    forwarder?.kill('SIGKILL');
    holder.kill('SIGKILL');
  };
  process.once('exit', kill);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', kill);
    for (const p of [forwarder, holder]) {
      if (p?.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGTERM');
        await gone;
      }
    }
    await new Promise((r) => outside.close(r));
  };

  try {
    await waitForLine(holder, 'ready', 'namespace setup');
    // Inside: 127.0.0.1:22 leads to the socket.
    const code = `const net = require('net');
      net.createServer((c) => { const t = net.connect(process.argv[1]); c.pipe(t).pipe(c); c.on('error', () => t.destroy()); t.on('error', () => c.destroy()); })
        .listen(22, '127.0.0.1', () => console.log('ready'));`;
    forwarder = spawn('nsenter', ['-t', String(holder.pid), '-m', '-n', '--', process.execPath, '-e', code, socket], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: SYSTEM_PATH },
    });
    await waitForLine(forwarder, 'ready', 'port 22 forwarder');
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    pid: holder.pid!,
    async run(argv, runOpts = {}) {
      const r = await execa('nsenter', ['-t', String(holder.pid), '-m', '-n', '--', 'setsid', '-w', ...argv], {
        env: { PATH: SYSTEM_PATH },
        extendEnv: false,
        input: runOpts.input ?? '',
        reject: false,
        stripFinalNewline: false,
        timeout: 120_000,
      });
      return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
    },
    stop,
  };
}

function waitForLine(child: ChildProcess, line: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(line)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready: ${err.trim()}`)));
  });
}
