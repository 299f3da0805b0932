/**
 * Runs a rendered activation script locally (keys on stdin) or on a remote
 * host over one ssh connection (script and keys on stdin). Keys travel only
 * through pipes: never argv, never a temp file, never execa's `input` (whose
 * stream NODE_DEBUG=stream prints): this process writes the pipe itself. The
 * child gets only the environment it needs (process/index.ts).
 */
import type { Options } from 'execa';
import { DeployKeysError, UsageError } from '../errors.js';
import { parseSshTarget } from '../config/index.js';
import { repoNameProblem } from '../names.js';
import { childEnv, type ChildNeed } from '../process/index.js';
import { shQuote } from './shell-quote.js';

/** execa costs ~100 ms to load: only the commands that run a script pay it, not those that only render one. */
const loadExeca = () => import('execa');

export const KEY_STREAM_HEADER = 'deploy-keys-stream v1';
/** The template's last line; a script that does not end with it was truncated. */
export const SCRIPT_SENTINEL = '# end of deploy-keys activation script';

export interface ActivationResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved. */
  output: string;
  /** Repos and steps named on the script's `FAILED:` line. */
  failed: string[];
  /** The script printed "no changes". */
  unchanged: boolean;
}

export interface RunActivationOptions {
  script: string;
  /** `--root DIR`: prefix for every path the script touches. */
  root?: string;
  /** Private keys by repo name, fed on stdin (`--keys-stdin`). */
  keys?: ReadonlyMap<string, string>;
  /** `--keys-dir DIR` when no keys are given (default: the script's own default). */
  keysDir?: string;
  /** More flags: `--pull`, `--no-clone`, `--insteadof`, `-q`… */
  args?: readonly string[];
  /** Where PATH, HOME and the locale come from (default this process's environment); nothing else of it is passed on. */
  parentEnv?: NodeJS.ProcessEnv;
  /** Extra variables, passed as given (tests: GIT_CONFIG_NOSYSTEM…). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The shell. Default `sh`. */
  shell?: string;
  timeoutMs?: number;
}

/** The `--keys-stdin` framing: header, `key <repo>` + PEM block per repo, `end`. */
export function encodeKeyStream(keys: ReadonlyMap<string, string>): string {
  let out = `${KEY_STREAM_HEADER}\n`;
  for (const [repo, pem] of keys) {
    const problem = repoNameProblem(repo);
    if (problem) throw new UsageError(`repo name ${JSON.stringify(repo)} ${problem}`);
    const text = pem.endsWith('\n') ? pem : `${pem}\n`;
    const lines = text.slice(0, -1).split('\n');
    const first = lines[0] ?? '';
    const last = lines[lines.length - 1] ?? '';
    // Base64 body lines can never read "end" or "key …", so the framing needs no escaping.
    if (
      lines.length < 3 ||
      !/^-----BEGIN [A-Z ]*PRIVATE KEY-----$/.test(first) ||
      last !== first.replace('BEGIN', 'END') ||
      !lines.slice(1, -1).every((l) => /^[A-Za-z0-9+/=]+$/.test(l))
    ) {
      // Never quote the key itself.
      throw new DeployKeysError(`the private key for ${repo} is not a single unencrypted PEM block`, {
        hint: 'check the deploy-keys entry in the host\'s SOPS file',
      });
    }
    out += `key ${repo}\n${text}`;
  }
  return `${out}end\n`;
}

function result(r: { exitCode?: number; stdout?: string; stderr?: string; all?: string }): ActivationResult {
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  const output = r.all ?? `${stdout}${stderr}`;
  const [, failed] = /^deploy-keys: FAILED:(.*)$/m.exec(stderr) ?? [];
  return {
    exitCode: r.exitCode ?? 1,
    stdout,
    stderr,
    output,
    failed: failed === undefined ? [] : failed.trim().split(/\s+/).filter(Boolean),
    unchanged: /^deploy-keys: no changes$/m.test(stdout),
  };
}

/**
 * `sh -c SCRIPT deploy-keys-activation [--root R] [--keys-stdin | --keys-dir D] ARGS`.
 * The script text (no secret) goes in argv, the keys on stdin.
 */
export async function runActivation(opts: RunActivationOptions): Promise<ActivationResult> {
  const args: string[] = [];
  if (opts.root !== undefined) args.push('--root', opts.root);
  if (opts.keys) args.push('--keys-stdin');
  else if (opts.keysDir !== undefined) args.push('--keys-dir', opts.keysDir);
  args.push(...(opts.args ?? []));
  const input = opts.keys ? encodeKeyStream(opts.keys) : '';
  return result(await runWithInput(opts.shell ?? 'sh', ['-c', opts.script, 'deploy-keys-activation', ...args], input, opts, [], opts.env));
}

/** Runs `file`, writing `input` (keys) to its stdin pipe directly; the child sees only `childEnv` (+ `extra`). */
async function runWithInput(
  file: string,
  args: readonly string[],
  input: string | Uint8Array,
  opts: { parentEnv?: NodeJS.ProcessEnv; timeoutMs?: number },
  needs: readonly ChildNeed[],
  extra: Readonly<Record<string, string | undefined>> = {},
) {
  const options = {
    stdin: 'pipe',
    env: { ...childEnv(opts.parentEnv ?? process.env, needs), ...extra },
    extendEnv: false,
    reject: false,
    all: true,
    stripFinalNewline: false,
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
  } satisfies Options;
  const { execa } = await loadExeca();
  const child = execa(file, args, options);
  // A child that exits early (usage error) closes the pipe: execa reports its exit status.
  child.stdin.end(input);
  return child;
}

export interface BootstrapOptions {
  script: string;
  /** `user@address` (or an ssh config alias). */
  target: string;
  port?: number;
  keys: ReadonlyMap<string, string>;
  /** Extra ssh arguments, before ours so they win (e.g. `-o UserKnownHostsFile=…`, `-i key`). */
  sshOptions?: readonly string[];
  /** Flags for the script (`--no-clone`, `--pull`, `--root /mnt`…). */
  args?: readonly string[];
  /** The ssh program. Default `ssh`. */
  ssh?: string;
  /** Where PATH, HOME, the ssh agent socket… come from (default this process's environment). */
  parentEnv?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * The remote command: read exactly N bytes of script from stdin (dd bs=1 never
 * reads ahead into the keys), refuse it unless it ends with the sentinel, then
 * run it with --keys-stdin so it reads the rest of stdin. Nothing is written
 * on the remote host except by the script itself (into ~/.ssh).
 */
export function bootstrapRemoteCommand(scriptBytes: number, args: readonly string[] = []): string {
  const inner =
    'n=$1; shift; s=$(dd bs=1 count="$n" 2>/dev/null) || exit 2; ' +
    `case $s in *${shQuote(SCRIPT_SENTINEL)}) ;; *) echo "deploy-keys: the script arrived truncated; nothing was run" >&2; exit 2 ;; esac; ` +
    'exec sh -c "$s" deploy-keys-activation "$@"';
  return ['sh', '-c', shQuote(inner), 'sh', String(scriptBytes), '--keys-stdin', ...args.map((a) => shQuote(a, 'argument'))].join(' ');
}

/** Runs the script on `target` over one ssh connection; script and keys both arrive on stdin. */
export async function bootstrapOverSsh(opts: BootstrapOptions): Promise<ActivationResult> {
  const target = parseSshTarget(opts.target, { requireUser: false, alias: true });
  if (typeof target === 'string') throw new UsageError(`--target ${JSON.stringify(opts.target)} ${target}`, 'e.g. root@192.0.2.10');
  if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 1 && opts.port <= 65535)) {
    throw new UsageError(`--port ${opts.port} must be 1-65535`);
  }
  if (!opts.script.trimEnd().endsWith(SCRIPT_SENTINEL)) throw new DeployKeysError('not a deploy-keys activation script');
  const script = Buffer.from(opts.script, 'utf8');
  const input = Buffer.concat([script, Buffer.from(encodeKeyStream(opts.keys), 'utf8')]);
  const sshArgs = [
    ...(opts.sshOptions ?? []),
    ...(opts.port !== undefined ? ['-p', String(opts.port)] : []),
    '-T',
    '-o',
    'BatchMode=yes',
    '--',
    opts.target,
    bootstrapRemoteCommand(script.length, opts.args ?? []),
  ];
  return result(await runWithInput(opts.ssh ?? 'ssh', sshArgs, input, opts, ['ssh-login']));
}
