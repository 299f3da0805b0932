/**
 * GitHub (github.com and GHES) deploy keys through @octokit/rest with the
 * throttling and retry plugins. Loaded lazily by index.ts.
 *
 * Guarantees:
 * - Every create sends `read_only: true` and checks the reply says so; a key
 *   the forge registered with write access is deleted again and reported
 *   (NotReadOnly).
 * - Writes (create, delete) pass one shared WriteLimiter per provider
 *   instance: at most `writesPerMinute`/`writesPerHour` (GitHub: 80/500
 *   content-creating requests), across a whole fleet run. A secondary-limit
 *   reply pauses all writes for its `retry-after`.
 * - Primary limits: `x-ratelimit-remaining: 0` holds every request until
 *   `x-ratelimit-reset` (up to `maxRateLimitWaitMs`, else RateLimited).
 * - Transient failures (5xx, network) are retried with backoff; 401 never is.
 * - A create whose reply was lost is never blindly repeated: the repo is
 *   re-listed and a key with the same fingerprint is adopted. A 422
 *   "key is already in use" is resolved the same way: if this repo holds the
 *   key, it is ours; otherwise KeyInUse.
 *
 * Preflight can check: the token is accepted (GET /rate_limit, which does not
 * count against the primary limit), every repo is reachable with admin rights
 * (listing deploy keys requires admin), keys already disabled by policy
 * (`enabled: false`). It cannot check without creating a key: whether an org
 * or enterprise policy forbids NEW deploy keys (visible only to org owners or
 * on create), whether a public key is already in use elsewhere on GitHub, and
 * whether a fine-grained token or App has Administration WRITE rather than
 * read. Those surface as typed errors on add().
 *
 * Credential: a GitHub App installation token (`ghs_…`) is recommended. GitHub
 * deletes deploy keys created with a personal access token when that token is
 * deleted, and those created with an OAuth token when it is revoked, so a
 * classic PAT (`ghp_`), a fine-grained PAT (`github_pat_`) or an OAuth token
 * (`gho_`) produces a warning.
 */
import type { RepoConfig } from '../config/types.js';
import { blobFingerprint, checkAddRequest, ensureReadOnly } from './fingerprint.js';
import {
  DeployKeysDisabled,
  ForgeError,
  ForgeFailure,
  InvalidKey,
  KeyInUse,
  NotFoundOrNoAdmin,
  RateLimited,
  Transient,
  Unauthorized,
  type ForgeErrorContext,
} from './errors.js';
import { LimiterPaused, WriteLimiter, type Release } from './rate-limit.js';
import { backoffDelay } from './retry.js';
import {
  systemClock,
  type AddKeyRequest,
  type Clock,
  type DeployKey,
  type ForgeProvider,
  type KeyContext,
  type PreflightReport,
} from './types.js';

export const GITHUB_API_VERSION = '2022-11-28';

export interface GithubForgeOptions {
  apiUrl: string;
  /** The token itself (never logged). */
  token: string;
  /** Name of the variable it came from, for messages. */
  tokenEnv: string;
  /** 0 = unlimited. */
  writesPerMinute: number;
  writesPerHour: number;
  /** Shortened windows for tests and benchmarks. */
  minuteMs?: number;
  hourMs?: number;
  clock?: Clock;
  warn?: (message: string) => void;
  /** Retries of transient failures (default 4). */
  retries?: number;
  /** Backoff unit in ms (default 1000; tests use a few ms). */
  retryBaseMs?: number;
  /** ms per second of `retry-after` (default 1000; tests may shorten). */
  retryAfterUnitMs?: number;
  /** Longest wait for a rate limit before giving up with RateLimited (default 15 min). */
  maxRateLimitWaitMs?: number;
  /** Secondary-limit replies tolerated per request (default 3). */
  secondaryRetries?: number;
  /** fetch implementation (default global fetch). */
  fetch?: typeof globalThis.fetch;
}

export type TokenKind = 'app-installation' | 'classic-pat' | 'fine-grained-pat' | 'oauth' | 'app-user' | 'unknown';

export function tokenKind(token: string): TokenKind {
  if (token.startsWith('ghs_')) return 'app-installation';
  if (token.startsWith('ghp_')) return 'classic-pat';
  if (token.startsWith('github_pat_')) return 'fine-grained-pat';
  if (token.startsWith('gho_')) return 'oauth';
  if (token.startsWith('ghu_')) return 'app-user';
  return 'unknown';
}

/** The warning for a token whose revocation deletes the keys it created, or undefined. */
export function tokenWarning(token: string, tokenEnv: string): string | undefined {
  const kind = tokenKind(token);
  const why =
    kind === 'classic-pat' ? 'a classic personal access token (ghp_)'
    : kind === 'fine-grained-pat' ? 'a fine-grained personal access token (github_pat_)'
    : kind === 'oauth' ? 'an OAuth token (gho_)'
    : undefined;
  if (!why) return undefined;
  return (
    `$${tokenEnv} is ${why}: GitHub deletes the deploy keys a token created when that token is deleted or revoked, ` +
    'which would cut every host off its repos. Prefer a GitHub App installation token (ghs_…) with "Administration: read and write" on the repos.'
  );
}

interface RequestErrorLike {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | undefined>; data?: unknown };
}

interface GhKey {
  id: number;
  key: string;
  title: string;
  read_only: boolean;
  verified?: boolean;
  created_at?: string;
  added_by?: string | null;
  last_used?: string | null;
  enabled?: boolean;
}

// Structural view of the Octokit instance we use (keeps Octokit types out of the CLI's start-up path).
interface OctokitLike {
  request(route: string, params?: Record<string, unknown>): Promise<{ status: number; data: unknown; headers: Record<string, string | number | undefined> }>;
  paginate(route: string, params?: Record<string, unknown>): Promise<unknown[]>;
  hook: {
    before(name: 'request', fn: (options: unknown) => Promise<void> | void): void;
    after(name: 'request', fn: (response: { headers: Record<string, string | number | undefined> }) => void): void;
    error(name: 'request', fn: (error: unknown) => unknown): void;
  };
}

export async function createGithubForge(opts: GithubForgeOptions): Promise<GithubForge> {
  const [{ Octokit }, { throttling }, { retry }] = await Promise.all([
    import('@octokit/rest'),
    import('@octokit/plugin-throttling'),
    import('@octokit/plugin-retry'),
  ]);
  const forge = new GithubForge(opts);
  const MyOctokit = Octokit.plugin(throttling, retry);
  const noop = (): void => {};
  const octokit = new MyOctokit({
    auth: opts.token,
    baseUrl: opts.apiUrl.replace(/\/+$/, ''),
    userAgent: 'nix-deploy-keys',
    // NB: never put `retries` in these defaults: plugin-retry then retries EVERY error, 401 included.
    request: { ...(opts.fetch ? { fetch: opts.fetch } : {}) },
    log: { debug: noop, info: noop, warn: noop, error: noop },
    throttle: {
      id: `nix-deploy-keys-${Math.random().toString(36).slice(2)}`,
      retryAfterBaseValue: forge.retryAfterUnitMs,
      fallbackSecondaryRateRetryAfter: 60,
      // Our WriteLimiter paces writes; the plugin's own write group (1 write/s) would cap us at 60/min.
      write: passThroughGroup as never,
      onRateLimit: (retryAfter: number, _options: unknown, _o: unknown, retryCount: number) =>
        forge.onPrimaryLimit(retryAfter, retryCount),
      onSecondaryRateLimit: (retryAfter: number, _options: unknown, _o: unknown, retryCount: number) =>
        forge.onSecondaryLimit(retryAfter, retryCount),
    },
    retry: {
      // 429/403 are the throttling plugin's; everything permanent is never retried (401 above all).
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
      retries: forge.retries,
      retryAfterBaseValue: forge.retryBaseMs,
    },
  });
  forge.attach(octokit as unknown as OctokitLike);
  return forge;
}

const passThroughGroup = {
  key: () => ({ schedule: (_opts: unknown, fn: (...a: unknown[]) => unknown, ...args: unknown[]) => Promise.resolve(fn(...args)) }),
};

export class GithubForge implements ForgeProvider {
  readonly kind = 'github' as const;
  readonly limiter: WriteLimiter;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryAfterUnitMs: number;
  private readonly clock: Clock;
  private readonly warn: (m: string) => void;
  private readonly maxWaitMs: number;
  private readonly secondaryRetries: number;
  private octokit: OctokitLike | undefined;
  private primary: { limit: number; remaining: number; resetAt: number } | undefined;

  constructor(private readonly opts: GithubForgeOptions) {
    this.clock = opts.clock ?? systemClock;
    this.warn = opts.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`));
    this.retries = opts.retries ?? 4;
    this.retryBaseMs = opts.retryBaseMs ?? 1000;
    this.retryAfterUnitMs = opts.retryAfterUnitMs ?? 1000;
    this.maxWaitMs = opts.maxRateLimitWaitMs ?? 15 * 60_000;
    this.secondaryRetries = opts.secondaryRetries ?? 3;
    this.limiter = new WriteLimiter(
      {
        perMinute: opts.writesPerMinute,
        perHour: opts.writesPerHour,
        ...(opts.minuteMs === undefined ? {} : { minuteMs: opts.minuteMs }),
        ...(opts.hourMs === undefined ? {} : { hourMs: opts.hourMs }),
      },
      this.clock,
    );
  }

  /** @internal wires the Octokit instance (createGithubForge). */
  attach(octokit: OctokitLike): void {
    this.octokit = octokit;
    octokit.hook.before('request', async (options) => {
      const o = options as { headers?: Record<string, string> };
      o.headers = { ...o.headers, 'x-github-api-version': GITHUB_API_VERSION };
      await this.waitForPrimary();
    });
    octokit.hook.after('request', (res) => this.noteRate(res.headers));
    octokit.hook.error('request', (e) => {
      this.noteRate((e as RequestErrorLike).response?.headers);
      throw e;
    });
  }

  /** @internal throttling plugin: primary limit hit; true = retry after `retryAfter` s. */
  onPrimaryLimit(retryAfter: number, retryCount: number): boolean {
    const ok = retryCount < 2 && retryAfter * 1000 <= this.maxWaitMs;
    if (ok) this.warn(`GitHub API rate limit exhausted; waiting ${retryAfter}s for the reset`);
    return ok;
  }

  /** @internal throttling plugin: secondary limit hit; pauses every write, true = retry. */
  onSecondaryLimit(retryAfter: number, retryCount: number): boolean {
    this.limiter.pauseUntil(this.clock.now() + retryAfter * this.retryAfterUnitMs);
    const ok = retryCount < this.secondaryRetries && retryAfter * 1000 <= this.maxWaitMs;
    if (ok) this.warn(`GitHub secondary rate limit; pausing writes for ${retryAfter}s`);
    return ok;
  }

  private get api(): OctokitLike {
    if (!this.octokit) throw new Error('GithubForge used before createGithubForge() attached Octokit');
    return this.octokit;
  }

  private noteRate(headers: Record<string, string | number | undefined> | undefined): void {
    if (!headers) return;
    const remaining = Number(headers['x-ratelimit-remaining']);
    const limit = Number(headers['x-ratelimit-limit']);
    const reset = Number(headers['x-ratelimit-reset']);
    if (headers['x-ratelimit-resource'] !== undefined && headers['x-ratelimit-resource'] !== 'core') return;
    if (Number.isFinite(remaining) && Number.isFinite(reset)) {
      this.primary = { limit: Number.isFinite(limit) ? limit : 0, remaining, resetAt: reset * 1000 };
    }
  }

  /** Never spend the last requests of a window: wait for the reset (or give up clearly). */
  private async waitForPrimary(): Promise<void> {
    const p = this.primary;
    if (!p || p.remaining > 0) return;
    const wait = p.resetAt + 1000 - this.clock.now();
    if (wait <= 0) {
      this.primary = undefined;
      return;
    }
    if (wait > this.maxWaitMs) {
      throw new RateLimited({ forge: 'github' }, new Date(p.resetAt), 'primary');
    }
    this.warn(`GitHub API rate limit exhausted; waiting ${Math.ceil(wait / 1000)}s for the reset`);
    await this.clock.sleep(wait);
    this.primary = undefined;
  }

  private ctx(repo: RepoConfig, extra: { host?: string; fingerprint?: string } = {}): ForgeErrorContext {
    return { forge: 'github', repo: `${repo.url.owner}/${repo.url.repo}`, ...extra };
  }

  async preflight(repos: RepoConfig[]): Promise<PreflightReport> {
    const report: PreflightReport = {
      kind: 'github',
      ok: true,
      warnings: [],
      repos: [],
      checked: [],
      notChecked: [
        'whether an organization or enterprise policy forbids creating NEW deploy keys (only visible to org owners, or on create)',
        'whether a public key is already in use elsewhere on GitHub (keys are unique across GitHub; only visible on create)',
        'whether a fine-grained token or GitHub App has Administration WRITE (listing only needs read)',
      ],
    };
    const w = tokenWarning(this.opts.token, this.opts.tokenEnv);
    if (w) report.warnings.push(w);
    try {
      const res = await this.api.request('GET /rate_limit');
      const core = (res.data as { resources?: { core?: { limit: number; remaining: number; reset: number } } }).resources?.core;
      if (core) report.rateLimit = { limit: core.limit, remaining: core.remaining, resetAt: new Date(core.reset * 1000).toISOString() };
      report.checked.push('the token is accepted (GET /rate_limit)');
    } catch (e) {
      const err = this.mapError(e, { forge: 'github' });
      if (err instanceof NotFoundOrNoAdmin) {
        report.warnings.push('GET /rate_limit is not available (rate limiting disabled on this GitHub Enterprise Server?)');
      } else {
        report.ok = false;
        report.error = err;
        return report;
      }
    }
    for (const repo of repos) {
      try {
        const keys = await this.list(repo);
        const disabled = keys.filter((k) => k.enabled === false).length;
        report.repos.push({ repo: repo.name, ok: true, keyCount: keys.length, disabledKeys: disabled });
        if (disabled > 0) {
          report.warnings.push(
            `${repo.url.owner}/${repo.url.repo}: ${disabled} deploy key(s) are disabled by policy; new keys will probably be refused (DeployKeysDisabled)`,
          );
        }
      } catch (e) {
        const err = this.mapError(e, this.ctx(repo));
        report.ok = false;
        report.repos.push({ repo: repo.name, ok: false, error: err });
        if (err instanceof Unauthorized || err instanceof RateLimited) {
          report.error = err;
          break;
        }
      }
    }
    if (repos.length) report.checked.push('each repo is reachable and the token has admin rights on it (deploy keys listed)');
    return report;
  }

  async list(repo: RepoConfig): Promise<DeployKey[]> {
    try {
      const data = (await this.api.paginate('GET /repos/{owner}/{repo}/keys', {
        owner: repo.url.owner,
        repo: repo.url.repo,
        per_page: 100,
      })) as GhKey[];
      return data.map((k) => toDeployKey(repo, k));
    } catch (e) {
      throw this.mapError(e, this.ctx(repo));
    }
  }

  async findByFingerprint(repo: RepoConfig, fingerprint: string): Promise<DeployKey | undefined> {
    return (await this.list(repo)).find((k) => k.fingerprint === fingerprint);
  }

  async add(repo: RepoConfig, req: AddKeyRequest): Promise<DeployKey> {
    const { parsed, ctx } = checkAddRequest(this.ctx(repo, req.host === undefined ? {} : { host: req.host }), req);

    for (let attempt = 0; ; attempt++) {
      const release = await this.acquireWrite(ctx);
      try {
        const res = await this.api.request('POST /repos/{owner}/{repo}/keys', {
          owner: repo.url.owner,
          repo: repo.url.repo,
          title: req.title,
          key: parsed.key,
          read_only: true,
          // Never let the retry plugin repeat a create blindly: a lost reply may hide a success.
          request: { retries: 0 },
        });
        release();
        const got = toDeployKey(repo, res.data as GhKey);
        if (got.fingerprint !== parsed.fingerprint) {
          throw new ForgeFailure(ctx, `the forge answered with a different key (${got.fingerprint}, id ${got.id})`, 'check api_url points at GitHub; remove that key by hand');
        }
        return await ensureReadOnly(this, repo, got, ctx);
      } catch (e) {
        release();
        const err = this.mapError(e, ctx);
        if (e instanceof ForgeError && !(e instanceof Transient)) throw err;
        if (err instanceof KeyInUse) {
          // Ours if this repo holds it (e.g. an earlier create whose reply was lost).
          const existing = await this.findByFingerprint(repo, parsed.fingerprint);
          if (existing) return await ensureReadOnly(this, repo, existing, ctx);
          throw err;
        }
        if (!(err instanceof Transient) || attempt >= this.retries) throw err;
        await this.clock.sleep(backoffDelay(attempt, this.retryBaseMs, 30_000, 0.5));
        // The create may have happened although its reply was lost: look before adding again.
        const existing = await this.findByFingerprint(repo, parsed.fingerprint);
        if (existing) return await ensureReadOnly(this, repo, existing, ctx);
      }
    }
  }

  async remove(repo: RepoConfig, id: string, ctx: KeyContext = {}): Promise<void> {
    const c = this.ctx(repo, ctx);
    if (!/^\d{1,20}$/.test(id)) throw new ForgeFailure(c, `invalid deploy key id ${JSON.stringify(id)}`, 'GitHub deploy key ids are numbers; see `deploy-keys status`');
    const release = await this.acquireWrite(c);
    try {
      await this.api.request('DELETE /repos/{owner}/{repo}/keys/{key_id}', {
        owner: repo.url.owner,
        repo: repo.url.repo,
        key_id: Number(id),
      });
      release();
    } catch (e) {
      release();
      const err = this.mapError(e, c);
      if (!(err instanceof NotFoundOrNoAdmin) || err.status !== 404) throw err;
      // 404: the key is gone (success) — or the repo/admin right is. Tell them apart.
      try {
        await this.api.request('GET /repos/{owner}/{repo}/keys', { owner: repo.url.owner, repo: repo.url.repo, per_page: 1 });
      } catch (e2) {
        throw this.mapError(e2, c);
      }
    }
  }

  /** A write slot; a secondary-limit pause longer than the tolerated wait is RateLimited at once (no hour-long hang). */
  private async acquireWrite(ctx: ForgeErrorContext): Promise<Release> {
    try {
      return await this.limiter.acquire({ maxPauseMs: this.maxWaitMs });
    } catch (e) {
      if (e instanceof LimiterPaused) throw new RateLimited(ctx, new Date(e.until), 'secondary');
      throw e;
    }
  }

  /** A typed ForgeError for anything Octokit (or the network) threw. */
  mapError(e: unknown, ctx: ForgeErrorContext): ForgeError {
    // Thrown by the request hook (known exhausted budget), which does not know host and repo.
    if (e instanceof RateLimited && e.repo === undefined && ctx.repo !== undefined) return new RateLimited(ctx, e.retryAt, e.limit, e);
    if (e instanceof ForgeError) return e;
    const err = e as RequestErrorLike;
    const status = typeof err?.status === 'number' ? err.status : undefined;
    const headers = err?.response?.headers ?? {};
    const data = err?.response?.data as { message?: string; errors?: { message?: string; code?: string; field?: string }[] } | undefined;
    const c = { ...ctx, ...(status === undefined ? {} : { status }) };
    const messages = [data?.message ?? '', ...(data?.errors ?? []).map((x) => x.message ?? '')].join(' | ');
    if (status === 401) return new Unauthorized(c, this.opts.tokenEnv, e);
    if (status === 404) return new NotFoundOrNoAdmin(c, e);
    if (status === 403 || status === 429) {
      const retryAfter = Number(headers['retry-after']);
      if (/secondary rate/i.test(`${err.message ?? ''} ${messages}`) || Number.isFinite(retryAfter) && headers['retry-after'] !== undefined) {
        const secs = Number.isFinite(retryAfter) ? retryAfter : 60;
        return new RateLimited(c, new Date(this.clock.now() + secs * 1000), 'secondary', e);
      }
      if (headers['x-ratelimit-remaining'] === '0') {
        return new RateLimited(c, new Date(Number(headers['x-ratelimit-reset'] ?? 0) * 1000), 'primary', e);
      }
      if (status === 403) return new NotFoundOrNoAdmin(c, e);
    }
    if (status === 422) {
      if (/already in use/i.test(messages)) return new KeyInUse(c, e);
      if (/deploy keys are disabled/i.test(messages)) return new DeployKeysDisabled(c, e);
      if (/key is invalid|can't be blank|invalid/i.test(messages)) return new InvalidKey(c, short(messages), e);
      return new ForgeFailure(c, `validation failed: ${short(messages)}`, 'see the message; nothing was registered', e);
    }
    if (status === undefined || status >= 500) {
      const what = status === undefined || !err.response ? `network error: ${short(err?.message ?? String(e))}` : `HTTP ${status}`;
      return new Transient(c, what, e);
    }
    return new ForgeFailure(c, `unexpected HTTP ${status}: ${short(messages || err.message || '')}`, 'see the message; nothing was changed', e);
  }
}

function short(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}

function toDeployKey(repo: RepoConfig, k: GhKey): DeployKey {
  const out: DeployKey = {
    status: 'registered',
    id: String(k.id),
    repo: repo.name,
    title: k.title,
    publicKey: k.key,
    fingerprint: blobFingerprint(k.key),
    readOnly: k.read_only === true,
  };
  if (k.enabled !== undefined) out.enabled = k.enabled;
  if (k.created_at !== undefined) out.createdAt = k.created_at;
  if (k.last_used !== undefined) out.lastUsed = k.last_used;
  if (k.added_by !== undefined) out.addedBy = k.added_by;
  if (k.verified !== undefined) out.verified = k.verified;
  return out;
}
