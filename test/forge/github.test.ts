import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DeployKeysDisabled,
  KeyInUse,
  NotFoundOrNoAdmin,
  NotReadOnly,
  RateLimited,
  Transient,
  Unauthorized,
} from '../../scripts/lib/forge/errors.js';
import { findByFingerprint } from '../../scripts/lib/forge/register.js';
import { createGithubForge, type GithubForge, type GithubCommonOptions } from '../../scripts/lib/forge/github.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import { collectWarnings, githubTokenForge, repoConfig, testPublicKey } from './fixtures.js';

const app = repoConfig('acme/app');
const other = repoConfig('acme/other');

let gh: GithubApiDouble;
let warnings: ReturnType<typeof collectWarnings>;

function forge({ token = gh.token, ...extra }: Partial<GithubCommonOptions> & { token?: string } = {}): Promise<GithubForge> {
  return githubTokenForge(gh.url, token, warnings.warn, extra);
}

beforeEach(async () => {
  gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  gh.addRepo('acme/app');
  gh.addRepo('acme/other');
  warnings = collectWarnings();
});

afterEach(async () => {
  // Every reply the double gave must match GitHub's OpenAPI description.
  expect(validateAll(gh.responses)).toEqual([]);
  await gh.close();
});

describe('github provider: happy path', () => {
  it('adds a read-only key, lists it with audit fields, removes it', async () => {
    const f = await forge();
    const k = testPublicKey('web-01-app-deploy');
    const added = await f.add(app, { title: 'web-01-app-deploy', publicKey: k.line, readOnly: true, host: 'web-01' });
    expect(added).toMatchObject({ status: 'registered', title: 'web-01-app-deploy', fingerprint: k.fingerprint, readOnly: true, enabled: true, lastUsed: null, addedBy: 'octo-app[bot]', addedByUser: false, verified: true });
    expect(added.id).toMatch(/^\d+$/);
    expect(added.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const post = gh.requests.find((r) => r.method === 'POST')!;
    expect(post.headers['x-github-api-version']).toBe('2022-11-28');
    expect(post.body).toEqual({ title: 'web-01-app-deploy', key: k.line.split(' ').slice(0, 2).join(' '), read_only: true });

    const listed = await f.list(app);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.fingerprint).toBe(k.fingerprint);
    expect(await findByFingerprint(f, app, k.fingerprint)).toMatchObject({ id: added.id });
    expect(await findByFingerprint(f, other, k.fingerprint)).toBeUndefined();

    await f.remove(app, added.id);
    expect(gh.keys('acme/app')).toEqual([]);
    // Already gone: still success.
    await f.remove(app, added.id);
    expect(await f.list(app)).toEqual([]);
  });

  it('adding the same key to the same repo again adopts the registration (idempotent)', async () => {
    const f = await forge();
    const k = testPublicKey();
    const a = await f.add(app, { title: 't1', publicKey: k.line, readOnly: true });
    const b = await f.add(app, { title: 'another title', publicKey: k.line, readOnly: true });
    expect(b.id).toBe(a.id);
    expect(gh.keys('acme/app')).toHaveLength(1);
  });

  it('lists every page when a repo has more than 100 keys', async () => {
    for (let i = 0; i < 235; i++) gh.seedKey('acme/app', { key: testPublicKey().line, title: `k${i}` });
    const f = await forge();
    const all = await f.list(app);
    expect(all).toHaveLength(235);
    expect(new Set(all.map((k) => k.id)).size).toBe(235);
    expect(all.map((k) => k.title)).toEqual(Array.from({ length: 235 }, (_, i) => `k${i}`));
    const gets = gh.requests.filter((r) => r.method === 'GET' && r.route === '/repos/{owner}/{repo}/keys');
    expect(gets).toHaveLength(3);
    expect(gets[0]!.path).toContain('per_page=100');
  });
});

describe('github provider: faults', () => {
  it('502 then success: retried with backoff', async () => {
    const f = await forge();
    gh.failNext(2, 502, 'GET');
    const t0 = Date.now();
    expect(await f.list(app)).toEqual([]);
    expect(gh.countRequests('GET')).toBe(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5 + 20); // (1²+2²)·5 ms
  });

  it('502 on create: retried, no duplicate', async () => {
    const f = await forge();
    gh.failNext(1, 502, 'POST');
    const k = testPublicKey();
    const added = await f.add(app, { title: 't', publicKey: k.line, readOnly: true });
    expect(added.fingerprint).toBe(k.fingerprint);
    expect(gh.keys('acme/app')).toHaveLength(1);
    expect(gh.countRequests('POST')).toBe(2);
  });

  it('persistent 5xx: Transient after the retries', async () => {
    const f = await forge({ retries: 2 });
    gh.failNext(100, 503);
    await expect(f.list(app)).rejects.toBeInstanceOf(Transient);
    expect(gh.countRequests('GET')).toBe(3);
  });

  it('secondary limit with retry-after: waits and succeeds', async () => {
    const f = await forge();
    gh.secondaryNext(1, 1, 'POST', 429);
    const t0 = Date.now();
    const added = await f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true });
    expect(added.readOnly).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(gh.countRequests('POST')).toBe(2);
    expect(warnings.messages.join('\n')).toMatch(/secondary rate limit/);
  });

  it('secondary limit beyond the tolerated wait: RateLimited with retryAt', async () => {
    const f = await forge({ maxRateLimitWaitMs: 500 });
    gh.secondaryNext(1, 120, 'POST', 403);
    const err = await f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true, host: 'web-01' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).retryAt.getTime()).toBeGreaterThan(Date.now() + 100_000);
    expect((err as RateLimited).message).toMatch(/web-01.*acme\/app/);
  });

  it('primary limit exhausted: waits for x-ratelimit-reset, then succeeds', async () => {
    const f = await forge();
    gh.exhaustPrimary(gh.token, 300);
    const t0 = Date.now();
    expect(await f.list(app)).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('401: no retry, clear message naming the variable, never the token', async () => {
    const f = await createGithubForge({ apiUrl: gh.url, token: 'ghp_secretsecret', tokenEnv: 'GH_TEST_TOKEN', writesPerMinute: 0, writesPerHour: 0, retryBaseMs: 5, warn: warnings.warn });
    const k = testPublicKey();
    const err = await f.add(app, { title: 't', publicKey: k.line, readOnly: true, host: 'web-01' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unauthorized);
    const e = err as Unauthorized;
    expect(e.oneLine()).toMatch(/401/);
    expect(e.oneLine()).toContain('$GH_TEST_TOKEN');
    expect(e.oneLine()).toContain(k.fingerprint);
    expect(e.oneLine()).not.toContain('secretsecret');
    expect(gh.requests).toHaveLength(1);
    await expect(f.list(app)).rejects.toBeInstanceOf(Unauthorized);
    expect(gh.requests.map((r) => `${r.method} ${r.route}`)).toEqual(["POST /repos/{owner}/{repo}/keys", "GET /repos/{owner}/{repo}/keys"]);
  });

  it('network cut mid-POST after the key was created: retried, no duplicate key', async () => {
    const f = await forge();
    gh.cutNext(1, 'POST');
    const k = testPublicKey();
    const added = await f.add(app, { title: 't', publicKey: k.line, readOnly: true });
    const stored = gh.keys('acme/app');
    expect(stored).toHaveLength(1);
    expect(added.id).toBe(String(stored[0]!.id));
    expect(added.fingerprint).toBe(k.fingerprint);
    // It looked before adding again: exactly one POST reached the server.
    expect(gh.countRequests('POST')).toBe(1);
  });

  it('network cut mid-DELETE: retried, the key is gone and remove succeeds', async () => {
    const f = await forge();
    const added = await f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true });
    gh.cutNext(1, 'DELETE');
    await f.remove(app, added.id);
    expect(gh.keys('acme/app')).toEqual([]);
  });

  it('422 key in use (same key on another repo): KeyInUse naming host, repo and key', async () => {
    const f = await forge();
    const k = testPublicKey();
    await f.add(other, { title: 'x', publicKey: k.line, readOnly: true });
    const err = await f.add(app, { title: 'web-01-app-deploy', publicKey: k.line, readOnly: true, host: 'web-01' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyInUse);
    expect((err as KeyInUse).oneLine()).toMatch(new RegExp(`key ${k.fingerprint.replace(/[+/]/g, '\\$&')} of host web-01 on acme/app`));
    expect((err as KeyInUse).hint).toBeTruthy();
    expect(gh.keys('acme/app')).toEqual([]);
  });

  it('policy: DeployKeysDisabled', async () => {
    gh.setDeployKeysDisabled('acme/app', true);
    const f = await forge();
    await expect(f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true })).rejects.toBeInstanceOf(DeployKeysDisabled);
  });

  it('404 (missing repo or token without admin): NotFoundOrNoAdmin', async () => {
    gh.addToken('limited', { login: 'bob', adminRepos: ['acme/other'] });
    const f = await forge();
    const missing = repoConfig('acme/missing');
    await expect(f.list(missing)).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    await expect(f.add(missing, { title: 't', publicKey: testPublicKey().line, readOnly: true })).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    await expect(f.remove(missing, '12345')).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    const limited = await forge({ token: 'limited' });
    await expect(limited.list(app)).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    expect(await limited.list(other)).toEqual([]);
  });

  it('a reply with read_only: false: the key is deleted and the add fails', async () => {
    const f = await forge();
    gh.ignoreReadOnlyNext(1);
    const err = await f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotReadOnly);
    expect((err as NotReadOnly).deleted).toBe(true);
    expect(gh.keys('acme/app')).toEqual([]);
  });

  it('refuses a private key or garbage as public key, without quoting it', async () => {
    const f = await forge();
    const err = await f.add(app, { title: 't', publicKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n', readOnly: true }).catch((e: unknown) => e);
    expect((err as Error).message).not.toContain('b3BlbnNzaC1rZXktdjEAAAAA');
    expect((err as { code?: string }).code).toBe('InvalidKey');
    expect(gh.requests).toHaveLength(0);
  });
});

describe('github provider: write rate limit', () => {
  it('keeps writes ≤ N per (shortened) minute across concurrent adds', async () => {
    await gh.close();
    gh = await startGithubApiDouble({ minuteMs: 400, hourMs: 60_000, writesPerMinute: 5, writesPerHour: 1000 });
    gh.addRepo('acme/app');
    const f = await forge({ writesPerMinute: 5, writesPerHour: 1000, minuteMs: 400, hourMs: 60_000 });
    const keys = Array.from({ length: 12 }, () => testPublicKey());
    const t0 = Date.now();
    await Promise.all(keys.map((k, i) => f.add(app, { title: `h${i}`, publicKey: k.line, readOnly: true })));
    expect(gh.keys('acme/app')).toHaveLength(12);
    expect(gh.maxWritesInWindow(400)).toBeLessThanOrEqual(5);
    expect(gh.limitViolations).toBe(0);
    // 12 writes at 5 per 400 ms need at least two full windows.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
  });
});

describe('github provider: preflight', () => {
  it('reports token, repos, budget, and what cannot be checked', async () => {
    gh.setDeployKeysDisabled('acme/other', true);
    gh.seedKey('acme/other', { key: testPublicKey().line, title: 'old' });
    const f = await forge();
    const r = await f.preflight([app, other]);
    expect(r.ok).toBe(true);
    expect(r.repos.map((x) => [x.repo, x.ok, x.keys?.length])).toEqual([['app', true, 0], ['other', true, 1]]);
    expect(r.rateLimit?.limit).toBe(5000);
    expect(r.warnings.join('\n')).toMatch(/acme\/other: 1 deploy key\(s\) are disabled by policy/);
    expect(r.notChecked.join('\n')).toMatch(/policy/);
    expect(r.checked.length).toBeGreaterThan(0);
  });

  it('fails on a bad token and on an unreachable repo', async () => {
    const bad = await forge({ token: 'nope' });
    const r1 = await bad.preflight([app]);
    expect(r1.ok).toBe(false);
    expect(r1.error).toBeInstanceOf(Unauthorized);
    const f = await forge();
    const r2 = await f.preflight([app, repoConfig('acme/missing')]);
    expect(r2.ok).toBe(false);
    expect(r2.repos[1]!.error).toBeInstanceOf(NotFoundOrNoAdmin);
  });

  it('warns about classic PAT and OAuth tokens, not about App installation tokens', async () => {
    for (const [token, warned] of [['ghp_abc', true], ['gho_abc', true], ['ghs_abc', false]] as const) {
      gh.addToken(token, { login: 'x', adminRepos: 'all' });
      const f = await forge({ token });
      const r = await f.preflight([app]);
      expect(r.warnings.some((w) => w.includes('deletes the deploy keys'))).toBe(warned);
      expect(r.warnings.join('')).not.toContain(token);
    }
  });
});
