/**
 * GitHub provider: what must never be retried, rate-limit errors that still
 * name host and repo, one write limiter for creates and deletes, and no token
 * anywhere in an error (cause chain included).
 */
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundOrNoAdmin, RateLimited, Transient, Unauthorized } from '../../scripts/lib/forge/errors.js';
import { createGithubForge, type GithubForge, type GithubCommonOptions } from '../../scripts/lib/forge/github.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import { collectWarnings, githubTokenForge, repoConfig, testPublicKey } from './fixtures.js';

const app = repoConfig('acme/app');
const TOKEN = 'ghs_S3cr3tT0kenValue0123456789abcdef';

let gh: GithubApiDouble;
let warnings: ReturnType<typeof collectWarnings>;

function forge({ token = TOKEN, ...extra }: Partial<GithubCommonOptions> & { token?: string } = {}): Promise<GithubForge> {
  return githubTokenForge(gh.url, token, warnings.warn, extra);
}

function catching(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

beforeEach(async () => {
  gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  gh.addRepo('acme/app');
  gh.addToken(TOKEN, { login: 'app[bot]', adminRepos: 'all' });
  warnings = collectWarnings();
});

afterEach(async () => {
  expect(validateAll(gh.responses)).toEqual([]);
  await gh.close();
});

describe('github provider: permanent answers are never retried', () => {
  it('403 "Resource not accessible by integration" (App without Administration write): NotFoundOrNoAdmin, one request each', async () => {
    const f = await forge();
    const seeded = gh.seedKey('acme/app', { key: testPublicKey().line, title: 'old' });
    const msg = 'Resource not accessible by integration';
    gh.replyNext(1, 403, msg, { method: 'POST' });
    const e1 = await catching(f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true, host: 'web-01' }));
    expect(e1).toBeInstanceOf(NotFoundOrNoAdmin);
    expect((e1 as NotFoundOrNoAdmin).status).toBe(403);
    expect((e1 as NotFoundOrNoAdmin).oneLine()).toMatch(/web-01 on acme\/app/);
    expect(gh.countRequests('POST')).toBe(1);

    gh.replyNext(1, 403, msg, { method: 'DELETE' });
    await expect(f.remove(app, String(seeded.id))).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    expect(gh.countRequests('DELETE')).toBe(1);

    gh.replyNext(1, 403, msg, { method: 'GET' });
    await expect(f.list(app)).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    expect(gh.countRequests('GET')).toBe(1);
    expect(gh.keys('acme/app')).toHaveLength(1);
  });

  it('401 on any method (token revoked mid-run): Unauthorized after exactly one request', async () => {
    const f = await forge();
    const seeded = gh.seedKey('acme/app', { key: testPublicKey().line, title: 'old' });
    for (const [method, op] of [
      ['GET', () => f.list(app)],
      ['DELETE', () => f.remove(app, String(seeded.id))],
      ['POST', () => f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true })],
    ] as const) {
      const before = gh.requests.length;
      gh.replyNext(1, 401, 'Bad credentials', { method });
      await expect(op()).rejects.toBeInstanceOf(Unauthorized);
      expect(gh.requests.slice(before).map((r) => r.method)).toEqual([method]);
    }
  });
});

describe('github provider: rate limits', () => {
  it('a primary limit beyond the tolerated wait is RateLimited naming host and repo, also once it is known', async () => {
    const f = await forge({ maxRateLimitWaitMs: 500 });
    gh.exhaustPrimary(TOKEN, 10 * 60_000);
    for (let i = 0; i < 2; i++) {
      const err = await catching(f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true, host: 'web-01' }));
      expect(err).toBeInstanceOf(RateLimited);
      expect((err as RateLimited).oneLine()).toMatch(/of host web-01 on acme\/app: primary rate limit/);
      expect((err as RateLimited).retryAt.getTime()).toBeGreaterThan(Date.now() + 5 * 60_000);
    }
    // The second add did not even ask: the known exhausted budget answered.
    expect(gh.requests).toHaveLength(1);
  });

  it('after a secondary limit longer than the tolerated wait, the next writes fail fast with RateLimited instead of hanging', async () => {
    const f = await forge({ maxRateLimitWaitMs: 500 });
    gh.secondaryNext(1, 120, 'POST', 403);
    await expect(f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true })).rejects.toBeInstanceOf(RateLimited);
    const t0 = Date.now();
    const err = await catching(f.add(app, { title: 'u', publicKey: testPublicKey().line, readOnly: true, host: 'web-02' }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).oneLine()).toMatch(/web-02 on acme\/app/);
    expect((err as RateLimited).retryAt.getTime()).toBeGreaterThan(Date.now() + 100_000);
    await expect(f.remove(app, '12345')).rejects.toBeInstanceOf(RateLimited);
    expect(gh.countRequests('POST')).toBe(1);
    expect(gh.countRequests('DELETE')).toBe(0);
  });

  it('creates and deletes share one write limiter (DELETE is content-changing too)', async () => {
    await gh.close();
    gh = await startGithubApiDouble({ minuteMs: 300, hourMs: 60_000, writesPerMinute: 4, writesPerHour: 1000 });
    gh.addRepo('acme/app');
    gh.addToken(TOKEN, { login: 'app[bot]', adminRepos: 'all' });
    const old = Array.from({ length: 6 }, (_, i) => gh.seedKey('acme/app', { key: testPublicKey().line, title: `old${i}` }));
    const f = await forge({ writesPerMinute: 4, writesPerHour: 1000, minuteMs: 300, hourMs: 60_000 });
    const fresh = Array.from({ length: 6 }, () => testPublicKey());
    await Promise.all([
      ...fresh.map((k, i) => f.add(app, { title: `new${i}`, publicKey: k.line, readOnly: true })),
      ...old.map((k) => f.remove(app, String(k.id))),
    ]);
    expect(gh.keys('acme/app').map((k) => k.title).sort()).toEqual(fresh.map((_, i) => `new${i}`).sort());
    expect(gh.writes).toHaveLength(12);
    expect(gh.maxWritesInWindow(300)).toBeLessThanOrEqual(4);
    expect(gh.limitViolations).toBe(0);
  });
});

describe('github provider: the token never appears in an error', () => {
  const leaks = (e: unknown): boolean => inspect(e, { depth: Infinity, showHidden: true }).includes(TOKEN.slice(4)) || JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).includes(TOKEN.slice(4));

  it('not for 401, 403, 404, 422, 5xx or a refused connection (cause chain included)', async () => {
    const f = await forge({ retries: 1 });
    const errors: unknown[] = [];
    gh.replyNext(1, 401, 'Bad credentials');
    errors.push(await catching(f.list(app)));
    gh.replyNext(1, 403, 'Resource not accessible by integration');
    errors.push(await catching(f.list(app)));
    errors.push(await catching(f.list(repoConfig('acme/missing'))));
    errors.push(await catching(f.add(app, { title: 't', publicKey: 'ssh-ed25519 AAAA', readOnly: true })));
    gh.failNext(10, 503);
    errors.push(await catching(f.list(app)));
    const closed = await createGithubForge({ apiUrl: 'http://127.0.0.1:1', token: TOKEN, tokenEnv: 'GH_TEST_TOKEN', writesPerMinute: 0, writesPerHour: 0, retries: 1, retryBaseMs: 1, warn: warnings.warn });
    const refused = await catching(closed.list(app));
    expect(refused).toBeInstanceOf(Transient);
    errors.push(refused);
    errors.push(await catching(closed.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true })));
    expect(errors).toHaveLength(7);
    for (const e of errors) expect(leaks(e)).toBe(false);
  });
});
