/**
 * What this process hands to the programs it runs, and what a crash of it
 * could leave behind. Children (sh, ssh-keygen, git, ssh) get only the
 * environment they need: never SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or a forge
 * token. Secrets reach a child only through a pipe this process writes
 * itself (never execa's `input`, which NODE_DEBUG=child_process and
 * NODE_DEBUG=stream print), and memory is kept out of core dumps.
 */
import { writeFileSync } from 'node:fs';

/** Every program: where to find programs, whose they are, the locale. */
const BASE = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TERM', 'NO_COLOR'];
const EXTRA = {
  /** ssh logging in as the operator (bootstrap, the ssh forge's remote file): the agent, Kerberos. */
  'ssh-login': ['SSH_AUTH_SOCK', 'KRB5CCNAME'],
  /** git reading the operator's configuration. */
  'git-config': ['XDG_CONFIG_HOME', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_SYSTEM', 'GIT_CONFIG_NOSYSTEM'],
} as const;

export type ChildNeed = keyof typeof EXTRA;

/** The variables of `from` a child may see: the basics, `LC_*`, and what `needs` adds. Nothing else. */
export function childEnv(from: NodeJS.ProcessEnv, needs: readonly ChildNeed[] = []): Record<string, string> {
  const allowed = new Set<string>([...BASE, ...needs.flatMap((n) => EXTRA[n])]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && (allowed.has(k) || k.startsWith('LC_'))) out[k] = v;
  }
  return out;
}

/** Variables that hold this tool's secrets or point at them: the age identities, the GitHub App key. */
const SECRET_VARS = ['SOPS_AGE_KEY', 'SOPS_AGE_KEY_FILE', 'SOPS_AGE_SSH_PRIVATE_KEY_FILE', 'DEPLOY_KEYS_GITHUB_APP_KEY_FILE'];

/**
 * For a program the operator names on the command line (extra-files runs
 * nixos-anywhere): their environment, which nix, ssh and their proxies need
 * much of, minus this tool's secrets and the forge token's variable.
 */
export function operatorCommandEnv(from: NodeJS.ProcessEnv, tokenEnv: string | undefined): Record<string, string> {
  const denied = new Set([...SECRET_VARS, ...(tokenEnv === undefined ? [] : [tokenEnv])]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && !denied.has(k)) out[k] = v;
  }
  return out;
}

/**
 * Keeps this process's memory and environment (keys, the age identity,
 * tokens) out of crash artefacts, before any secret is read:
 * - core dumps, on Linux: /proc/self/coredump_filter = 0 leaves a core file
 *   with registers and notes but no memory mapping, and children inherit it
 *   across fork and exec. Node has no setrlimit or prctl; elsewhere, or when
 *   /proc is not writable, this returns false (`ulimit -c 0` is the remedy);
 * - Node's diagnostic reports (NODE_OPTIONS=--report-on-fatalerror,
 *   --report-uncaught-exception, --report-on-signal), which print every
 *   environment variable, to a file or (--report-filename=stderr) the terminal.
 * Returns whether core dumps are covered.
 */
export function hardenProcess(): boolean {
  process.report.reportOnFatalError = false;
  process.report.reportOnUncaughtException = false;
  process.report.reportOnSignal = false;
  if (process.platform !== 'linux') return false;
  try {
    writeFileSync('/proc/self/coredump_filter', '0');
    return true;
  } catch {
    return false;
  }
}

/**
 * NODE_DEBUG (and NODE_DEBUG_NATIVE) make Node print, among much else, the
 * start of every chunk read from a pipe or socket (NODE_DEBUG=stream: a forge
 * reply holding an installation token, a secret piped to stdin) and every
 * spawn's environment (child_process). No code of ours can keep a secret out
 * of that, so the CLI refuses to run with them: returns the variable that is set.
 */
export function debugOutputEnabled(env: NodeJS.ProcessEnv): string | undefined {
  return ['NODE_DEBUG', 'NODE_DEBUG_NATIVE'].find((k) => (env[k] ?? '') !== '');
}
