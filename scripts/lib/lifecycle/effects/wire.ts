/**
 * Builds the real LifecycleDeps from the config and the environment. Heavy
 * modules (Octokit, age, sops) load only when a port first needs them.
 */
import { systemClock } from '../../clock.js';
import { assertHostRepos, forgeTokenEnv, reposForHost, type Config } from '../../config/index.js';
import { DeployKeysError } from '../../errors.js';
import type { ForgeIO, ForgeProvider } from '../../forge/index.js';
import type { Plan } from '../core/plan.js';
import type { ForgePort } from '../core/types.js';
import type { LifecycleDeps } from '../engine/deps.js';
import { activationPort } from './activation.js';
import { detectActor, FileAuditLog } from './audit-log.js';
import { faultHookFromEnv } from './fault.js';
import { SopsHostKeys } from './host-keys.js';
import { ProviderForge } from './forge.js';
import { realKeys } from './keys.js';
import { FileLocks } from './locks.js';
import { SopsConfigAdapter, SopsHostSecrets } from './sops-store.js';
import { FileStateStore, stateDir } from './state-store.js';

export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The forge provider for the config (or the manual checklist with --manual). */
async function createForgeProvider(config: Config, env: NodeJS.ProcessEnv, io: Io, manual: boolean): Promise<ForgeProvider> {
  const tokenEnv = forgeTokenEnv(config.forge);
  // No token: at a terminal, fall back to the manual checklist (it says why and
  // waits for "added"); anywhere else fail, since nobody could confirm the keys.
  const interactive = Boolean(io.stdin.isTTY && io.stdout.isTTY);
  if (!manual && !interactive && tokenEnv !== undefined && !env[tokenEnv]) {
    throw new DeployKeysError(`$${tokenEnv} is not set (the ${config.forge.type} token)`, {
      hint: `export ${tokenEnv}=<token with admin rights on the repos>, or pass --manual to add the keys by hand`,
    });
  }
  const { createForge } = await import('../../forge/index.js');
  const forgeIo: ForgeIO = { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, isTTY: interactive };
  return createForge(config, { env, manual, io: forgeIo, warn: (m) => void io.stderr.write(`deploy-keys: warning: ${m}\n`) });
}

export interface WireOptions {
  manual?: boolean;
  /** Skip the forge (status/audit with --offline, tests). */
  forge?: ForgePort;
  activationOut?: string;
  withActivation?: boolean;
  confirm?: (plan: Plan) => Promise<boolean>;
  /** --json: the manual checklist goes to stderr so stdout stays JSON. */
  json?: boolean;
}

export async function wire(config: Config, env: NodeJS.ProcessEnv, io: Io, opts: WireOptions = {}): Promise<LifecycleDeps> {
  const forgeIo = opts.json ? { ...io, stdout: io.stderr } : io;
  const warn = (m: string) => void io.stderr.write(`deploy-keys: warning: ${m}\n`);
  const forge = opts.forge ?? new ProviderForge(await createForgeProvider(config, env, forgeIo, opts.manual ?? false), config, warn);
  const fault = faultHookFromEnv(env);
  return {
    repos: config.repos.map((r) => r.name),
    reposFor: (host, o) => (o?.required ? assertHostRepos(config, host) : reposForHost(config, host)).map((r) => r.name),
    forge,
    secrets: new SopsHostSecrets(config, env),
    sops: new SopsConfigAdapter(config, env),
    hostKeys: new SopsHostKeys(config, env),
    keys: realKeys,
    clock: systemClock,
    log: new FileAuditLog(config.secretsDir, detectActor(env), systemClock),
    states: new FileStateStore(config.secretsDir),
    locks: new FileLocks(stateDir(config.secretsDir), systemClock),
    ...(fault ? { fault } : {}),
    ...(opts.withActivation ? { activation: activationPort(config, opts.activationOut) } : {}),
    ...(opts.confirm ? { confirm: opts.confirm } : {}),
  };
}
