import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidKey, KeyInUse, type ForgeError, NotFoundOrNoAdmin, NotReadOnly, TitleInUse, Transient, Unauthorized } from '../../scripts/lib/forge/errors.js';
import { GiteaForge } from '../../scripts/lib/forge/gitea.js';
import { GiteaApiDouble } from '../doubles/gitea-api.js';
import { repoConfig, testPublicKey } from './fixtures.js';

const app = repoConfig('git@git.example.com:acme/app.git');
let gt: GiteaApiDouble;
const forge = (token = gt.token, extra: Partial<ConstructorParameters<typeof GiteaForge>[0]> = {}) =>
  new GiteaForge({ apiUrl: gt.url, token, tokenEnv: 'GITEA_TEST_TOKEN', retryBaseMs: 2, ...extra });

beforeEach(async () => {
  gt = await GiteaApiDouble.start();
  gt.addRepo('acme/app');
});
afterEach(async () => {
  await gt.close();
});

describe('gitea provider', () => {
  it('adds read-only with token auth, lists, removes (twice)', async () => {
    const f = forge();
    const k = testPublicKey('c');
    const added = await f.add(app, { title: 'web-01-app-deploy', publicKey: k.line, readOnly: true });
    expect(added).toMatchObject({ fingerprint: k.fingerprint, readOnly: true, title: 'web-01-app-deploy' });
    const post = gt.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe('/api/v1/repos/acme/app/keys');
    expect(post.authorization).toBe(`token ${gt.token}`);
    expect(post.body).toMatchObject({ read_only: true, title: 'web-01-app-deploy' });
    expect((await f.list(app)).map((x) => x.id)).toEqual([added.id]);
    await f.remove(app, added.id);
    await f.remove(app, added.id);
    expect(gt.keys('acme/app')).toEqual([]);
  });

  it('lists all pages', async () => {
    for (let i = 0; i < 120; i++) gt.seedKey('acme/app', testPublicKey().line, `k${i}`);
    const all = await forge().list(app);
    expect(all).toHaveLength(120);
    expect(gt.requests.filter((r) => r.method === 'GET')).toHaveLength(3);
  });

  it('maps 422s: duplicate title → TitleInUse, user key → KeyInUse, invalid → InvalidKey; same key again → adopted', async () => {
    const f = forge();
    const k = testPublicKey();
    const a = await f.add(app, { title: 't', publicKey: k.line, readOnly: true });
    expect((await f.add(app, { title: 'other', publicKey: k.line, readOnly: true })).id).toBe(a.id);
    await expect(f.add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true })).rejects.toBeInstanceOf(TitleInUse);
    const u = testPublicKey();
    gt.userKeys.add(u.line.split(' ').slice(0, 2).join(' '));
    await expect(f.add(app, { title: 'u', publicKey: u.line, readOnly: true })).rejects.toBeInstanceOf(KeyInUse);
    await expect(f.add(app, { title: 'x', publicKey: 'ssh-ed25519 AAAA', readOnly: true })).rejects.toBeInstanceOf(InvalidKey);
  });

  it('maps every 422 message Gitea sends on create (routers/api/v1/repo/key.go)', async () => {
    const f = forge();
    const cases: [string, string][] = [
      ['This key has already been added to this repository', 'KeyInUse'],
      ['Key content has been used as non-deploy key', 'KeyInUse'],
      ['Key title has been used', 'TitleInUse'],
      ['A key with the same name already exists', 'TitleInUse'],
      ['Invalid key content: no key found', 'InvalidKey'],
      ['Unable to verify key content', 'InvalidKey'],
      ['SSH is disabled', 'ForgeFailure'],
    ];
    for (const [message, code] of cases) {
      gt.replyNext(1, 422, message, 'POST');
      const e = (await f.add(app, { title: 'web-01-app-deploy', publicKey: testPublicKey().line, readOnly: true, host: 'web-01' }).catch((x: unknown) => x)) as ForgeError;
      expect([message, e.code]).toEqual([message, code]);
      expect(e.oneLine()).toMatch(/of host web-01 on acme\/app/);
    }
    expect(gt.keys('acme/app')).toEqual([]);
  });

  it('401 not retried; 404 → NotFoundOrNoAdmin', async () => {
    await expect(forge('bad').list(app)).rejects.toBeInstanceOf(Unauthorized);
    expect(gt.requests).toHaveLength(1);
    await expect(forge().list(repoConfig('git@git.example.com:acme/nope.git'))).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    const r = await forge('bad').preflight([app]);
    expect(r.ok).toBe(false);
    expect(r.error).toBeInstanceOf(Unauthorized);
  });

  it('5xx retried; network cut mid-POST → no duplicate; persistent 5xx → Transient', async () => {
    const f = forge();
    gt.failNext(2, 502, 'GET');
    expect(await f.list(app)).toEqual([]);
    gt.cutNext(1);
    const k = testPublicKey();
    const added = await f.add(app, { title: 't', publicKey: k.line, readOnly: true });
    expect(gt.keys('acme/app')).toHaveLength(1);
    expect(added.fingerprint).toBe(k.fingerprint);
    expect(gt.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    gt.failNext(100);
    await expect(forge(gt.token, { retries: 1 }).list(app)).rejects.toBeInstanceOf(Transient);
  });

  it('read_only ignored by the server → key deleted, NotReadOnly', async () => {
    gt.ignoreReadOnlyNext(1);
    await expect(forge().add(app, { title: 't', publicKey: testPublicKey().line, readOnly: true })).rejects.toBeInstanceOf(NotReadOnly);
    expect(gt.keys('acme/app')).toEqual([]);
  });
});
