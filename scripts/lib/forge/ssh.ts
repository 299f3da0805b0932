/**
 * Plain-SSH git server: deploy keys live in the managed block of the git
 * account's authorized_keys (see ssh-authorized-keys.ts for the format and
 * the forced command). Local file (required, tested) or remote through
 * `ssh [-p port] target` (read with `cat`, written by a tiny sh script fed on
 * stdin that replaces the file atomically with mv).
 *
 * A registration's repo is its path as clients send it (RepoUrl.path). A key
 * appears at most once in the file: sshd authenticates with the first line
 * whose key matches, so one key cannot serve two repos (KeyInUse), and a key
 * that also appears on an operator line outside the block is refused too
 * (that line, not the restricted one, could win).
 *
 * Writes are atomic (writeFileAtomic) and keep the file's owner and mode;
 * read-modify-write is serialized per provider instance and, for a local
 * file, across processes by a lock file beside it (`<file>.ndk-lock`, O_EXCL,
 * taken over when its process is gone). Remote files are not locked.
 */
import { execFile, spawn } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseSshTarget } from '../config/index.js';
import type { RepoConfig, SshForgeConfig } from '../config/index.js';
import { writeFileAtomic, withFileLock } from '../fs/index.js';
import { DeployKeysError } from '../errors.js';
import { childEnv } from '../process/index.js';
import { checkAddRequest, registeredKey } from './fingerprint.js';
import { ForgeError, ForgeFailure, KeyInUse, type ForgeErrorContext } from './errors.js';
import {
  assertRepoPath,
  entryId,
  isCanonical,
  parseAuthorizedKeys,
  renderAuthorizedKeys,
  type ManagedEntry,
} from './ssh-authorized-keys.js';
import {
  systemClock,
  type AddKeyRequest,
  type Clock,
  type DeployKey,
  type ForgeProvider,
  type KeyContext,
  type PreflightReport,
} from './types.js';

const run = promisify(execFile);

export interface SshForgeOptions {
  config: SshForgeConfig;
  clock?: Clock;
  /** Extra ssh arguments for remote mode (tests: -i, UserKnownHostsFile). Never secrets. */
  sshArgs?: string[];
  /** Where ssh's and getent's PATH, HOME and agent socket come from (default process.env); nothing else is passed on. */
  env?: NodeJS.ProcessEnv;
}

interface Store {
  read(): Promise<string>;
  write(text: string): Promise<void>;
  describe(): string;
  /** Runs a read-modify-write excluding other writers of the same file (other processes too, where possible). */
  locked<T>(fn: () => Promise<T>): Promise<T>;
}

export class SshForge implements ForgeProvider {
  readonly kind = 'ssh' as const;
  private readonly store: Store;
  /** What ssh and getent may see of the environment. */
  private readonly env: Record<string, string>;
  private readonly clock: Clock;
  private mutex: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SshForgeOptions) {
    this.clock = opts.clock ?? systemClock;
    this.env = childEnv(opts.env ?? process.env, ['ssh-login']);
    this.store = opts.config.target ? remoteStore(opts.config, opts.config.target, opts.sshArgs ?? [], this.env) : localStore(opts.config.authorizedKeys);
  }

  private ctx(repo: RepoConfig, extra: { host?: string; fingerprint?: string } = {}): ForgeErrorContext {
    return { forge: 'ssh', repo: repo.url.path, ...extra };
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = (): Promise<T> => this.store.locked(fn);
    const next = this.mutex.then(run, run);
    this.mutex = next.catch(() => {});
    return next;
  }

  private async load(): Promise<ReturnType<typeof parseAuthorizedKeys>> {
    return parseAuthorizedKeys(await this.store.read(), this.store.describe());
  }

  async preflight(repos: RepoConfig[]): Promise<PreflightReport> {
    const report: PreflightReport = {
      kind: 'ssh',
      ok: true,
      warnings: [],
      repos: [],
      checked: [],
      notChecked: ['that each repository exists on the server (checked on first clone)'],
    };
    try {
      const parsed = await this.load();
      report.checked.push(`${this.store.describe()} is readable and its managed block is well-formed`);
      if (!this.opts.config.target) {
        const file = this.opts.config.authorizedKeys;
        const dir = path.dirname(file);
        await fs.access(dir, constants.W_OK);
        report.checked.push(`${dir} is writable`);
        const shell = await loginShellOf(file, this.env);
        if (shell?.endsWith('git-shell')) {
          report.ok = false;
          report.error = new ForgeFailure(
            { forge: 'ssh' },
            `the account owning ${file} has login shell ${shell}, which refuses the deploy keys' forced command`,
            'give the git account a POSIX login shell (e.g. /bin/sh); every managed key is restrict,command=… and gets no shell',
          );
        } else if (shell) report.checked.push(`the account's login shell is ${shell} (a forced command runs through it)`);
      } else {
        report.notChecked.push("that the remote account's login shell is a POSIX shell (git-shell refuses forced commands)");
      }
      for (const repo of repos) {
        try {
          assertRepoPath(repo.url.path);
          const keys = parsed.entries.filter((e) => e.repoPath === repo.url.path).map((e) => toDeployKey(repo, e));
          report.repos.push({ repo: repo.name, ok: true, keys });
        } catch (e) {
          report.ok = false;
          report.repos.push({ repo: repo.name, ok: false, error: new ForgeFailure(this.ctx(repo), (e as Error).message) });
        }
      }
    } catch (e) {
      report.ok = false;
      report.error =
        e instanceof ForgeError
          ? e
          : new ForgeFailure({ forge: 'ssh' }, `cannot use ${this.store.describe()}: ${(e as Error).message}`, 'check the path, its permissions, and (remote) that ssh to the target works non-interactively', e);
    }
    return report;
  }

  async list(repo: RepoConfig): Promise<DeployKey[]> {
    const parsed = await this.load();
    return parsed.entries.filter((e) => e.repoPath === repo.url.path).map((e) => toDeployKey(repo, e));
  }


  add(repo: RepoConfig, req: AddKeyRequest): Promise<DeployKey> {
    const baseCtx = this.ctx(repo, req.host === undefined ? {} : { host: req.host });
    return this.exclusive(async () => {
      const { parsed, ctx } = checkAddRequest(baseCtx, req);
      try {
        assertRepoPath(repo.url.path);
      } catch (e) {
        throw new ForgeFailure(ctx, (e as Error).message, 'fix the repo URL in the config', e);
      }
      const file = await this.load();
      if (file.outsideKeys.includes(parsed.key)) {
        throw new KeyInUse({ ...ctx, repo: `${repo.url.path} (the same key is on an operator line outside the managed block)` });
      }
      const existing = file.entries.find((e) => e.key === parsed.key);
      if (existing && existing.repoPath !== repo.url.path) throw new KeyInUse(ctx);
      if (existing && isCanonical(existing)) return toDeployKey(repo, existing);
      // An existing entry here has a hand-edited line: rendering without `line` repairs it.
      const mine: ManagedEntry = existing
        ? stripLine(existing)
        : {
            id: entryId(parsed.key),
            repoPath: repo.url.path,
            key: parsed.key,
            title: req.title,
            createdAt: new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          };
      const entries = existing ? file.entries : [...file.entries, mine];
      await this.store.write(renderAuthorizedKeys(file, entries.map(stripLine)));
      return toDeployKey(repo, mine);
    });
  }

  remove(repo: RepoConfig, id: string, _ctx: KeyContext = {}): Promise<void> {
    return this.exclusive(async () => {
      const file = await this.load();
      const keep = file.entries.filter((e) => !(e.id === id && e.repoPath === repo.url.path));
      if (keep.length === file.entries.length) return; // already gone
      await this.store.write(renderAuthorizedKeys(file, keep.map(stripLine)));
    });
  }
}

function stripLine(e: ManagedEntry): ManagedEntry {
  const { line: _line, ...rest } = e;
  return rest;
}

function toDeployKey(repo: RepoConfig, e: ManagedEntry): DeployKey {
  return registeredKey(repo, e.id, e.title, e.key, isCanonical(e), { createdAt: e.createdAt });
}

function localStore(file: string): Store {
  return {
    describe: () => file,
    locked: (fn) => withFileLock(`${file}.ndk-lock`, { command: 'edit authorized_keys', waitMs: 60_000 }, fn),
    async read() {
      try {
        return await fs.readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw e;
      }
    },
    async write(text) {
      // Keep owner and mode: sshd reads the file as the account's user.
      let owner: { uid: number; gid: number; mode: number } | undefined;
      try {
        const st = await fs.stat(file);
        owner = { uid: st.uid, gid: st.gid, mode: st.mode & 0o777 };
      } catch {
        const st = await fs.stat(path.dirname(file));
        owner = { uid: st.uid, gid: st.gid, mode: 0o600 };
      }
      const chown = process.getuid?.() === 0 ? { owner: { uid: owner.uid, gid: owner.gid } } : {};
      await writeFileAtomic(file, text, { mode: owner.mode, ...chown });
    },
  };
}

/** Remote file through ssh; the path is validated, so it can be quoted in the remote sh. */
function remoteStore(cfg: SshForgeConfig, target: string, extra: string[], env: Record<string, string>): Store {
  const file = cfg.authorizedKeys;
  if (!/^[A-Za-z0-9._~/-]+$/.test(file)) throw new DeployKeysError(`forge.authorized_keys ${JSON.stringify(file)} has characters that cannot be used remotely`);
  const bad = parseSshTarget(target, { requireUser: true });
  if (typeof bad === 'string') throw new DeployKeysError(`forge.target ${JSON.stringify(target)} ${bad}`);
  const base = ['-o', 'BatchMode=yes', ...(cfg.port ? ['-p', String(cfg.port)] : []), ...extra, '--', target];
  const sshRun = (script: string, input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn('ssh', [...base, script], { stdio: ['pipe', 'pipe', 'pipe'], env });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
      child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(out);
        else reject(new Error(`ssh ${target} failed (exit ${code}): ${err.trim().split('\n').slice(-1)[0] ?? ''}`));
      });
      child.stdin.end(input ?? '');
    });
  return {
    describe: () => `${target}:${file}`,
    locked: (fn) => fn(),
    read: () => sshRun(`if [ -e '${file}' ]; then cat -- '${file}'; fi`),
    async write(text) {
      // Same directory temp + mv: atomic on the server; keeps mode 0600 unless the old file had another.
      const script =
        `set -e; f='${file}'; t="$f.ndk.$$"; umask 077; cat > "$t"; ` +
        `if [ -e "$f" ]; then chmod --reference="$f" "$t" 2>/dev/null || true; fi; mv -f -- "$t" "$f"`;
      await sshRun(script, text);
    },
  };
}

/** The login shell of the user owning `file` (or its directory), from /etc/passwd. */
async function loginShellOf(file: string, env: Record<string, string>): Promise<string | undefined> {
  let uid: number;
  try {
    uid = (await fs.stat(file)).uid;
  } catch {
    try {
      uid = (await fs.stat(path.dirname(file))).uid;
    } catch {
      return undefined;
    }
  }
  try {
    const { stdout } = await run('getent', ['passwd', String(uid)], { env });
    return stdout.trim().split(':')[6];
  } catch {
    return undefined;
  }
}
