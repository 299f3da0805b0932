/**
 * The CLI with `forge.auth: { type: app }` against the GitHub API double:
 * keys a person registered with their token are flagged by audit as
 * token-bound, and `rotate --force` + `rotate --finish` re-register them
 * under the App; a key gone from the forge is blamed on its likeliest cause and
 * registered again after confirmation; a policy that disabled deploy keys is
 * named. No token, JWT or key reaches the output.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGithubApiDouble, type AppSpec, type GithubApiDouble } from '../doubles/github-api.js';
import { validateAll } from '../doubles/openapi.js';
import type { AuditJson } from '../helpers/cli-json.js';
import { Fleet } from '../lifecycle/world.js';

const ALICE = 'ghp_aliceTokenValue0123456789abcdef0123';
let gh: GithubApiDouble;
let app: AppSpec;
let fleet: Fleet;

const appAuth = (id: number) => `  auth:\n    type: app\n    app_id: ${id}\n    private_key_file: secrets/app.pem\n`;

beforeEach(async () => {
  gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  gh.addRepo('acme/nix-config');
  gh.addRepo('acme/dotfiles');
  app = gh.addApp({ slug: 'fleet-keys' });
  gh.addInstallation(app, 'acme');
  gh.addToken(ALICE, { login: 'alice', adminRepos: 'all' });
  fleet = await Fleet.create(gh);
  await fs.mkdir(path.join(fleet.dir, 'secrets'), { mode: 0o700 });
  await fs.writeFile(path.join(fleet.dir, 'secrets', 'app.pem'), app.privateKeyPem, { mode: 0o600 });
});

afterEach(async () => {
  expect(validateAll(gh.responses)).toEqual([]);
  await gh.close();
  fleet.cleanup();
});

async function useApp(): Promise<void> {
  const text = await fs.readFile(fleet.configFile, 'utf8');
  await fs.writeFile(fleet.configFile, text.replace('  token_env: GH_TOKEN\n', appAuth(app.id)));
}

describe('GitHub App through the CLI', () => {
  it('audit flags keys a person added with their token; rotate re-registers them under the App', async () => {
    const byAlice = await fleet.cli(['vm-fresh', 'web-01', '--yes'], { GH_TOKEN: ALICE });
    expect(byAlice.code, byAlice.stderr).toBe(0);
    expect(byAlice.stderr).toMatch(/classic personal access token.*GitHub App instead/);
    expect(fleet.forgeKeys('web-01').map((k) => gh.keys(`acme/${k.repo}`).find((x) => x.id === k.id)?.added_by)).toEqual(['alice', 'alice']);

    await useApp();
    const a1 = await fleet.cli(['audit', '--json'], { GH_TOKEN: '' });
    expect(a1.code).toBe(1);
    const { findings } = JSON.parse(a1.stdout) as AuditJson;
    expect(findings.map((f) => f.kind)).toEqual(['token-bound', 'token-bound']);
    expect(findings[0]!.message).toMatch(/added by user alice.*deploy-keys rotate web-01 --force/);

    const rot = await fleet.cli(['rotate', 'web-01', '--force', '--yes'], { GH_TOKEN: '' });
    expect(rot.code, rot.stderr).toBe(0);
    const fin = await fleet.cli(['rotate', '--finish', '--force', 'web-01', '--yes'], { GH_TOKEN: '' });
    expect(fin.code, fin.stderr).toBe(0);
    const now = fleet.forgeKeys('web-01');
    expect(now).toHaveLength(2);
    for (const k of now) expect(gh.keys(`acme/${k.repo}`).find((x) => x.id === k.id)?.added_by).toBe('fleet-keys[bot]');
    const a2 = await fleet.cli(['audit'], { GH_TOKEN: '' });
    expect(a2.code, a2.stdout).toBe(0);
    expect(gh.mints.length).toBeGreaterThan(0);

    // Nothing secret on any output.
    const minted = gh.requests.filter((r) => r.headers.authorization?.startsWith('token ghs_')).map((r) => r.headers.authorization!.slice(6));
    const all = [byAlice, a1, rot, fin, a2].map((r) => r.stdout + r.stderr).join('\n');
    for (const s of [ALICE, ...minted, app.privateKeyPem.split('\n')[1]!]) expect(all).not.toContain(s);
  });

  it('a key file others can read stops the run before anything is generated', async () => {
    await useApp();
    await fs.chmod(path.join(fleet.dir, 'secrets', 'app.pem'), 0o640);
    const r = await fleet.cli(['vm-fresh', 'web-01', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/private_key_file .*app\.pem: is readable by others \(mode 640\).*chmod 600/);
    await expect(fs.access(fleet.hostFile('web-01'))).rejects.toThrow();
    expect(gh.requests).toHaveLength(0);
  });
});

describe('a key that vanishes from the forge', () => {
  it('audit blames the token that added it, status lists it, vm-fresh registers the stored key again after confirmation', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--yes'], { GH_TOKEN: ALICE })).code).toBe(0);
    const stored = await fleet.storedFingerprints('web-01');
    const gone = fleet.forgeKeys('web-01').find((k) => k.repo === 'nix-config');
    expect(gone).toBeDefined();
    gh.deleteKey('acme/nix-config', gone!.id); // as GitHub does when alice's token is deleted

    const audit = await fleet.cli(['audit'], { GH_TOKEN: ALICE });
    expect(audit.code).toBe(1);
    expect(audit.stdout).toMatch(/^missing-on-forge: web-01: nix-config key \d+ \(SHA256:\S+\) is gone from the forge, most likely because the personal access or OAuth token of alice that added it was deleted or revoked/m);
    const status = await fleet.cli(['status'], { GH_TOKEN: ALICE });
    expect(status.stdout).toMatch(/^web-01: nix-config key SHA256:\S+ is gone from the forge/m);

    const unattended = await fleet.cli(['vm-fresh', 'web-01'], { GH_TOKEN: ALICE });
    expect(unattended.code).toBe(1);
    expect(unattended.stderr).toMatch(/would register read-only deploy key web-01-nix-config-deploy on nix-config .*again: it was registered and is gone from the forge.*stdin is not a terminal/);
    expect(gh.keys('acme/nix-config')).toHaveLength(0);

    expect((await fleet.cli(['vm-fresh', 'web-01', '--yes'], { GH_TOKEN: ALICE })).code).toBe(0);
    expect(await fleet.storedFingerprints('web-01')).toEqual(stored); // the same key, registered again
    expect(gh.keys('acme/nix-config')).toHaveLength(1);
    expect((await fleet.cli(['audit'], { GH_TOKEN: ALICE })).stdout).not.toMatch(/missing-on-forge/);
  });

  it('status names the policy that disabled a repo\'s deploy keys', async () => {
    expect((await fleet.cli(['vm-fresh', 'web-01', '--yes'], { GH_TOKEN: ALICE })).code).toBe(0);
    const before = await fleet.cli(['status'], { GH_TOKEN: ALICE });
    expect(before.stdout).not.toMatch(/DeployKeysDisabled/);
    gh.setDeployKeysDisabled('acme/dotfiles', true);
    const status = await fleet.cli(['status'], { GH_TOKEN: ALICE });
    expect(status.stdout).toMatch(/^dotfiles: the forge reports its deploy keys disabled \(DeployKeysDisabled: an organization or enterprise policy forbids deploy keys\)/m);
    expect(status.stdout).not.toMatch(/^nix-config: the forge reports/m);
  });
});
