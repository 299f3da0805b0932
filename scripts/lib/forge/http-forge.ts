/**
 * What Gitea and GitLab share: a token in a header, a JSON list of a repo's
 * deploy keys (paged), a POST that creates one, a DELETE by id. Subclasses
 * say where the keys live, what a create sends, how a reply maps to a
 * DeployKey and what their 4xx bodies mean; retries and rate limits are
 * http.ts's, the idempotent create is register.ts's.
 */
import type { RepoConfig } from '../config/index.js';
import type { ParsedKey } from './fingerprint.js';
import { ForgeError, ForgeFailure, NotFoundOrNoAdmin, RateLimited, Transient, Unauthorized, type ForgeErrorContext } from './errors.js';
import { HttpError, JsonClient, RateLimitExceeded, networkDetail } from './http.js';
import { addIdempotently, type RetryPolicy } from './register.js';
import { systemClock, type AddKeyRequest, type Clock, type DeployKey, type ForgeProvider, type KeyContext, type PreflightReport } from './types.js';

export interface HttpForgeOptions {
  /** API root; the forge's own suffix (/api/v1, /api/v4) is appended when missing. */
  apiUrl: string;
  /** The token itself (never logged). */
  token: string;
  /** Name of the variable it came from, for messages. */
  tokenEnv: string;
  clock?: Clock;
  /** Retries of transient failures (default 4). */
  retries?: number;
  /** Backoff unit in ms (default 500; tests use a few ms). */
  retryBaseMs?: number;
  /** ms per second of `Retry-After` (default 1000; tests shorten it). */
  retryAfterUnitMs?: number;
  /** Longest wait for a rate limit before RateLimited (default 15 min). */
  maxRateLimitWaitMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Keys per list request (default: the forge's maximum). */
  pageSize?: number;
}

export interface HttpForgeApi {
  /** e.g. /api/v4 */
  suffix: string;
  /** Header carrying the token (its value is built from opts.token). */
  authHeader: (token: string) => Record<string, string>;
  /** Query parameter of the page size, and the forge's maximum. */
  sizeParam: string;
  maxPageSize: number;
  /** Preflight: what listing a repo proves, and what cannot be checked. */
  listingProves: string;
  notChecked: string[];
}

export abstract class HttpForge<Raw extends { id: number }> implements ForgeProvider {
  abstract readonly kind: 'gitea' | 'gitlab';
  protected readonly http: JsonClient;
  protected readonly clock: Clock;
  private readonly policy: RetryPolicy;
  private readonly pageSize: number;

  constructor(
    protected readonly opts: HttpForgeOptions,
    private readonly api: HttpForgeApi,
  ) {
    const u = opts.apiUrl.replace(/\/+$/, '');
    this.clock = opts.clock ?? systemClock;
    this.policy = { retries: opts.retries ?? 4, retryBaseMs: opts.retryBaseMs ?? 500, clock: this.clock };
    this.pageSize = Math.min(api.maxPageSize, opts.pageSize ?? api.maxPageSize);
    this.http = new JsonClient({
      base: u.endsWith(api.suffix) ? u : `${u}${api.suffix}`,
      headers: api.authHeader(opts.token),
      clock: this.clock,
      retries: this.policy.retries,
      retryBaseMs: this.policy.retryBaseMs,
      maxRateLimitWaitMs: opts.maxRateLimitWaitMs ?? 15 * 60_000,
      ...(opts.retryAfterUnitMs === undefined ? {} : { retryAfterUnitMs: opts.retryAfterUnitMs }),
      ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
    });
  }

  /** How messages name the repo (owner/repo, or GitLab's project path). */
  protected abstract repoLabel(repo: RepoConfig): string;
  /** Path of the repo's deploy-key collection below the API root. */
  protected abstract keysPath(repo: RepoConfig): string;
  /** Body of a create: always read-only. */
  protected abstract createBody(req: AddKeyRequest, key: ParsedKey): Record<string, unknown>;
  protected abstract toDeployKey(repo: RepoConfig, raw: Raw): DeployKey;
  /** The forge's meaning of a 400/409/422 body (key in use, invalid key, …). */
  protected abstract validationError(e: HttpError, ctx: ForgeErrorContext, title: string): ForgeError;

  protected ctx(repo: RepoConfig, extra: { host?: string; fingerprint?: string } = {}): ForgeErrorContext {
    return { forge: this.kind, repo: this.repoLabel(repo), ...extra };
  }

  async preflight(repos: RepoConfig[]): Promise<PreflightReport> {
    const report: PreflightReport = { kind: this.kind, ok: true, warnings: [], repos: [], checked: [], notChecked: [...this.api.notChecked] };
    try {
      await this.http.request('GET', '/user', { idempotent: true });
      report.checked.push(`the token in $${this.opts.tokenEnv} is accepted (GET /user)`);
    } catch (e) {
      report.ok = false;
      report.error = this.mapError(e, { forge: this.kind });
      return report;
    }
    for (const repo of repos) {
      try {
        const keys = await this.list(repo);
        report.repos.push({ repo: repo.name, ok: true, keys });
      } catch (e) {
        report.ok = false;
        report.repos.push({ repo: repo.name, ok: false, error: this.mapError(e, this.ctx(repo)) });
      }
    }
    if (repos.length) report.checked.push(this.api.listingProves);
    return report;
  }

  async list(repo: RepoConfig): Promise<DeployKey[]> {
    try {
      return (await this.http.listAll<Raw>(this.keysPath(repo), this.api.sizeParam, this.pageSize)).map((k) => this.toDeployKey(repo, k));
    } catch (e) {
      throw this.mapError(e, this.ctx(repo));
    }
  }

  add(repo: RepoConfig, req: AddKeyRequest): Promise<DeployKey> {
    return addIdempotently(this, repo, req, this.ctx(repo), this.policy, async (key, ctx) => {
      try {
        const res = await this.http.request('POST', this.keysPath(repo), { body: this.createBody(req, key), idempotent: false });
        return this.toDeployKey(repo, res.data as Raw);
      } catch (e) {
        throw this.mapError(e, ctx, req.title);
      }
    });
  }

  /** Removes the registration; an id already gone succeeds. */
  async remove(repo: RepoConfig, id: string, ctx: KeyContext = {}): Promise<void> {
    const c = this.ctx(repo, ctx);
    if (!/^\d{1,20}$/.test(id)) throw new ForgeFailure(c, `invalid deploy key id ${JSON.stringify(id)}`, 'deploy key ids are numbers; see `deploy-keys status`');
    try {
      await this.http.request('DELETE', `${this.keysPath(repo)}/${id}`, { idempotent: true });
    } catch (e) {
      if (!(e instanceof HttpError && e.status === 404)) throw this.mapError(e, c);
      // Gone already — or the repo/permission is: tell them apart.
      try {
        await this.http.request('GET', `${this.keysPath(repo)}?page=1&${this.api.sizeParam}=1`, { idempotent: true });
      } catch (e2) {
        throw this.mapError(e2, c);
      }
    }
  }

  mapError(e: unknown, ctx: ForgeErrorContext, title = '(unknown)'): ForgeError {
    if (e instanceof ForgeError) return e;
    if (e instanceof RateLimitExceeded) return new RateLimited(ctx, new Date(e.until), 'primary', e);
    if (!(e instanceof HttpError)) return new Transient(ctx, `network error: ${networkDetail(e)}`, e);
    const c = { ...ctx, status: e.status };
    if (e.status === 401) return new Unauthorized(c, `the token in $${this.opts.tokenEnv}`, e);
    if (e.status === 403 || e.status === 404) return new NotFoundOrNoAdmin(c, e);
    if (e.status === 400 || e.status === 409 || e.status === 422) return this.validationError(e, c, title);
    if (e.status >= 500) return new Transient(c, `HTTP ${e.status}`, e);
    return new ForgeFailure(c, `unexpected HTTP ${e.status}: ${e.serverMessage()}`, 'see the message; nothing was changed', e);
  }
}
