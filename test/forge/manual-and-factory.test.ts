import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../scripts/lib/config/load.js';
import { createForge, deployKeySettingsUrl, ManualForge, type ForgeIO } from '../../scripts/lib/forge/index.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import { repoConfig, testPublicKey } from './fixtures.js';

function io(isTTY: boolean): ForgeIO & { out: () => string; stdinStream: PassThrough } {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let text = '';
  stdout.on('data', (d: Buffer) => (text += d.toString()));
  stderr.on('data', (d: Buffer) => (text += d.toString()));
  return { stdin, stdout, stderr, isTTY, out: () => text, stdinStream: stdin };
}

describe('manual provider', () => {
  it('settings URLs', () => {
    expect(deployKeySettingsUrl(repoConfig('acme/app'))).toBe('https://github.com/acme/app/settings/keys/new');
    expect(deployKeySettingsUrl(repoConfig('git@git.example.com:acme/app.git'))).toBe('https://git.example.com/acme/app/settings/keys');
    const nested = repoConfig('git@git.example.com:infra/nixos/app.git');
    expect(deployKeySettingsUrl(nested, 'gitlab')).toBe('https://git.example.com/infra/nixos/app/-/settings/repository#js-deploy-keys-settings');
    expect(deployKeySettingsUrl(repoConfig('git@gitlab.com:infra/nixos/app.git'))).toBe('https://gitlab.com/infra/nixos/app/-/settings/repository#js-deploy-keys-settings');
  });

  it('non-TTY: prints the checklist and returns pending', async () => {
    const t = io(false);
    const f = new ManualForge(t);
    const k = testPublicKey('comment-not-sent');
    const r = await f.add(repoConfig('acme/app'), { title: 'web-01-app-deploy', publicKey: k.line, readOnly: true, host: 'web-01' });
    expect(r).toMatchObject({ status: 'pending', fingerprint: k.fingerprint, userConfirmed: false, settingsUrl: 'https://github.com/acme/app/settings/keys/new' });
    expect(t.out()).toContain('https://github.com/acme/app/settings/keys/new');
    expect(t.out()).toContain('web-01-app-deploy');
    expect(t.out()).toContain(k.line.split(' ').slice(0, 2).join(' '));
    expect(t.out()).toContain(k.fingerprint);
    expect(t.out()).toMatch(/pending/);
    expect(await f.list(repoConfig('acme/app'))).toEqual([]);
  });

  it('TTY: waits for Enter', async () => {
    const t = io(true);
    const f = new ManualForge(t);
    let resolved = false;
    const p = f.add(repoConfig('acme/app'), { title: 't', publicKey: testPublicKey().line, readOnly: true }).then((r) => {
      resolved = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(resolved).toBe(false);
    expect(t.out()).toMatch(/press Enter when added/);
    t.stdinStream.write('\n');
    expect(await p).toMatchObject({ status: 'pending', userConfirmed: true });
  });
});

describe('createForge', () => {
  let gh: GithubApiDouble;
  beforeAll(async () => {
    gh = await startGithubApiDouble();
    gh.addRepo('acme/app');
  });
  afterAll(async () => {
    await gh.close();
  });
  const cfg = (forge: string) =>
    parseConfig(`forge:\n${forge}\nrepos:\n  app:\n    url: git@github.com:acme/app.git\n`, '/tmp/cfg/deploy-keys.yaml');

  it('github with a token → github provider that works against api_url', async () => {
    const f = await createForge(cfg(`  type: github\n  api_url: ${gh.url}\n  token_env: T`), { env: { T: gh.token }, io: io(false) });
    expect(f.kind).toBe('github');
    const k = testPublicKey();
    const added = await f.add(cfg('  type: manual').repos[0]!, { title: 't', publicKey: k.line, readOnly: true });
    expect(added).toMatchObject({ status: 'registered', fingerprint: k.fingerprint });
  });

  it('no token or --manual → manual; ssh → ssh', async () => {
    expect((await createForge(cfg(`  type: github\n  api_url: ${gh.url}\n  token_env: T`), { env: {}, io: io(false) })).kind).toBe('manual');
    expect((await createForge(cfg(`  type: github\n  api_url: ${gh.url}\n  token_env: T`), { env: { T: 'x' }, manual: true, io: io(false) })).kind).toBe('manual');
    expect((await createForge(cfg('  type: ssh\n  authorized_keys: /tmp/nope/authorized_keys'), { env: {}, io: io(false) })).kind).toBe('ssh');
    expect((await createForge(cfg('  type: gitea\n  api_url: https://git.example.com\n  token_env: G'), { env: { G: 'x' }, io: io(false) })).kind).toBe('gitea');
    expect((await createForge(cfg('  type: gitlab\n  token_env: L'), { env: { L: 'x' }, io: io(false) })).kind).toBe('gitlab');
  });

  it('gitlab without a token: the checklist points at the project\'s repository settings', async () => {
    const c = parseConfig('forge:\n  type: gitlab\n  api_url: https://code.example.org/api/v4\nrepos:\n  app:\n    url: git@code.example.org:infra/nixos/app.git\n', '/tmp/cfg/deploy-keys.yaml');
    const t = io(false);
    const f = await createForge(c, { env: {}, io: t });
    expect(f.kind).toBe('manual');
    await f.add(c.repos[0]!, { title: 'web-01-app-deploy', publicKey: testPublicKey().line, readOnly: true });
    expect(t.out()).toContain('https://code.example.org/infra/nixos/app/-/settings/repository#js-deploy-keys-settings');
  });
});
