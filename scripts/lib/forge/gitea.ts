/**
 * Gitea and Forgejo deploy keys over `/api/v1/repos/{owner}/{repo}/keys`
 * with plain fetch. Same guarantees as the GitHub provider where the API
 * allows: read_only sent and checked, fingerprints computed locally,
 * transient failures retried with backoff (never 401), a create whose reply
 * was lost is never blindly repeated (re-list and adopt by fingerprint).
 *
 * Gitea answers 422 for a duplicate title in the repo (TitleInUse), for a key
 * already in this repo (adopted when the fingerprint matches), and for a key
 * used as a user key (KeyInUse). Unlike GitHub, Gitea lets one deploy key be
 * attached to several repos. Gitea has no documented secondary write limits;
 * writes are not throttled.
 */
import type { RepoConfig } from '../config/types.js';
import { blobFingerprint, checkAddRequest, ensureReadOnly } from './fingerprint.js';
import {
  ForgeError,
  ForgeFailure,
  InvalidKey,
  KeyInUse,
  NotFoundOrNoAdmin,
  RateLimited,
  TitleInUse,
  Transient,
  Unauthorized,
  type ForgeErrorContext,
} from './errors.js';
import { withRetry } from './retry.js';
import {
  systemClock,
  type AddKeyRequest,
  type Clock,
  type DeployKey,
  type ForgeProvider,
  type KeyContext,
  type PreflightReport,
} from './types.js';

export interface GiteaForgeOptions {
  /** e.g. https://git.example.com/api/v1 (a bare https://git.example.com gets /api/v1 appended). */
  apiUrl: string;
  token: string;
  tokenEnv: string;
  clock?: Clock;
  retries?: number;
  retryBaseMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Page size for list (Gitea caps it at its MAX_RESPONSE_ITEMS, default 50). */
  pageSize?: number;
}

interface GiteaKey {
  id: number;
  key: string;
  title: string;
  read_only: boolean;
  created_at?: string;
  fingerprint?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Headers,
  ) {
    super(`HTTP ${status}`);
  }
}

export class GiteaForge implements ForgeProvider {
  readonly kind = 'gitea' as const;
  private readonly base: string;
  private readonly clock: Clock;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly pageSize: number;

  constructor(private readonly opts: GiteaForgeOptions) {
    const u = opts.apiUrl.replace(/\/+$/, '');
    this.base = /\/api\/v1$/.test(u) ? u : `${u}/api/v1`;
    this.clock = opts.clock ?? systemClock;
    this.retries = opts.retries ?? 4;
    this.retryBaseMs = opts.retryBaseMs ?? 500;
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.pageSize = opts.pageSize ?? 50;
  }

  private ctx(repo: RepoConfig, extra: { host?: string; fingerprint?: string } = {}): ForgeErrorContext {
    return { forge: 'gitea', repo: `${repo.url.owner}/${repo.url.repo}`, ...extra };
  }

  private keysPath(repo: RepoConfig): string {
    return `/repos/${encodeURIComponent(repo.url.owner)}/${encodeURIComponent(repo.url.repo)}/keys`;
  }

  /** One HTTP exchange; throws HttpError for ≥ 400, the fetch error for network failures. */
  private async once(method: string, p: string, body?: unknown): Promise<{ status: number; data: unknown; headers: Headers }> {
    const res = await this.fetchFn(`${this.base}${p}`, {
      method,
      headers: {
        authorization: `token ${this.opts.token}`,
        accept: 'application/json',
        'user-agent': 'nix-deploy-keys',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      redirect: 'error',
    });
    const text = await res.text();
    let data: unknown = text;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      /* keep text */
    }
    if (res.status >= 400) throw new HttpError(res.status, data, res.headers);
    return { status: res.status, data, headers: res.headers };
  }

  /** once() with retries for transient failures (not for POST: see add()). */
  private call(method: string, p: string, body?: unknown): Promise<{ status: number; data: unknown; headers: Headers }> {
    return withRetry(() => this.once(method, p, body), {
      retries: this.retries,
      baseMs: this.retryBaseMs,
      clock: this.clock,
      retryable: isTransient,
    });
  }

  async preflight(repos: RepoConfig[]): Promise<PreflightReport> {
    const report: PreflightReport = {
      kind: 'gitea',
      ok: true,
      warnings: [],
      repos: [],
      checked: [],
      notChecked: ['whether a key is already used as a user key elsewhere on the server (only visible on create)'],
    };
    try {
      await this.call('GET', '/user');
      report.checked.push('the token is accepted (GET /user)');
    } catch (e) {
      report.ok = false;
      report.error = this.mapError(e, { forge: 'gitea' });
      return report;
    }
    for (const repo of repos) {
      try {
        const keys = await this.list(repo);
        report.repos.push({ repo: repo.name, ok: true, keyCount: keys.length });
      } catch (e) {
        report.ok = false;
        report.repos.push({ repo: repo.name, ok: false, error: this.mapError(e, this.ctx(repo)) });
      }
    }
    if (repos.length) report.checked.push('each repo is reachable and the token may manage its deploy keys (keys listed)');
    return report;
  }

  async list(repo: RepoConfig): Promise<DeployKey[]> {
    const out: DeployKey[] = [];
    try {
      for (let page = 1; page < 10_000; page++) {
        const res = await this.call('GET', `${this.keysPath(repo)}?page=${page}&limit=${this.pageSize}`);
        const items = Array.isArray(res.data) ? (res.data as GiteaKey[]) : [];
        out.push(...items.map((k) => toDeployKey(repo, k)));
        const link = res.headers.get('link') ?? '';
        const hasNext = link ? /rel="next"/.test(link) : items.length >= this.pageSize;
        if (!hasNext || items.length === 0) break;
      }
    } catch (e) {
      throw this.mapError(e, this.ctx(repo));
    }
    // A page boundary may shift while we read: de-duplicate by id.
    return [...new Map(out.map((k) => [k.id, k])).values()];
  }

  async findByFingerprint(repo: RepoConfig, fingerprint: string): Promise<DeployKey | undefined> {
    return (await this.list(repo)).find((k) => k.fingerprint === fingerprint);
  }

  async add(repo: RepoConfig, req: AddKeyRequest): Promise<DeployKey> {
    const { parsed, ctx } = checkAddRequest(this.ctx(repo, req.host === undefined ? {} : { host: req.host }), req);

    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.once('POST', this.keysPath(repo), { title: req.title, key: parsed.key, read_only: true });
        const got = toDeployKey(repo, res.data as GiteaKey);
        if (got.fingerprint !== parsed.fingerprint) {
          throw new ForgeFailure(ctx, `the forge answered with a different key (${got.fingerprint}, id ${got.id})`, 'check api_url; remove that key by hand');
        }
        return await ensureReadOnly(this, repo, got, ctx);
      } catch (e) {
        if (e instanceof ForgeError) throw e;
        const err = this.mapError(e, ctx, req.title);
        if (err instanceof KeyInUse || err instanceof TitleInUse) {
          // "already been added to this repository" or a lost reply: ours if the fingerprint is here.
          const existing = await this.findByFingerprint(repo, parsed.fingerprint);
          if (existing) return await ensureReadOnly(this, repo, existing, ctx);
          throw err;
        }
        if (!(err instanceof Transient) || attempt >= this.retries) throw err;
        await this.clock.sleep(Math.min(30_000, this.retryBaseMs * 2 ** attempt));
        const existing = await this.findByFingerprint(repo, parsed.fingerprint);
        if (existing) return await ensureReadOnly(this, repo, existing, ctx);
      }
    }
  }

  async remove(repo: RepoConfig, id: string, ctx: KeyContext = {}): Promise<void> {
    const c = this.ctx(repo, ctx);
    if (!/^\d{1,20}$/.test(id)) throw new ForgeFailure(c, `invalid deploy key id ${JSON.stringify(id)}`, 'Gitea deploy key ids are numbers');
    try {
      await this.call('DELETE', `${this.keysPath(repo)}/${id}`);
    } catch (e) {
      if (!(e instanceof HttpError && e.status === 404)) throw this.mapError(e, c);
      // Gone already — or the repo/permission is: tell them apart.
      try {
        await this.call('GET', `${this.keysPath(repo)}?page=1&limit=1`);
      } catch (e2) {
        throw this.mapError(e2, c);
      }
    }
  }

  mapError(e: unknown, ctx: ForgeErrorContext, title = '(unknown)'): ForgeError {
    if (e instanceof ForgeError) return e;
    if (!(e instanceof HttpError)) {
      return new Transient(ctx, `network error: ${(e as Error)?.cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error)?.message ?? String(e)}`, e);
    }
    const c = { ...ctx, status: e.status };
    const message = typeof e.body === 'object' && e.body && 'message' in e.body ? String((e.body as { message: unknown }).message) : typeof e.body === 'string' ? e.body : '';
    if (e.status === 401) return new Unauthorized(c, this.opts.tokenEnv, e);
    if (e.status === 404 || e.status === 403) return new NotFoundOrNoAdmin(c, e);
    if (e.status === 429) {
      const ra = Number(e.headers.get('retry-after'));
      return new RateLimited(c, new Date(this.clock.now() + (Number.isFinite(ra) ? ra : 60) * 1000), 'primary', e);
    }
    if (e.status === 422 || e.status === 409 || e.status === 400) {
      if (/title (has been|already) used|name.*already/i.test(message)) return new TitleInUse(c, title, e);
      if (/already been added|already exist|has been used|already in use/i.test(message)) return new KeyInUse(c, e);
      if (/invalid|content/i.test(message)) return new InvalidKey(c, message.slice(0, 200), e);
      return new ForgeFailure(c, `validation failed: ${message.slice(0, 200)}`, 'see the message; nothing was registered', e);
    }
    if (e.status >= 500) return new Transient(c, `HTTP ${e.status}`, e);
    return new ForgeFailure(c, `unexpected HTTP ${e.status}: ${message.slice(0, 200)}`, 'see the message; nothing was changed', e);
  }
}

function isTransient(e: unknown): boolean {
  if (e instanceof HttpError) return e.status >= 500;
  return !(e instanceof ForgeError); // network errors from fetch
}

function toDeployKey(repo: RepoConfig, k: GiteaKey): DeployKey {
  const out: DeployKey = {
    status: 'registered',
    id: String(k.id),
    repo: repo.name,
    title: k.title,
    publicKey: k.key.trim().split(/\s+/).slice(0, 2).join(' '),
    fingerprint: blobFingerprint(k.key),
    readOnly: k.read_only === true,
  };
  if (k.created_at !== undefined) out.createdAt = k.created_at;
  return out;
}
