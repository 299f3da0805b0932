/**
 * Revoke with real SOPS files and the identity a host really has (converted
 * from its ssh host key, as sops-nix does): the host's old copies of its own
 * file and of a shared file open nothing revoke wrote, the other host keeps
 * its access, and the report names the values (never their contents).
 */
import { promises as fs } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { decryptFile } from '../../scripts/lib/sops/index.js';
import { startGithubApiDouble, type GithubApiDouble } from '../doubles/github-api.js';
import type { HostResultJson } from '../helpers/cli-json.js';
import { realSopsDecrypt, REAL_SOPS } from '../helpers/real-sops.js';
import { haveTools } from '../helpers/tools.js';
import { assertCutOff, dataKeyWith, fleetWithSharedSecrets, keyOpens } from './revoked-host.js';
import { Fleet, REPOS } from './world.js';

const fleets: { f: Fleet; gh: GithubApiDouble }[] = [];
afterEach(async () => {
  for (const { f, gh } of fleets.splice(0)) {
    await gh.close();
    f.cleanup();
  }
});

async function newFleet(): Promise<Fleet> {
  const gh = await startGithubApiDouble({ writesPerMinute: 0, writesPerHour: 0 });
  for (const full of Object.values(REPOS)) gh.addRepo(full);
  const f = await Fleet.create(gh);
  fleets.push({ f, gh });
  return f;
}

describe.skipIf(!haveTools('age', 'ssh-keygen'))('revoke rotates the data keys of what the host could read', () => {
  it("the host's old copies of its own file and of a shared file cannot decrypt what revoke wrote", async () => {
    const f = await newFleet();
    const { web01, web02, shared, before } = await fleetWithSharedSecrets(f);

    const dry = await f.cli(['revoke', 'web-01', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/re-encrypt .*shared\.yaml under a new data key/);
    expect(dry.stdout).toMatch(/sops\/shared\.yaml: \["db"\]\["user"\] \["db"\]\["password"\] \["api_tokens"\]\[0\] \["api_tokens"\]\[1\]/);
    expect(await fs.readFile(shared, 'utf8')).toBe(before.shared);

    const r = await f.cli(['revoke', 'web-01', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as HostResultJson;
    expect(res.exposed).toEqual([
      { file: 'sops/shared.yaml', values: ['["db"]["user"]', '["db"]["password"]', '["api_tokens"][0]', '["api_tokens"][1]'] },
      { file: 'sops/web-01.yaml', values: ['["wifi"]["psk"]'] },
    ]);
    expect(r.stdout).not.toMatch(/s3cret|correct horse|tok-1/);

    await assertCutOff(f, web01, shared, before, 'after revoke');
    // The other host and the operator still read the shared file, values unchanged.
    const asWeb02 = await decryptFile(shared, { env: { SOPS_AGE_KEY_FILE: web02.identityFile } });
    expect(asWeb02.extractText(['db', 'password'])).toBe('s3cret');
    expect((await f.decrypt('web-01')).wifi).toEqual({ psk: 'correct horse' });
  });

  it('--no-rotate-data-key: the old copies still open the new files (what the default prevents)', async () => {
    const f = await newFleet();
    const { web01, shared, before } = await fleetWithSharedSecrets(f);
    const r = await f.cli(['revoke', 'web-01', '--yes', '--no-rotate-data-key']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--no-rotate-data-key: .*shared\.yaml.*deploy-keys sops rotate --in-place FILE/);
    const now = await fs.readFile(shared, 'utf8');
    expect(dataKeyWith(now, web01)).toBeUndefined();
    expect(keyOpens(dataKeyWith(before.shared, web01)!, now, shared)).toBe(true);
  });

  it.skipIf(!haveTools(REAL_SOPS, 'openssl'))("the real sops with the host's own identity opens its old copies and nothing revoke wrote", async () => {
    const f = await newFleet();
    const { web01, web02, shared, before } = await fleetWithSharedSecrets(f);
    const identity = (await fs.readFile(web01.identityFile, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    // Control: before revoke the host's identity opens both files.
    expect(await realSopsDecrypt(before.shared, identity)).toMatchObject({ ok: true, json: { db: { password: 's3cret' } } });
    expect(await realSopsDecrypt(before.host, identity)).toMatchObject({ ok: true });
    const r = await f.cli(['revoke', 'web-01', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    for (const file of [shared, f.hostFile('web-01')]) {
      expect(await realSopsDecrypt(await fs.readFile(file, 'utf8'), identity), file).toMatchObject({ ok: false });
    }
    // The other host still reads the shared file with the real sops.
    const other = (await fs.readFile(web02.identityFile, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'))!;
    expect(await realSopsDecrypt(await fs.readFile(shared, 'utf8'), other)).toMatchObject({ ok: true, json: { db: { password: 's3cret' } } });
  });

  it('without an age identity: one clear line, nothing changed', async () => {
    const f = await newFleet();
    await fleetWithSharedSecrets(f);
    const keys = f.forgeKeys('web-01').length;
    const r = await f.cli(['revoke', 'web-01', '--yes'], { SOPS_AGE_KEY: undefined });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^deploy-keys: revoke web-01 .*needs your age identity, and none was found; nothing changed.*SOPS_AGE_KEY_FILE/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(f.forgeKeys('web-01')).toHaveLength(keys);
  });
});
