/**
 * Builds the real LifecycleDeps from the config and the environment, and the
 * small CLI helpers the five life-cycle commands share (confirmation, fault
 * hook, output). Heavy modules (Octokit, age, sops) load only from here.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { forgeTokenEnv, type Config } from '../config/index.js';
import { DeployKeysError } from '../errors.js';
import { ensureDir, writeFileAtomic } from '../fs/index.js';
import type { ForgeProvider } from '../forge/types.js';
import { detectActor, FileAuditLog } from './audit-log.js';
import { realKeys, systemClock } from './adapters/keys.js';
import { ProviderForge } from './adapters/forge.js';
import { SopsConfigAdapter, SopsHostSecrets } from './adapters/sops-store.js';
import type { ActivationPort, LifecycleDeps } from './engine.js';
import { describeStep, type Plan } from './plan.js';
import { FileStateStore, stateDir } from './state.js';
import type { FaultHook, ForgePort } from './types.js';

export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * `DEPLOY_KEYS_FAULT=after:<step>[#n]`: kill the process with SIGKILL right
 * after the n-th (default first) step whose name is <step> or starts with
 * "<step>:" — for crash tests. Step names: write-host-file:N, forge-add:REPO:SLOT
 * (and …:call, right after the forge answered), forge-remove:REPO:ID, record:…,
 * add-recipient, remove-recipient, updatekeys:N, purge-host-file, write-activation, mark-revoked.
 */
export function faultHookFromEnv(env: NodeJS.ProcessEnv): FaultHook | undefined {
  const spec = env.DEPLOY_KEYS_FAULT;
  if (!spec) return undefined;
  const [, prefix, n] = /^after:([^#]+)(?:#(\d+))?$/.exec(spec) ?? [];
  if (prefix === undefined) throw new DeployKeysError(`DEPLOY_KEYS_FAULT=${spec}: expected after:<step>[#n]`);
  const nth = Number(n ?? 1);
  let seen = 0;
  return (name) => {
    if (name === prefix || name.startsWith(`${prefix}:`)) {
      if (++seen === nth) process.kill(process.pid, 'SIGKILL');
    }
  };
}

/** The forge provider for the config (or the manual checklist with --manual). */
export async function createForgeProvider(config: Config, env: NodeJS.ProcessEnv, io: Io, manual: boolean): Promise<ForgeProvider> {
  const tokenEnv = forgeTokenEnv(config.forge);
  // No token: at a terminal, fall back to the manual checklist (it says why and
  // waits for "added"); anywhere else fail, since nobody could confirm the keys.
  const interactive = Boolean(io.stdin.isTTY && io.stdout.isTTY);
  if (!manual && !interactive && tokenEnv !== undefined && !env[tokenEnv]) {
    throw new DeployKeysError(`$${tokenEnv} is not set (the ${config.forge.type} token)`, {
      hint: `export ${tokenEnv}=<token with admin rights on the repos>, or pass --manual to add the keys by hand`,
    });
  }
  const { createForge } = await import('../forge/index.js');
  return createForge(config, {
    env,
    manual,
    io: { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, isTTY: Boolean(io.stdin.isTTY && io.stdout.isTTY) },
    warn: (m) => void io.stderr.write(`deploy-keys: warning: ${m}\n`),
  });
}

/** `<secrets_dir>/../activation/<host>.sh` unless `-o` names another place. */
export function activationPath(config: Config, host: string, override?: string): string {
  return override ? path.resolve(override) : path.join(path.dirname(config.secretsDir), 'activation', `${host}.sh`);
}

export function activationPort(config: Config, override?: string): ActivationPort {
  const render = async (host: string, publicKeys: Record<string, string>) => {
    // render.js, not the barrel: the barrel also loads run.ts and with it execa (~100 ms per command)
    const { renderActivationScript } = await import('../activation/render.js');
    const keys = Object.fromEntries(Object.entries(publicKeys).filter(([repo]) => config.repos.some((r) => r.name === repo)));
    return renderActivationScript(config, host, { publicKeys: keys });
  };
  return {
    path: (host) => activationPath(config, host, override),
    async isCurrent(host, publicKeys) {
      const want = await render(host, publicKeys);
      const have = await fs.readFile(activationPath(config, host, override), 'utf8').catch(() => undefined);
      return have === want;
    },
    async write(host, publicKeys) {
      const file = activationPath(config, host, override);
      await ensureDir(path.dirname(file));
      await writeFileAtomic(file, await render(host, publicKeys), { mode: 0o755 });
    },
  };
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
    forge,
    secrets: new SopsHostSecrets(config, env),
    sops: new SopsConfigAdapter(config, env),
    keys: realKeys,
    clock: systemClock,
    log: new FileAuditLog(config.secretsDir, detectActor(env), systemClock),
    states: new FileStateStore(config.secretsDir),
    lockDir: stateDir(config.secretsDir),
    ...(fault ? { fault } : {}),
    ...(opts.withActivation ? { activation: activationPort(config, opts.activationOut) } : {}),
    ...(opts.confirm ? { confirm: opts.confirm } : {}),
  };
}

/** Reads one line from stdin (TTY only). */
export async function ask(io: Io, question: string): Promise<string> {
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    io.stderr.write(question);
    return await new Promise<string>((resolve) => {
      rl.once('line', (l) => resolve(l));
      rl.once('close', () => resolve(''));
    });
  } finally {
    rl.close();
  }
}

/**
 * The confirmation policy: --yes never asks; on a terminal the plan is shown
 * and the operator answers; without a terminal additive commands proceed and
 * deleting ones refuse (they need --yes), so nothing ever waits for input.
 */
export function confirmer(io: Io, yes: boolean, deletes: boolean): ((plan: Plan) => Promise<boolean>) | undefined {
  if (yes) return undefined;
  return async (plan) => {
    const lines = plan.steps.filter((s) => s.op !== 'record').map((s) => `  ${describeStep(s, plan.host)}`);
    if (!io.stdin.isTTY) {
      const deleting = plan.steps.filter(
        (s) => s.op === 'forge-remove' || s.op === 'purge-host-file' || s.op === 'remove-recipient' || (s.op === 'write-host-file' && s.edits.some((e) => e.type === 'delete')),
      );
      const [first] = deleting;
      if (!deletes || first === undefined) return true;
      throw new DeployKeysError(`${plan.command} ${plan.host}: would ${describeStep(first, plan.host)}${deleting.length > 1 ? ` (and ${deleting.length - 1} more)` : ''}, and stdin is not a terminal`, {
        hint: 'pass --yes to confirm, or --dry-run to see the plan',
      });
    }
    io.stderr.write(`${plan.command} ${plan.host} will:\n${lines.join('\n')}\n`);
    const a = (await ask(io, 'Proceed? [y/N] ')).trim().toLowerCase();
    return a === 'y' || a === 'yes';
  };
}
