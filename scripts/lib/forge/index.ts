/**
 * Forge registration behind one interface (see types.ts).
 *
 * createForge() picks the provider from the config; Octokit is loaded lazily
 * (dynamic import) only when a GitHub provider is created, so CLI start-up and
 * non-GitHub runs never load it.
 */
import path from 'node:path';
import { isatty } from 'node:tty';
import type { Config, GithubAppAuthConfig } from '../config/index.js';
import { DeployKeysError } from '../errors.js';
import { ManualForge } from './manual.js';
import { systemClock, type Clock, type ForgeIO, type ForgeProvider } from './types.js';

export * from './types.js';
export * from './errors.js';
export { WriteLimiter, type WriteLimits, type Release } from './rate-limit.js';
export { withRetry, backoffDelay, type RetryOptions } from './retry.js';
export { findByFingerprint } from './register.js';
export { deployKeySettingsUrl, ManualForge } from './manual.js';
export { BLOCK_BEGIN, BLOCK_END, forcedCommand, parseAuthorizedKeys, renderAuthorizedKeys } from './ssh-authorized-keys.js';

export interface CreateForgeOptions {
  /** Environment to read the token from (process.env in the CLI). */
  env: NodeJS.ProcessEnv;
  /** --manual: print a checklist instead of calling the forge. */
  manual?: boolean;
  io?: ForgeIO;
  clock?: Clock;
  warn?: (message: string) => void;
  /** Tests/benchmarks: shortened rate-limit windows and faster backoff. */
  minuteMs?: number;
  hourMs?: number;
  retryBaseMs?: number;
  fetch?: typeof globalThis.fetch;
}

function defaultIO(): ForgeIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, isTTY: isatty(0) && isatty(1) };
}

/** The variable that names the App's key file in place of forge.auth.private_key_file. */
export const APP_KEY_FILE_ENV = 'DEPLOY_KEYS_GITHUB_APP_KEY_FILE';

/**
 * Scheduled jobs get the App's key where their runner puts secrets (a systemd
 * credential, a CI runner's temp dir), not at the path deploy-keys.yaml names
 * for the operators' checkouts: $DEPLOY_KEYS_GITHUB_APP_KEY_FILE overrides it.
 */
function appKeyFile(auth: GithubAppAuthConfig, env: NodeJS.ProcessEnv): GithubAppAuthConfig {
  const file = env[APP_KEY_FILE_ENV];
  if (file === undefined || file === '') return auth;
  if (!path.isAbsolute(file) || /[\0\r\n]/.test(file)) {
    throw new DeployKeysError(`$${APP_KEY_FILE_ENV} ${JSON.stringify(file)} is not an absolute file path`, { hint: `point it at the GitHub App's .pem file, or unset it to use forge.auth.private_key_file` });
  }
  return { ...auth, privateKeyFile: file };
}

export async function createForge(config: Config, opts: CreateForgeOptions): Promise<ForgeProvider> {
  const forge = config.forge;
  const io = opts.io ?? defaultIO();
  const clock = opts.clock ?? systemClock;
  const warn = opts.warn ?? ((m: string) => void io.stderr.write(`warning: ${m}\n`));
  if (opts.manual || forge.type === 'manual') return new ManualForge(io, opts.manual ? '--manual' : 'forge type manual', forge.type === 'manual' ? undefined : forge.type);
  const tuning = {
    clock,
    ...(opts.retryBaseMs === undefined ? {} : { retryBaseMs: opts.retryBaseMs }),
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
  };
  switch (forge.type) {
    case 'github': {
      const common = {
        apiUrl: forge.apiUrl,
        writesPerMinute: forge.writesPerMinute,
        writesPerHour: forge.writesPerHour,
        warn,
        ...tuning,
        ...(opts.minuteMs === undefined ? {} : { minuteMs: opts.minuteMs }),
        ...(opts.hourMs === undefined ? {} : { hourMs: opts.hourMs }),
      };
      const { createGithubForge } = await import('./github.js');
      if (forge.auth.type === 'app') {
        const { readAppPrivateKey } = await import('./github-auth.js');
        const app = { appId: forge.auth.appId, privateKey: await readAppPrivateKey(appKeyFile(forge.auth, opts.env)), ...(forge.auth.installationId === undefined ? {} : { installationId: forge.auth.installationId }) };
        return createGithubForge({ ...common, app });
      }
      const token = opts.env[forge.auth.tokenEnv];
      if (!token) return new ManualForge(io, `no token in $${forge.auth.tokenEnv}`, forge.type);
      return createGithubForge({ ...common, token, tokenEnv: forge.auth.tokenEnv });
    }
    case 'gitea':
    case 'gitlab': {
      const token = opts.env[forge.tokenEnv];
      if (!token) return new ManualForge(io, `no token in $${forge.tokenEnv}`, forge.type);
      const options = { apiUrl: forge.apiUrl, token, tokenEnv: forge.tokenEnv, ...tuning };
      if (forge.type === 'gitea') return new (await import('./gitea.js')).GiteaForge(options);
      return new (await import('./gitlab.js')).GitlabForge({ ...options, keyLifetimeDays: config.rotation.maxAgeDays + config.rotation.graceDays });
    }
    case 'ssh': {
      const { SshForge } = await import('./ssh.js');
      return new SshForge({ config: forge, clock, env: opts.env });
    }
  }
}
