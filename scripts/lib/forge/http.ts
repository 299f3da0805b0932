/**
 * JSON over fetch for the token-authenticated forges without an SDK (Gitea,
 * GitLab). One place decides what is retried:
 * - 5xx and network failures: with backoff, for requests marked idempotent
 *   (a create goes through addIdempotently instead, which looks before it
 *   sends again);
 * - 429: after `Retry-After` (or the budget's reset), for every method, since
 *   a rate-limited request was not performed; a wait longer than the
 *   tolerated one fails at once with RateLimitExceeded;
 * - 401, 403 and every other answer: never.
 * A reply saying the budget is spent (`RateLimit-Remaining: 0`, GitLab; or
 * `X-RateLimit-Remaining: 0`) holds the next request until its reset.
 * The token travels only in the request headers; errors carry status, body and
 * headers of the reply, never the request's.
 */
import { backoffDelay } from './retry.js';
import type { Clock } from './types.js';

export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Headers,
  ) {
    super(`HTTP ${status}`);
  }

  /** The server's `message` (Gitea, GitLab: a string or a field → messages map), one line. */
  serverMessage(): string {
    const b = this.body;
    const m = typeof b === 'object' && b !== null && 'message' in b ? b.message : b;
    const text =
      typeof m === 'string' ? m
      : typeof m === 'object' && m !== null ? Object.entries(m).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; ')
      : '';
    return text.replace(/\s+/g, ' ').trim().slice(0, 200);
  }
}

/** fetch's own message ("fetch failed") says nothing; its cause does (ECONNREFUSED …). */
export function networkDetail(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? e.cause.message : e.message;
}

/** The forge asked to wait longer than this client tolerates. */
export class RateLimitExceeded extends Error {
  override name = 'RateLimitExceeded';
  constructor(readonly until: number) {
    super(`rate limited until ${new Date(until).toISOString()}`);
  }
}

export interface HttpReply {
  status: number;
  data: unknown;
  headers: Headers;
}

export interface JsonClientOptions {
  /** API root without a trailing slash, e.g. https://gitlab.com/api/v4. */
  base: string;
  /** Sent with every request (the credential header among them). */
  headers: Record<string, string>;
  clock: Clock;
  /** Retries of transient failures of idempotent requests. */
  retries: number;
  retryBaseMs: number;
  /** Longest rate-limit wait before RateLimitExceeded. */
  maxRateLimitWaitMs: number;
  /** ms per second of `Retry-After` (1000; tests shorten it). */
  retryAfterUnitMs?: number;
  /** Rate-limit replies tolerated per request (default 3). */
  rateLimitRetries?: number;
  fetch?: typeof globalThis.fetch;
}

export class JsonClient {
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly unitMs: number;
  private readonly rateLimitRetries: number;
  /** Epoch ms until which the budget is spent (from the last reply's headers). */
  private spentUntil = 0;

  constructor(private readonly o: JsonClientOptions) {
    this.fetchFn = o.fetch ?? globalThis.fetch;
    this.unitMs = o.retryAfterUnitMs ?? 1000;
    this.rateLimitRetries = o.rateLimitRetries ?? 3;
  }

  /**
   * One request with the retry policy above. Throws HttpError for an answer
   * ≥ 400, RateLimitExceeded, or the fetch error of a network failure.
   */
  async request(method: string, path: string, opts: { body?: unknown; idempotent: boolean }): Promise<HttpReply> {
    let transient = 0;
    let limited = 0;
    for (;;) {
      await this.waitForBudget();
      try {
        return await this.once(method, path, opts.body);
      } catch (e) {
        if (e instanceof HttpError && e.status === 429) {
          const until = this.retryAt(e.headers);
          if (until - this.o.clock.now() > this.o.maxRateLimitWaitMs || limited++ >= this.rateLimitRetries) throw new RateLimitExceeded(until);
          await this.o.clock.sleep(until - this.o.clock.now());
          continue;
        }
        const isTransient = e instanceof HttpError ? e.status >= 500 : true;
        if (!opts.idempotent || !isTransient || transient >= this.o.retries) throw e;
        await this.o.clock.sleep(backoffDelay(transient++, this.o.retryBaseMs, 30_000, 0.5));
      }
    }
  }

  /**
   * Every page of a list endpoint: `page=1,2,…` plus `sizeParam=pageSize`,
   * following `Link: rel="next"` or `X-Next-Page` (GitLab), else a full page.
   * Items are de-duplicated by `id` (a page boundary may shift while we read).
   */
  async listAll<T extends { id: number }>(path: string, sizeParam: string, pageSize: number): Promise<T[]> {
    const out = new Map<number, T>();
    const sep = path.includes('?') ? '&' : '?';
    for (let page = 1; page < 10_000; page++) {
      const res = await this.request('GET', `${path}${sep}page=${page}&${sizeParam}=${pageSize}`, { idempotent: true });
      const items = Array.isArray(res.data) ? (res.data as T[]) : [];
      for (const it of items) out.set(it.id, it);
      const link = res.headers.get('link');
      const nextPage = res.headers.get('x-next-page');
      const hasNext = link !== null ? link.includes('rel="next"') : nextPage !== null ? nextPage !== '' : items.length >= pageSize;
      if (!hasNext || items.length === 0) break;
    }
    return [...out.values()];
  }

  private async once(method: string, path: string, body: unknown): Promise<HttpReply> {
    const res = await this.fetchFn(`${this.o.base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        'user-agent': 'nix-deploy-keys',
        ...this.o.headers,
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
      /* keep the text (e.g. GitLab's plain "Retry later") */
    }
    this.noteBudget(res.headers);
    if (res.status >= 400) throw new HttpError(res.status, data, res.headers);
    return { status: res.status, data, headers: res.headers };
  }

  private noteBudget(h: Headers): void {
    const remaining = h.get('ratelimit-remaining') ?? h.get('x-ratelimit-remaining');
    const reset = Number(h.get('ratelimit-reset') ?? h.get('x-ratelimit-reset'));
    if (remaining === '0' && Number.isFinite(reset) && reset > 0) this.spentUntil = reset * 1000;
  }

  private async waitForBudget(): Promise<void> {
    const wait = this.spentUntil - this.o.clock.now();
    if (wait <= 0) return;
    if (wait > this.o.maxRateLimitWaitMs) throw new RateLimitExceeded(this.spentUntil);
    await this.o.clock.sleep(wait);
    this.spentUntil = 0;
  }

  /** When to send again after a 429: `Retry-After` (seconds), else the budget's reset, else a minute. */
  private retryAt(h: Headers): number {
    const now = this.o.clock.now();
    const after = Number(h.get('retry-after'));
    if (h.get('retry-after') !== null && Number.isFinite(after)) return now + after * this.unitMs;
    const reset = Number(h.get('ratelimit-reset') ?? h.get('x-ratelimit-reset'));
    if (Number.isFinite(reset) && reset * 1000 > now) return reset * 1000;
    return now + 60 * this.unitMs;
  }
}
