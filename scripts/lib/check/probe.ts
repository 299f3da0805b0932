/**
 * One host's keys tried the way the host uses them: in a private temp dir
 * laid out as the host's `~/.ssh` (the activation's own pins file and config
 * block, the keys 0600), `git ls-remote <alias>:<path> HEAD` per repo through
 * `ssh -F` that config. Read-only, output bounded to one ref. The directory
 * is removed whatever happens (fs withSecretTempDir).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { activationInput, aliasUrl, keyFileName, KNOWN_HOSTS_FILE, repoAlias, sshDir, sshFiles } from '../activation/index.js';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from '../config/index.js';
import { knownHostsName } from '../config/index.js';
import { DeployKeysError } from '../errors.js';
import { withRetry } from '../forge/index.js';
import { withSecretTempDir, writeFileAtomic } from '../fs/index.js';
import { parsePrivateKey } from '../keys/index.js';
import { childEnv } from '../process/index.js';
import { classifyProbe, type ProbeOutcome, type ProbeStatus } from './classify.js';

export interface ProbeOptions {
  /** The environment the children's (process/childEnv) is taken from. */
  env: NodeJS.ProcessEnv;
  /** Waits between attempts (tests pass one that does not sleep). */
  clock?: Clock;
  /** Attempts after the first, for transient failures only. Default 3. */
  retries?: number;
  /** Wait before each retry. Default 2000 ms. */
  retryDelayMs?: number;
  /** Limit per attempt (ssh's ConnectTimeout is 10 s of it). Default 60 s. */
  timeoutMs?: number;
  /** Called before each retry (progress on stderr). */
  onRetry?: (repo: string, attempt: number, outcome: ProbeOutcome) => void;
}

export interface RepoCheck {
  repo: string;
  /** The URL from the config. */
  url: string;
  /** The ssh alias probed, as on the host. */
  alias: string;
  /** `host` or `[host]:port`, as pinned. */
  endpoint: string;
  /** SHA256 fingerprint of the host's key for the repo. */
  fingerprint: string;
  status: ProbeStatus;
  attempts: number;
  /** ssh's or the server's message (printable); empty when ok. */
  detail: string;
}

/** Transient failures are retried this often, this far apart (the policy; --help says so). */
export const PROBE_RETRIES = 3;
export const PROBE_RETRY_DELAY_MS = 2000;

/** The temp dir's path reaches ssh's config file and GIT_SSH_COMMAND (a shell word): plain characters only. */
const SAFE_PATH = /^\/[A-Za-z0-9._/@+-]*$/;

class TransientProbe extends Error {
  constructor(readonly outcome: ProbeOutcome) {
    super(outcome.detail);
  }
}

/**
 * Probes every repo in `keys` (repo name → private key PEM) for `host`,
 * through the same alias, pins and key file names the activation installs.
 */
export async function probeHost(config: Config, host: string, keys: ReadonlyMap<string, string>, opts: ProbeOptions): Promise<RepoCheck[]> {
  const parsed = new Map([...keys].map(([repo, pem]) => [repo, parsePrivateKey(pem, `${host}'s deploy key for ${repo}`)]));
  return withSecretTempDir(os.tmpdir(), 'deploy-keys-check', async (home) => {
    if (!SAFE_PATH.test(home)) {
      throw new DeployKeysError(`the temp directory ${JSON.stringify(home)} cannot be used in an ssh config`, { hint: 'set TMPDIR to a path of letters, digits and . _ - @ + /' });
    }
    const input = activationInput(config, host, { home, repos: [...parsed.keys()] });
    const { knownHosts, configBlock } = sshFiles(input);
    const dir = sshDir(home);
    await fs.mkdir(dir, 0o700);
    await fs.chmod(dir, 0o700);
    await writeFileAtomic(path.join(dir, KNOWN_HOSTS_FILE), knownHosts, { mode: 0o600 });
    const configFile = path.join(dir, 'config');
    await writeFileAtomic(configFile, configBlock, { mode: 0o600 });
    for (const [repo, key] of parsed) await writeFileAtomic(path.join(dir, keyFileName(repo)), key.toOpenSSH(), { mode: 0o600 });

    const results: RepoCheck[] = [];
    for (const { repo } of input.repos) {
      const key = parsed.get(repo.name);
      if (key === undefined) continue;
      let attempts = 0;
      const outcome = await withRetry(
        async () => {
          attempts++;
          const o = await lsRemote(aliasUrl(repo), home, configFile, opts);
          if (o.transient) throw new TransientProbe(o);
          return o;
        },
        {
          retries: opts.retries ?? PROBE_RETRIES,
          baseMs: opts.retryDelayMs ?? PROBE_RETRY_DELAY_MS,
          maxMs: opts.retryDelayMs ?? PROBE_RETRY_DELAY_MS,
          jitter: 0,
          clock: opts.clock ?? systemClock,
          retryable: (e) => e instanceof TransientProbe,
          onRetry: (e, attempt) => {
            if (e instanceof TransientProbe) opts.onRetry?.(repo.name, attempt, e.outcome);
          },
        },
      ).catch((e: unknown) => {
        if (e instanceof TransientProbe) return e.outcome;
        throw e;
      });
      results.push({
        repo: repo.name,
        url: repo.url.raw,
        alias: repoAlias(repo),
        endpoint: knownHostsName(repo.url.host, repo.url.port),
        fingerprint: key.fingerprint,
        status: outcome.status,
        attempts,
        detail: outcome.detail,
      });
    }
    return results;
  });
}

/** execa costs ~100 ms to load: only when a probe runs. */
const loadExeca = () => import('execa');

async function lsRemote(url: string, home: string, configFile: string, opts: ProbeOptions): Promise<ProbeOutcome> {
  const { execa } = await loadExeca();
  const r = await execa('git', ['ls-remote', url, 'HEAD'], {
    // Only what git and ssh need: no agent, no operator git config, no prompts.
    env: {
      ...childEnv(opts.env),
      HOME: home,
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: `ssh -F ${configFile} -o ConnectTimeout=10`,
    },
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024,
  });
  return classifyProbe({ exitCode: r.exitCode ?? 1, stderr: r.stderr, timedOut: r.timedOut });
}
