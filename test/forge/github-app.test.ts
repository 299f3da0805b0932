/**
 * GitHub App authentication against the API double: JWTs signed with the
 * App's key and verified by the double, installation discovery per owner,
 * token minting, refresh before expiry during a long run, a revoked
 * installation (401, never retried), missing permissions, and no secret in
 * any error.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppNotInstalled, ForgeFailure, NotFoundOrNoAdmin, Unauthorized } from '../../scripts/lib/forge/errors.js';
import { readAppPrivateKey } from '../../scripts/lib/forge/github-auth.js';
import { createGithubForge, type GithubAppOptions, type GithubCommonOptions, type GithubForge } from '../../scripts/lib/forge/github.js';
import { startGithubApiDouble, type AppSpec, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import { collectWarnings, repoConfig, testPublicKey } from './fixtures.js';

const acme = repoConfig('acme/app');
const acmeOther = repoConfig('acme/other');
const beta = repoConfig('beta/tools');
const MINTS = '/app/installations/{installation_id}/access_tokens';
const DISCOVER = '/repos/{owner}/{repo}/installation';

let gh: GithubApiDouble;
let app: AppSpec;
let offset: number;
const clock = { now: () => Date.now() + offset, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms))) };

async function forge(extra: Partial<GithubAppOptions> = {}, common: Partial<GithubCommonOptions> = {}): Promise<GithubForge> {
  return createGithubForge({
    apiUrl: gh.url,
    app: { appId: app.id, privateKey: app.privateKeyPem, ...extra },
    writesPerMinute: 0,
    writesPerHour: 0,
    retryBaseMs: 5,
    clock,
    warn: collectWarnings().warn,
    ...common,
  });
}

const add = (f: GithubForge, repo = acme, host = 'web-01') => f.add(repo, { title: `${host}-${repo.name}-deploy`, publicKey: testPublicKey().line, readOnly: true, host });

beforeEach(async () => {
  offset = 0;
  gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0, tokenClock: () => clock.now() });
  for (const r of ['acme/app', 'acme/other', 'beta/tools']) gh.addRepo(r);
  app = gh.addApp({ slug: 'fleet-keys' });
});

afterEach(async () => {
  // Every reply, App routes included, must match GitHub's OpenAPI description.
  expect(validateAll(gh.responses)).toEqual([]);
  await gh.close();
});

describe('GitHub App: installation tokens', () => {
  it('finds the installation per owner with a JWT the double verifies, mints one token per installation, uses it for that owner only', async () => {
    const acmeId = gh.addInstallation(app, 'acme');
    const betaId = gh.addInstallation(app, 'beta');
    const f = await forge();
    const a = await add(f, acme);
    await add(f, acmeOther);
    await add(f, beta);
    expect(a).toMatchObject({ addedBy: 'fleet-keys[bot]', addedByUser: false, readOnly: true });
    // One discovery and one mint per owner, however many repos it has.
    expect(gh.requests.filter((r) => r.route === DISCOVER).map((r) => r.path)).toEqual(['/repos/acme/app/installation', '/repos/beta/tools/installation']);
    expect(gh.mints.map((m) => m.installationId)).toEqual([acmeId, betaId]);
    for (const r of gh.requests.filter((x) => x.route === DISCOVER || x.route === MINTS)) expect(r.headers.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    // Deploy-key requests carry installation tokens, never the JWT.
    const keyRequests = gh.requests.filter((r) => r.route.startsWith('/repos/{owner}/{repo}/keys'));
    expect(keyRequests.length).toBeGreaterThan(0);
    for (const r of keyRequests) expect(r.headers.authorization).toMatch(/^token ghs_/);
    const tokenOf = (p: string) => new Set(keyRequests.filter((r) => r.path.startsWith(p)).map((r) => r.headers.authorization));
    expect(tokenOf('/repos/acme/').size).toBe(1);
    expect([...tokenOf('/repos/acme/')][0]).not.toBe([...tokenOf('/repos/beta/')][0]);
  });

  it('with installation_id configured nothing is discovered', async () => {
    const id = gh.addInstallation(app, 'acme');
    await add(await forge({ installationId: id }));
    expect(gh.countRequests('GET', DISCOVER)).toBe(0);
    expect(gh.mints.map((m) => m.installationId)).toEqual([id]);
  });

  it('a long run mints a fresh token before the old one expires, and never sends an expired one', async () => {
    gh.addInstallation(app, 'acme');
    const f = await forge();
    await add(f);
    expect(gh.mints).toHaveLength(1);
    offset += 45 * 60_000; // 15 minutes left: still used
    await add(f);
    expect(gh.mints).toHaveLength(1);
    offset += 8 * 60_000; // 7 minutes left, under the 10-minute margin: minted again
    await add(f);
    await f.list(acme);
    expect(gh.mints).toHaveLength(2);
    offset += 60 * 60_000; // the first token is long dead; the run goes on with fresh ones
    await add(f);
    expect(gh.mints).toHaveLength(3);
    expect(gh.responses.filter((r) => r.status === 401)).toEqual([]);
  });

  it('a revoked installation: 401 on the next request, Unauthorized with what to do, never retried, nothing minted', async () => {
    const id = gh.addInstallation(app, 'acme');
    const f = await forge();
    await add(f);
    gh.revokeInstallation(id);
    for (const op of [() => f.list(acme), () => add(f), () => f.remove(acme, '1')]) {
      const before = gh.requests.length;
      const err = await op().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Unauthorized);
      expect((err as Unauthorized).oneLine()).toMatch(/GitHub App \d+.*401.*(uninstalled|suspended)/);
      expect(gh.requests.slice(before).map((r) => r.route)).toHaveLength(1);
    }
    expect(gh.mints).toHaveLength(1);
  });

  it('an owner without the App: AppNotInstalled; preflight says so before any key is made', async () => {
    gh.addInstallation(app, 'acme');
    const f = await forge();
    await expect(add(f, beta)).rejects.toBeInstanceOf(AppNotInstalled);
    const r = await f.preflight([acme, beta]);
    expect(r.ok).toBe(false);
    expect(r.repos.find((x) => x.repo === 'tools')?.error).toBeInstanceOf(AppNotInstalled);
    expect(r.repos.find((x) => x.repo === 'app')?.ok).toBe(true);
    expect(gh.countRequests('POST', '/repos/{owner}/{repo}/keys')).toBe(0);
  });

  it('preflight checks the key (GET /app), the budget, and that each installation grants Administration: write', async () => {
    gh.addInstallation(app, 'acme');
    gh.addInstallation(app, 'beta', { permissions: { administration: 'read', metadata: 'read' } });
    const f = await forge();
    const ok = await f.preflight([acme]);
    expect(ok.ok).toBe(true);
    expect(ok.checked.join('\n')).toMatch(/GitHub App \d+ \(fleet-keys\) accepts its private key[\s\S]*Administration: write/);
    expect(ok.notChecked.join('\n')).not.toMatch(/Administration/);
    expect(ok.rateLimit?.limit).toBeGreaterThan(0);
    const bad = await f.preflight([acme, beta]);
    expect(bad.ok).toBe(false);
    const e = bad.repos.find((x) => x.repo === 'tools')!.error!;
    expect(e).toBeInstanceOf(ForgeFailure);
    expect(e.oneLine()).toMatch(/grants Administration: read, deploy keys need write.*Read and write/);
    // Without the preflight, the create is refused once and not retried.
    await expect(add(f, beta)).rejects.toBeInstanceOf(NotFoundOrNoAdmin);
    expect(gh.countRequests('POST', '/repos/{owner}/{repo}/keys')).toBe(1);
  });

  it('a JWT signed with the wrong key: Unauthorized naming the App and the key file, one request', async () => {
    gh.addInstallation(app, 'acme');
    const other = gh.addApp();
    const f = await forge({ privateKey: other.privateKeyPem });
    const err = await f.list(acme).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unauthorized);
    expect((err as Unauthorized).oneLine()).toMatch(/GitHub App \d+'s JWT.*private_key_file/);
    expect(gh.requests).toHaveLength(1);
    const pre = await f.preflight([acme]);
    expect(pre.error).toBeInstanceOf(Unauthorized);
  });

  it('keys added by a person are flagged as token-bound, keys of Apps are not', async () => {
    gh.addInstallation(app, 'acme');
    gh.addToken('ghp_alicealicealice', { login: 'alice', adminRepos: 'all' });
    const pat = await createGithubForge({ apiUrl: gh.url, token: 'ghp_alicealicealice', tokenEnv: 'ALICE', writesPerMinute: 0, writesPerHour: 0, warn: collectWarnings().warn });
    await add(pat, acme, 'web-02');
    await add(await forge(), acme, 'web-03');
    const keys = await (await forge()).list(acme);
    expect(keys.map((k) => [k.title, k.addedBy, k.addedByUser])).toEqual([
      ['web-02-app-deploy', 'alice', true],
      ['web-03-app-deploy', 'fleet-keys[bot]', false],
    ]);
  });

  it('no token, JWT or private key in any error', async () => {
    const id = gh.addInstallation(app, 'acme');
    const f = await forge();
    await add(f);
    const minted = gh.requests.find((r) => r.route === '/repos/{owner}/{repo}/keys')!.headers.authorization!.slice('token '.length);
    const jwt = gh.requests.find((r) => r.route === DISCOVER)!.headers.authorization!.slice('bearer '.length);
    const errors: unknown[] = [];
    errors.push(await (await forge({ privateKey: gh.addApp().privateKeyPem })).list(acme).catch((e: unknown) => e));
    errors.push(await add(f, beta).catch((e: unknown) => e));
    gh.revokeInstallation(id);
    errors.push(await f.list(acme).catch((e: unknown) => e));
    const secrets = [minted, jwt.split('.')[2]!, app.privateKeyPem.split('\n')[1]!];
    for (const e of errors) {
      const text = inspect(e, { depth: Infinity, showHidden: true });
      for (const s of secrets) expect(text.includes(s), s).toBe(false);
    }
  });
});

describe('GitHub App: the private key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dk-app-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = (text: string, mode: number) => {
    const f = path.join(dir, `k${mode.toString(8)}.pem`);
    writeFileSync(f, text);
    chmodSync(f, mode);
    return { type: 'app' as const, appId: 1, privateKeyFile: f };
  };

  it('reads a 0600 RSA key (PKCS#1 as GitHub hands it out)', async () => {
    expect(await readAppPrivateKey(keyFile(app.privateKeyPem, 0o600))).toBe(app.privateKeyPem);
  });

  it('refuses a key others can read, a missing file, a non-key and a non-RSA key, never quoting the content', async () => {
    await expect(readAppPrivateKey(keyFile(app.privateKeyPem, 0o644))).rejects.toThrow(/readable by others \(mode 644\)/);
    await expect(readAppPrivateKey({ type: 'app', appId: 1, privateKeyFile: path.join(dir, 'missing.pem') })).rejects.toThrow(/cannot open \(ENOENT\)/);
    const garbage = 'not a key but a secret-looking value 0123456789';
    const e = await readAppPrivateKey(keyFile(garbage, 0o600)).catch((x: unknown) => x);
    expect(String(e)).toMatch(/does not hold a PEM private key/);
    expect(inspect(e, { depth: Infinity })).not.toContain('secret-looking');
    const { generateKeyPairSync } = await import('node:crypto');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await expect(readAppPrivateKey(keyFile(ed, 0o600))).rejects.toThrow(/holds a ed25519 key; GitHub Apps use RSA keys/);
  });
});
