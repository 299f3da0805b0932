/**
 * What `activation`, `activate` and `bootstrap` share: render a host's script
 * (with the expected public keys from its public state, so the script refuses
 * a private key that does not match), decrypt its keys for stdin, and warn
 * about flake inputs beside the config that the deploy keys cannot serve.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { CliContext } from './context.js';
import type { Config } from '../lib/config/index.js';
import { hostFilePath, reposForHost } from '../lib/config/index.js';
import { DeployKeysError, describeUnknown } from '../lib/errors.js';
import { assertHostName } from '../lib/names.js';

export const SCRIPT_OPTIONS = {
  user: { type: 'string' },
  home: { type: 'string' },
  insteadof: { type: 'boolean' },
  'no-git-ssh': { type: 'boolean' },
  pull: { type: 'boolean' },
  repo: { type: 'string', multiple: true },
} as const;

export const SCRIPT_OPTIONS_HELP = `  --user USER      install for USER (default root)
  --home DIR       USER's home (default /root, or /home/USER)
  --no-git-ssh     do not install git's ssh command for the deploy keys (by default
                   git and Nix fetch the repos' usual ssh URLs through them, as
                   root whatever HOME is: core.sshCommand in /etc/gitconfig)
  --insteadof      also write git url.<alias>.insteadOf rules to ~/.gitconfig (for
                   https URLs; used only when HOME is the user's; prefix matches)
  --pull           fast-forward existing checkouts
  --repo NAME      only this repo (repeatable; default every repo deploy-keys.yaml
                   gives the host: repos.<name>.hosts / except)`;

export interface ScriptFlags {
  user?: string | undefined;
  home?: string | undefined;
  insteadof?: boolean | undefined;
  'no-git-ssh'?: boolean | undefined;
  pull?: boolean | undefined;
  repo?: string[] | undefined;
}

/** Public keys the host should hold, from the public state (absent before vm-fresh). */
async function expectedPublicKeys(config: Config, host: string): Promise<Map<string, string>> {
  const { FileStateStore } = await import('../lib/lifecycle/index.js');
  const state = await new FileStateStore(config.secretsDir).load(host);
  const keys = new Map<string, string>();
  for (const [repo, s] of Object.entries(state?.repos ?? {})) if (s.current) keys.set(repo, s.current.publicKey);
  return keys;
}

async function scriptOptions(config: Config, host: string, flags: ScriptFlags) {
  return {
    publicKeys: await expectedPublicKeys(config, host),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(flags.home !== undefined ? { home: flags.home } : {}),
    ...(flags.repo !== undefined ? { repos: flags.repo } : {}),
    insteadOf: flags.insteadof ?? false,
    gitSsh: !flags['no-git-ssh'],
    pull: flags.pull ?? false,
  };
}

export async function renderHostScript(config: Config, hostArg: string, flags: ScriptFlags): Promise<string> {
  const host = assertHostName(hostArg);
  const { renderActivationScript } = await import('../lib/activation/index.js');
  return renderActivationScript(config, host, await scriptOptions(config, host, flags));
}

/** The same inputs as JSON, for the NixOS module's descriptionFile. */
export async function describeHostScript(config: Config, hostArg: string, flags: ScriptFlags) {
  const host = assertHostName(hostArg);
  const { activationDescription } = await import('../lib/activation/index.js');
  return activationDescription(config, host, await scriptOptions(config, host, flags));
}

/** The host's private keys by repo, decrypted with the operator's identity (MAC verified). */
export async function decryptHostKeys(config: Config, host: string, env: NodeJS.ProcessEnv, only?: readonly string[]): Promise<Map<string, string>> {
  const file = hostFilePath(config, host);
  const { decryptFile } = await import('../lib/sops/index.js');
  const dec = await decryptFile(file, { env });
  const { SLOT_KEY } = await import('../lib/lifecycle/index.js');
  const section = dec.tree instanceof Map ? dec.tree.get(SLOT_KEY.current) : undefined;
  const keys = new Map<string, string>();
  for (const repo of reposForHost(config, host)) {
    if (only && !only.includes(repo.name)) continue;
    const pem = section instanceof Map ? section.get(repo.name) : undefined;
    if (typeof pem !== 'string') {
      throw new DeployKeysError(`${file}: no deploy key for repo ${repo.name}`, { hint: `run "deploy-keys vm-fresh ${host}" first` });
    }
    keys.set(repo.name, pem);
  }
  return keys;
}

/** Reads FILE when it exists and is at most `max` bytes; undefined when absent. */
async function readBounded(file: string, max: number): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    if (st.size > max) throw new Error(`larger than ${max} bytes`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * Prints a warning for each flake input in flake.lock / flake.nix beside
 * deploy-keys.yaml that names a managed repo as `github:…` or https: Nix
 * fetches those without ssh, so the deploy keys cannot serve them.
 */
export async function warnAboutFlakeInputs(config: Config, ctx: Pick<CliContext, 'stderr' | 'style'>): Promise<void> {
  const { flakeLockFindings, flakeNixFindings, describeFinding, MAX_FLAKE_FILE_BYTES } = await import('../lib/activation/index.js');
  const warn = (line: string) => ctx.stderr.write(`${ctx.style.yellow('warning:')} ${line}\n`);
  for (const [name, scan] of [
    ['flake.lock', flakeLockFindings],
    ['flake.nix', flakeNixFindings],
  ] as const) {
    const file = path.join(config.root, name);
    try {
      const text = await readBounded(file, MAX_FLAKE_FILE_BYTES);
      if (text !== undefined) for (const f of scan(text, config.repos)) warn(describeFinding(f));
    } catch (e) {
      // The reason may quote the file; the stderr writer escapes whatever it quotes.
      const why = describeUnknown(e).slice(0, 200);
      warn(`${file}: not checked for inputs the deploy keys cannot serve (${why})`);
    }
  }
}
