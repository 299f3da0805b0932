/**
 * What `activation`, `activate` and `bootstrap` share: render a host's script
 * (with the expected public keys from its public state, so the script refuses
 * a private key that does not match) and decrypt its keys for stdin.
 */
import type { Config } from '../lib/config/types.js';
import { hostFilePath } from '../lib/config/load.js';
import { DeployKeysError } from '../lib/errors.js';
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
  --insteadof      write git url.<alias>.insteadOf rules for the repos' usual URLs
  --pull           fast-forward existing checkouts
  --repo NAME      only this repo (repeatable; default every configured repo)`;

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
  const { FileStateStore } = await import('../lib/lifecycle/state.js');
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
  const { renderActivationScript } = await import('../lib/activation/render.js');
  return renderActivationScript(config, host, await scriptOptions(config, host, flags));
}

/** The same inputs as JSON, for the NixOS module's descriptionFile. */
export async function describeHostScript(config: Config, hostArg: string, flags: ScriptFlags) {
  const host = assertHostName(hostArg);
  const { activationDescription } = await import('../lib/activation/render.js');
  return activationDescription(config, host, await scriptOptions(config, host, flags));
}

/** The host's private keys by repo, decrypted with the operator's identity (MAC verified). */
export async function decryptHostKeys(config: Config, host: string, env: NodeJS.ProcessEnv, only?: readonly string[]): Promise<Map<string, string>> {
  const file = hostFilePath(config, host);
  const { decryptFile } = await import('../lib/sops/index.js');
  const dec = await decryptFile(file, { env });
  const section = dec.tree instanceof Map ? dec.tree.get('deploy-keys') : undefined;
  const keys = new Map<string, string>();
  for (const repo of config.repos) {
    if (only && !only.includes(repo.name)) continue;
    const pem = section instanceof Map ? section.get(repo.name) : undefined;
    if (typeof pem !== 'string') {
      throw new DeployKeysError(`${file}: no deploy key for repo ${repo.name}`, { hint: `run "deploy-keys vm-fresh ${host}" first` });
    }
    keys.set(repo.name, pem);
  }
  return keys;
}
