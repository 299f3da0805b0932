/**
 * GitHub (github.com and GHES) deploy keys through @octokit/rest with the
 * throttling and retry plugins. Loaded lazily by index.ts; createGithubForge()
 * builds the client, its rate-limit hooks and the credential (github-auth.ts)
 * in one step.
 *
 * Guarantees:
 * - Every create sends `read_only: true` and checks the reply says so; a key
 *   the forge registered with write access is deleted again and reported
 *   (NotReadOnly).
 * - Writes (create, delete) pass one shared WriteLimiter per provider
 *   instance: at most `writesPerMinute`/`writesPerHour` (GitHub: 80/500
 *   content-creating requests), across a whole fleet run. A secondary-limit
 *   reply pauses all writes for its `retry-after`.
 * - Primary limits, per credential (a token, each App installation):
 *   `x-ratelimit-remaining: 0` holds every request until `x-ratelimit-reset`
 *   (up to `maxRateLimitWaitMs`, else RateLimited).
 * - Transient failures (5xx, network) are retried with backoff; 401 never is.
 * - A create whose reply was lost is never blindly repeated (register.ts).
 *
 * Preflight can check: the credential is accepted (GET /rate_limit, which does
 * not count against the primary limit; for an App also GET /app and each
 * installation's token, including that it grants Administration: write), every
 * repo is reachable with admin rights (listing deploy keys requires admin),
 * keys already disabled by policy (`enabled: false`). It cannot check without
 * creating a key: whether an org or enterprise policy forbids NEW deploy keys
 * (visible only to org owners or on create), whether a public key is already
 * in use elsewhere on GitHub, and (for a token) whether it has Administration
 * WRITE rather than read. Those surface as typed errors on add().
 */
import type { ThrottlingOptions } from '@octokit/plugin-throttling';
import type { RetryOptions } from '@octokit/plugin-retry';
import type { Octokit } from '@octokit/rest';
import type { RepoConfig } from '../config/index.js';
import { forgeText, isTrue, registeredKey } from './fingerprint.js';
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
import { AppCredential, TokenCredential, tokenWarning, type GithubCredential } from './github-auth.js';
import { LimiterPaused, WriteLimiter, type Release } from './rate-limit.js';
import { addIdempotently } from './register.js';
import { systemClock, type AddKeyRequest, type Clock, type DeployKey, type ForgeProvider, type KeyContext, type PreflightReport } from './types.js';

const GITHUB_API_VERSION = '2022-11-28';

export interface GithubAppOptions {
  appId: number | string;
  /** PEM, as readAppPrivateKey() returned it (never logged). */
  privateKey: string;
  installationId?: number;
  /** Mint a new installation token when less than this is left (default 10 min). */
  refreshMarginMs?: number;
}

export interface GithubCommonOptions {
  apiUrl: string;
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

/** A token from the environment (`token`, named by `tokenEnv` in messages), or a GitHub App. */
export type GithubForgeOptions = GithubCommonOptions &
  ({ token: string; tokenEnv: string; app?: never } | { app: GithubAppOptions; token?: never; tokenEnv?: never });

interface RequestErrorLike {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/** GitHub's deploy-key object, as @octokit/rest types it from GitHub's OpenAPI description. */
type GhKey = Awaited<ReturnType<Octokit['rest']['repos']['getDeployKey']>>['data'];

type Headers = Record<string, string | number | undefined>;

/**
 * Rate-limit state shared by the client's hooks and the provider: the write
 * limiter, and the primary budget of each credential (keyed by the request's
 * authorization header, which never leaves this process).
 */
class GithubLimits {
  readonly limiter: WriteLimiter;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryAfterUnitMs: number;
  readonly maxWaitMs: number;
  private readonly secondaryRetries: number;
  private readonly primary = new Map<string, { remaining: number; resetAt: number }>();

  constructor(
    opts: GithubCommonOptions,
    readonly clock: Clock,
    readonly warn: (m: string) => void,
  ) {
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
      clock,
    );
  }

  /** Throttling plugin: primary limit hit; true = retry after `retryAfter` s. */
  onPrimaryLimit(retryAfter: number, retryCount: number): boolean {
    const ok = retryCount < 2 && retryAfter * 1000 <= this.maxWaitMs;
    if (ok) this.warn(`GitHub API rate limit exhausted; waiting ${retryAfter}s for the reset`);
    return ok;
  }

  /** Throttling plugin: secondary limit hit; pauses every write, true = retry. */
  onSecondaryLimit(retryAfter: number, retryCount: number): boolean {
    this.limiter.pauseUntil(this.clock.now() + retryAfter * this.retryAfterUnitMs);
    const ok = retryCount < this.secondaryRetries && retryAfter * 1000 <= this.maxWaitMs;
    if (ok) this.warn(`GitHub secondary rate limit; pausing writes for ${retryAfter}s`);
    return ok;
  }

  note(credential: string, headers: Headers | undefined): void {
    if (!headers) return;
    if (headers['x-ratelimit-resource'] !== undefined && headers['x-ratelimit-resource'] !== 'core') return;
    const remaining = Number(headers['x-ratelimit-remaining']);
    const reset = Number(headers['x-ratelimit-reset']);
    if (Number.isFinite(remaining) && Number.isFinite(reset)) this.primary.set(credential, { remaining, resetAt: reset * 1000 });
  }

  /** Never spend the last requests of a window: wait for the reset (or give up clearly). */
  async waitForPrimary(credential: string): Promise<void> {
    const p = this.primary.get(credential);
    if (!p || p.remaining > 0) return;
    const wait = p.resetAt + 1000 - this.clock.now();
    if (wait > this.maxWaitMs) throw new RateLimited({ forge: 'github' }, new Date(p.resetAt), 'primary');
    if (wait > 0) {
      this.warn(`GitHub API rate limit exhausted; waiting ${Math.ceil(wait / 1000)}s for the reset`);
      await this.clock.sleep(wait);
    }
    this.primary.delete(credential);
  }

  /** A write slot; a secondary-limit pause longer than the tolerated wait is RateLimited at once (no hour-long hang). */
  async acquireWrite(ctx: ForgeErrorContext): Promise<Release> {
    try {
      return await this.limiter.acquire({ maxPauseMs: this.maxWaitMs });
    } catch (e) {
      if (e instanceof LimiterPaused) throw new RateLimited(ctx, new Date(e.until), 'secondary');
      throw e;
    }
  }
}

export async function createGithubForge(opts: GithubForgeOptions): Promise<GithubForge> {
  const [{ Octokit }, { throttling }, { retry: retryPlugin }, { default: Bottleneck }] = await Promise.all([
    import('@octokit/rest'),
    import('@octokit/plugin-throttling'),
    import('@octokit/plugin-retry'),
    import('bottleneck'),
  ]);
  const clock = opts.clock ?? systemClock;
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const limits = new GithubLimits(opts, clock, warn);
  const noop = (): undefined => undefined;
  const throttle: ThrottlingOptions = {
    id: `nix-deploy-keys-${Math.random().toString(36).slice(2)}`,
    retryAfterBaseValue: limits.retryAfterUnitMs,
    fallbackSecondaryRateRetryAfter: 60,
    // The WriteLimiter paces writes; the plugin's own write group (1 write/s) would cap us at 60/min.
    write: new Bottleneck.Group({ maxConcurrent: null, minTime: 0 }),
    onRateLimit: (retryAfter, _options, _octokit, retryCount) => limits.onPrimaryLimit(retryAfter, retryCount),
    onSecondaryRateLimit: (retryAfter, _options, _octokit, retryCount) => limits.onSecondaryLimit(retryAfter, retryCount),
  };
  const retry: RetryOptions = {
    // 429/403 are the throttling plugin's; everything permanent is never retried (401 above all).
    doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
    retries: limits.retries,
    retryAfterBaseValue: limits.retryBaseMs,
  };
  const octokit: Octokit = new (Octokit.plugin(throttling, retryPlugin))({
    baseUrl: opts.apiUrl.replace(/\/+$/, ''),
    userAgent: 'nix-deploy-keys',
    // NB: never put `retries` in these defaults: plugin-retry then retries EVERY error, 401 included.
    request: opts.fetch ? { fetch: opts.fetch } : {},
    log: { debug: noop, info: noop, warn: noop, error: noop },
    throttle,
    retry,
  });
  octokit.hook.before('request', async (options) => {
    options.headers['x-github-api-version'] = GITHUB_API_VERSION;
    await limits.waitForPrimary(options.headers.authorization ?? '');
  });
  octokit.hook.after('request', (response, options) => {
    limits.note(options.headers.authorization ?? '', response.headers);
  });
  octokit.hook.error('request', (error, options) => {
    limits.note(options.headers.authorization ?? '', (error as RequestErrorLike).response?.headers);
    throw error;
  });
  const credential: GithubCredential = opts.app ? await appCredential(opts.app, octokit, clock, warn) : new TokenCredential(opts.token, opts.tokenEnv);
  return new GithubForge(octokit, limits, credential, opts.token === undefined ? undefined : tokenWarning(opts.token, opts.tokenEnv));
}

async function appCredential(app: GithubAppOptions, octokit: Octokit, clock: Clock, warn: (m: string) => void): Promise<AppCredential> {
  const { createAppAuth } = await import('@octokit/auth-app');
  return new AppCredential({
    appId: app.appId,
    ...(app.installationId === undefined ? {} : { installationId: app.installationId }),
    ...(app.refreshMarginMs === undefined ? {} : { refreshMarginMs: app.refreshMarginMs }),
    // Minting goes through the same client: its retries, rate limits and API version apply.
    auth: createAppAuth({ appId: app.appId, privateKey: app.privateKey, request: octokit.request, log: { warn } }),
    octokit,
    clock,
  });
}

export class GithubForge implements ForgeProvider {
  readonly kind = 'github' as const;

  constructor(
    private readonly api: Octokit,
    private readonly limits: GithubLimits,
    private readonly credential: GithubCredential,
    private readonly credentialWarning: string | undefined,
  ) {}

  get limiter(): WriteLimiter {
    return this.limits.limiter;
  }

  private ctx(repo: RepoConfig, extra: { host?: string; fingerprint?: string } = {}): ForgeErrorContext {
    return { forge: 'github', repo: `${repo.url.owner}/${repo.url.repo}`, ...extra };
  }

  private async headers(repo: RepoConfig): Promise<{ authorization: string }> {
    return { authorization: await this.credential.authorization(repo) };
  }

  async preflight(repos: RepoConfig[]): Promise<PreflightReport> {
    const app = this.credential instanceof AppCredential ? this.credential : undefined;
    const report: PreflightReport = {
      kind: 'github',
      ok: true,
      warnings: this.credentialWarning ? [this.credentialWarning] : [],
      repos: [],
      checked: [],
      notChecked: [
        'whether an organization or enterprise policy forbids creating NEW deploy keys (only visible to org owners, or on create)',
        'whether a public key is already in use elsewhere on GitHub (keys are unique across GitHub; only visible on create)',
        ...(app ? [] : ['whether a fine-grained token has Administration WRITE (listing only needs read)']),
      ],
    };
    const fail = (err: ForgeError): PreflightReport => {
      report.ok = false;
      report.error = err;
      return report;
    };
    if (app) {
      try {
        const { slug } = await app.checkApp();
        report.checked.push(`${this.credential.label} (${slug}) accepts its private key (GET /app)`);
      } catch (e) {
        return fail(this.mapError(e, { forge: 'github' }));
      }
    }
    try {
      const first = repos[0];
      const res = await this.api.request('GET /rate_limit', first ? { headers: await this.headers(first) } : {});
      const core = res.data.resources.core;
      report.rateLimit = { limit: core.limit, remaining: core.remaining, resetAt: new Date(core.reset * 1000).toISOString() };
      report.checked.push(`${this.credential.label} is accepted (GET /rate_limit)`);
    } catch (e) {
      const err = this.mapError(e, { forge: 'github' });
      if (!(err instanceof NotFoundOrNoAdmin)) return fail(err);
      report.warnings.push('GET /rate_limit is not available (rate limiting disabled on this GitHub Enterprise Server?)');
    }
    for (const repo of repos) {
      try {
        if (app) await this.checkGrant(app, repo);
        const keys = await this.list(repo);
        const disabled = keys.filter((k) => k.enabled === false).length;
        report.repos.push({ repo: repo.name, ok: true, keys, disabledKeys: disabled });
        if (disabled > 0) {
          report.warnings.push(`${repo.url.owner}/${repo.url.repo}: ${disabled} deploy key(s) are disabled by policy; new keys will probably be refused (DeployKeysDisabled)`);
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
    if (repos.length) {
      report.checked.push('each repo is reachable and the credential has admin rights on it (deploy keys listed)');
      if (app) report.checked.push("each installation's token grants Administration: write");
    }
    return report;
  }

  /** An App installation whose token cannot write deploy keys fails before any key is generated. */
  private async checkGrant(app: AppCredential, repo: RepoConfig): Promise<void> {
    const granted = await app.grantedAdministration(repo);
    if (granted !== 'write') {
      throw new ForgeFailure(
        this.ctx(repo),
        `${app.label}'s installation grants Administration: ${granted ?? 'none'}, deploy keys need write`,
        'in the App settings set Repository permissions → Administration: Read and write, then accept the new permissions in the installation',
      );
    }
  }

  async list(repo: RepoConfig): Promise<DeployKey[]> {
    try {
      const data = await this.api.paginate(this.api.rest.repos.listDeployKeys, {
        owner: repo.url.owner,
        repo: repo.url.repo,
        per_page: 100,
        headers: await this.headers(repo),
      });
      return data.map((k) => this.toDeployKey(repo, k));
    } catch (e) {
      throw this.mapError(e, this.ctx(repo));
    }
  }

  add(repo: RepoConfig, req: AddKeyRequest): Promise<DeployKey> {
    return addIdempotently(this, repo, req, this.ctx(repo), this.limits, async (key, ctx) => {
      const release = await this.limits.acquireWrite(ctx);
      try {
        const res = await this.api.rest.repos.createDeployKey({
          owner: repo.url.owner,
          repo: repo.url.repo,
          title: req.title,
          key: key.key,
          read_only: true,
          headers: await this.headers(repo),
          // Never let the retry plugin repeat a create blindly: a lost reply may hide a success.
          request: { retries: 0 },
        });
        return this.toDeployKey(repo, res.data);
      } catch (e) {
        throw this.mapError(e, ctx);
      } finally {
        release();
      }
    });
  }

  async remove(repo: RepoConfig, id: string, ctx: KeyContext = {}): Promise<void> {
    const c = this.ctx(repo, ctx);
    if (!/^\d{1,20}$/.test(id)) throw new ForgeFailure(c, `invalid deploy key id ${JSON.stringify(id)}`, 'GitHub deploy key ids are numbers; see `deploy-keys status`');
    const release = await this.limits.acquireWrite(c);
    try {
      await this.api.rest.repos.deleteDeployKey({ owner: repo.url.owner, repo: repo.url.repo, key_id: Number(id), headers: await this.headers(repo) });
      release();
    } catch (e) {
      release();
      const err = this.mapError(e, c);
      if (!(err instanceof NotFoundOrNoAdmin) || err.status !== 404) throw err;
      // 404: the key is gone (success) — or the repo/admin right is. Tell them apart.
      try {
        await this.api.rest.repos.listDeployKeys({ owner: repo.url.owner, repo: repo.url.repo, per_page: 1, headers: await this.headers(repo) });
      } catch (e2) {
        throw this.mapError(e2, c);
      }
    }
  }

  /** A typed ForgeError for anything Octokit (or the network) threw. */
  mapError(e: unknown, ctx: ForgeErrorContext): ForgeError {
    // Thrown by the request hook (known exhausted budget), which does not know host and repo.
    if (e instanceof RateLimited && e.repo === undefined && ctx.repo !== undefined) return new RateLimited(ctx, e.retryAt, e.limit, e);
    if (e instanceof ForgeError) return e;
    const err: RequestErrorLike = typeof e === 'object' && e !== null ? e : {};
    const status = typeof err.status === 'number' ? err.status : undefined;
    const headers = err.response?.headers ?? {};
    const data = err.response?.data as { message?: string; errors?: { message?: string; code?: string; field?: string }[] } | undefined;
    const c = { ...ctx, ...(status === undefined ? {} : { status }) };
    const messages = [data?.message ?? '', ...(data?.errors ?? []).map((x) => x.message ?? '')].join(' | ');
    if (status === 401) return new Unauthorized(c, this.credential.label, e, this.credential.unauthorizedHint);
    if (status === 404) return new NotFoundOrNoAdmin(c, e);
    if (status === 403 || status === 429) {
      const retryAfter = Number(headers['retry-after']);
      if (/secondary rate/i.test(`${err.message ?? ''} ${messages}`) || (Number.isFinite(retryAfter) && headers['retry-after'] !== undefined)) {
        const secs = Number.isFinite(retryAfter) ? retryAfter : 60;
        return new RateLimited(c, new Date(this.limits.clock.now() + secs * 1000), 'secondary', e);
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
      const what = status === undefined || !err.response ? `network error: ${short(err.message ?? String(e))}` : `HTTP ${status}`;
      return new Transient(c, what, e);
    }
    return new ForgeFailure(c, `unexpected HTTP ${status}: ${short(messages !== '' ? messages : (err.message ?? ''))}`, 'see the message; nothing was changed', e);
  }

  private toDeployKey(repo: RepoConfig, k: GhKey): DeployKey {
    // The reply is untrusted: only an explicit read_only true is read-only.
    const out = registeredKey(repo, k.id, k.title, k.key, isTrue(k.read_only), { createdAt: k.created_at, lastUsed: k.last_used });
    out.verified = k.verified;
    if (k.enabled !== undefined) out.enabled = k.enabled;
    if (k.added_by !== undefined) {
      out.addedBy = k.added_by === null ? null : forgeText(k.added_by);
      // A person, not an App (`…[bot]`): possibly created with their PAT or OAuth token, which takes the key with it.
      out.addedByUser = typeof k.added_by === 'string' && k.added_by !== '' && !k.added_by.endsWith('[bot]') && !this.credential.isSelf(k.added_by);
    }
    return out;
  }
}

function short(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}
