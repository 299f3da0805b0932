/**
 * GitLab provider against the GitLab API double (replies checked against the
 * description derived from GitLab's docs after every test).
 */
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidKey, KeyInUse, NotFoundOrNoAdmin, NotReadOnly, RateLimited, Transient, Unauthorized } from '../../scripts/lib/forge/errors.js';
import { GitlabForge, type GitlabForgeOptions } from '../../scripts/lib/forge/gitlab.js';
import { findByFingerprint } from '../../scripts/lib/forge/register.js';
import { startGitlabApiDouble, type GitlabApiDouble } from '../doubles/gitlab-api.js';
import { validateExamples, validateGitlabResponses } from '../doubles/gitlab-schema.js';
import { repoConfig, testPublicKey } from './fixtures.js';

const app = repoConfig('git@gitlab.example.com:acme/app.git');
const nested = repoConfig('ssh://git@gitlab.example.com:2222/acme/platform/nix-config.git');
let gl: GitlabApiDouble;

const forge = (extra: Partial<GitlabForgeOptions> = {}) =>
  new GitlabForge({ apiUrl: gl.url, token: gl.token, tokenEnv: 'GITLAB_TEST_TOKEN', keyLifetimeDays: 97, retryBaseMs: 2, retryAfterUnitMs: 20, ...extra });
const add = (f: GitlabForge, repo = app, key = testPublicKey().line) => f.add(repo, { title: `web-01-${repo.name}-deploy`, publicKey: key, readOnly: true, host: 'web-01' });

beforeEach(async () => {
  gl = await startGitlabApiDouble();
  gl.addProject('acme/app');
  gl.addProject('acme/platform/nix-config');
  gl.addProject('acme/other');
});
afterEach(async () => {
  expect(validateGitlabResponses(gl.responses)).toEqual([]);
  await gl.close();
});

describe('the GitLab description', () => {
  it("accepts the replies GitLab's documentation quotes", () => {
    expect(validateExamples()).toEqual([]);
  });
});

describe('gitlab provider', () => {
  it('adds with can_push false and expires_at from the rotation policy, lists with audit fields, removes (twice)', async () => {
    const f = forge();
    const k = testPublicKey('web-01-app-deploy');
    const added = await add(f, app, k.line);
    expect(added).toMatchObject({ status: 'registered', fingerprint: k.fingerprint, readOnly: true, title: 'web-01-app-deploy', lastUsed: null });
    const post = gl.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe('/api/v4/projects/acme%2Fapp/deploy_keys');
    expect(post.privateToken).toBe(gl.token);
    expect(post.body).toMatchObject({ title: 'web-01-app-deploy', key: k.line.split(' ').slice(0, 2).join(' '), can_push: false });
    const expires = Date.parse((post.body as { expires_at: string }).expires_at);
    expect(Math.round((expires - Date.now()) / 86_400_000)).toBe(97);
    expect(added.expiresAt).toBe(new Date(expires).toISOString());

    gl.touch(Number(added.id));
    const listed = await f.list(app);
    expect(listed.map((x) => x.id)).toEqual([added.id]);
    expect(listed[0]!.lastUsed).toMatch(/^\d{4}-/);
    await f.remove(app, added.id);
    await f.remove(app, added.id);
    expect(gl.keysOf('acme/app')).toEqual([]);
  });

  it('nested groups: the full project path is the URL-encoded :id', async () => {
    const f = forge();
    await add(f, nested);
    expect(gl.requests.at(-1)!.path).toBe('/api/v4/projects/acme%2Fplatform%2Fnix-config/deploy_keys');
    expect(gl.keysOf('acme/platform/nix-config')).toHaveLength(1);
  });

  it('lists every page (per_page 100, X-Next-Page)', async () => {
    const f = forge();
    for (let i = 0; i < 130; i++) await add(f);
    const before = gl.countRequests('GET');
    expect(await f.list(app)).toHaveLength(130);
    expect(gl.countRequests('GET') - before).toBe(2);
  });

  it('the same key again is the same registration; a reply lost after the create is adopted, never added twice', async () => {
    const f = forge();
    const k = testPublicKey();
    const a = await add(f, app, k.line);
    expect((await add(f, app, k.line)).id).toBe(a.id);
    gl.cutNext(1, 'POST');
    const k2 = testPublicKey();
    const b = await add(f, app, k2.line);
    expect(b.fingerprint).toBe(k2.fingerprint);
    expect(gl.keysOf('acme/app')).toHaveLength(2);
    expect(gl.countRequests('POST')).toBe(3);
  });

  it('5xx: GET retried with backoff; a create is looked up, not resent blindly; persistent 5xx is Transient', async () => {
    const f = forge();
    gl.failNext(2, 502, 'GET');
    expect(await f.list(app)).toEqual([]);
    gl.failNext(1, 503, 'POST');
    await add(f);
    expect(gl.keysOf('acme/app')).toHaveLength(1);
    gl.failNext(100, 502);
    await expect(forge({ retries: 1 }).list(app)).rejects.toBeInstanceOf(Transient);
  });

  it('a reply with can_push true: the link is removed again and the add fails', async () => {
    gl.ignoreCanPushNext(1);
    const err = await add(forge()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotReadOnly);
    expect((err as NotReadOnly).deleted).toBe(true);
    expect(gl.keysOf('acme/app')).toEqual([]);
  });

  it('401, 403 and 404 are never retried; 400s map to KeyInUse and InvalidKey', async () => {
    const bad = forge({ token: 'glpat-revoked' });
    const e401 = await bad.list(app).catch((e: unknown) => e);
    expect(e401).toBeInstanceOf(Unauthorized);
    expect((e401 as Unauthorized).oneLine()).toMatch(/\$GITLAB_TEST_TOKEN/);
    expect(gl.requests).toHaveLength(1);
    gl.addToken('glpat-guest', { username: 'guest', maintainerOf: [], guestOf: ['acme/app'] });
    const e403 = await forge({ token: 'glpat-guest' }).list(app).catch((e: unknown) => e);
    expect(e403).toBeInstanceOf(NotFoundOrNoAdmin);
    expect((e403 as NotFoundOrNoAdmin).oneLine()).toMatch(/403|forbidden.*Maintainer role/i);
    await expect(forge().list(repoConfig('git@gitlab.example.com:acme/missing.git'))).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    expect(gl.requests).toHaveLength(3);
    const user = testPublicKey();
    gl.userKeys.add(user.line.split(' ').slice(0, 2).join(' '));
    await expect(add(forge(), app, user.line)).rejects.toBeInstanceOf(KeyInUse);
    gl.replyNext(1, 400, { message: { key: ['is invalid'], fingerprint_sha256: ['cannot be generated'] } }, 'POST');
    const inv = await add(forge()).catch((e: unknown) => e);
    expect(inv).toBeInstanceOf(InvalidKey);
    expect((inv as InvalidKey).oneLine()).toMatch(/of host web-01 on acme\/app/);
    expect(gl.keysOf('acme/app')).toEqual([]);
  });

  it('429 with Retry-After: waited out and sent again (a create too); longer than tolerated: RateLimited', async () => {
    const f = forge();
    gl.rateLimitNext(1, 2, 'GET');
    expect(await f.list(app)).toEqual([]);
    gl.rateLimitNext(1, 1, 'POST');
    await add(f);
    expect(gl.keysOf('acme/app')).toHaveLength(1);
    expect(gl.countRequests('POST')).toBe(2);
    gl.rateLimitNext(1, 3600, 'GET');
    const err = await forge({ maxRateLimitWaitMs: 1000 }).list(app).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimited);
    expect((err as RateLimited).retryAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
  });

  it('RateLimit-Remaining 0: the next request waits for the reset instead of drawing a 429', async () => {
    await gl.close();
    gl = await startGitlabApiDouble({ requestsPerWindow: 3, windowMs: 1500 });
    gl.addProject('acme/app');
    const f = forge();
    for (let i = 0; i < 3; i++) await add(f);
    expect(gl.responses.at(-1)!.headers['ratelimit-remaining']).toBe('0');
    expect(await f.list(app)).toHaveLength(3);
    expect(gl.responses.map((r) => r.status)).toEqual([201, 201, 201, 200]);
  });

  it('one key enabled on two projects: DELETE only unlinks it from one; it is gone once unlinked everywhere', async () => {
    const f = forge();
    const k = await add(f, app);
    gl.enableElsewhere(Number(k.id), 'acme/other');
    const other = repoConfig('git@gitlab.example.com:acme/other.git');
    expect((await findByFingerprint(f, other, k.fingerprint))?.id).toBe(k.id);
    await f.remove(app, k.id);
    expect(gl.keyExists(Number(k.id))).toBe(true);
    await f.remove(other, k.id);
    expect(gl.keyExists(Number(k.id))).toBe(false);
  });

  it('no token in any error', async () => {
    const errors = [await forge({ token: 'glpat-revoked' }).list(app).catch((e: unknown) => e)];
    gl.failNext(10, 503);
    errors.push(await forge({ retries: 1 }).list(app).catch((e: unknown) => e));
    errors.push(await new GitlabForge({ apiUrl: 'http://127.0.0.1:1', token: gl.token, tokenEnv: 'T', keyLifetimeDays: 1, retries: 0 }).list(app).catch((e: unknown) => e));
    for (const e of errors) {
      expect(e).toBeInstanceOf(Error);
      expect(inspect(e, { depth: Infinity, showHidden: true })).not.toContain(gl.token);
      expect(inspect(e, { depth: Infinity, showHidden: true })).not.toContain('glpat-revoked');
    }
  });
});
