/**
 * `sops rotate` (issue 10, "Revoke that finishes the job"): a host removed with
 * updatekeys that kept the old data key still opens the file; after a rotation
 * its copy of the old key opens nothing, while the remaining recipients, the age
 * CLI and the independent sops-age decoder read the rotated file.
 */
import { statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decryptSops } from 'sops-age';
import { parseDocument } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptFile, encryptedValuePaths, rotateDataKey, SopsNoIdentityError, SopsUnsupportedError, updateKeys } from '../../scripts/lib/sops/index.js';
import { decryptValue, parseEncValue } from '../../scripts/lib/sops/value-cipher.js';
import { haveTools } from '../helpers/tools.js';
import { ageCliDecrypt, ageKeygen, tempDir } from './helpers.js';
import type { AgeKey } from './helpers.js';

const PLAIN = `# fleet secrets
hosts:
    # web tier
    web1:
        deploy_key: |
            -----BEGIN OPENSSH PRIVATE KEY-----
            AAAA
            -----END OPENSSH PRIVATE KEY-----
        port: 22 # ssh
    list:
        - one
        - two
owner_unencrypted: ops-team
`;

/** Every ENC[…] in the file (values, comments, the MAC) with the AAD candidates it could use. */
function encStrings(text: string): string[] {
  return [...text.matchAll(/ENC\[AES256_GCM,[^\]]*\]/g)].map((m) => m[0]);
}

/** Whether `key` opens any of them under any AAD the file could use. */
function opensAny(key: Uint8Array, text: string): boolean {
  const meta = (parseDocument(text).toJS() as { sops: { lastmodified: string } }).sops;
  const aads = [':', 'hosts:', 'hosts:web1:', 'hosts:web1:deploy_key:', 'hosts:web1:port:', 'hosts:list:', meta.lastmodified];
  return encStrings(text).some((s) =>
    aads.some((aad) => {
      try {
        decryptValue(key, parseEncValue(s)!, aad);
        return true;
      } catch {
        return false;
      }
    }),
  );
}

const entryFor = (text: string, recipient: string): string =>
  (parseDocument(text).toJS() as { sops: { age: { recipient: string; enc: string }[] } }).sops.age.find((a) => a.recipient === recipient)!.enc;

describe.skipIf(!haveTools('age', 'age-keygen'))('rotating the data key', () => {
  let dir: string;
  let file: string;
  let operator: AgeKey;
  let host: AgeKey;
  let env: NodeJS.ProcessEnv;
  let oldKey: Buffer;

  beforeAll(async () => {
    dir = tempDir();
    operator = ageKeygen(dir, 'operator.txt');
    host = ageKeygen(dir, 'host.txt');
    env = { SOPS_AGE_KEY_FILE: operator.file };
    file = path.join(dir, 'web1.yaml');
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${operator.recipient},${host.recipient}\n`);
    writeFileSync(file, PLAIN, { mode: 0o640 });
    const { encryptFile } = await import('../../scripts/lib/sops/index.js');
    await encryptFile(file, { cwd: dir, env, inPlace: true });
    // The host keeps its data key, as a compromised host would.
    oldKey = ageCliDecrypt(entryFor(await readFile(file, 'utf8'), host.recipient), host.file);
    // Revoke: the host's recipient goes, the data key stays (that is what updatekeys does).
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${operator.recipient}\n`);
    await updateKeys(file, { cwd: dir, env });
  });

  it('after updatekeys alone, the old data key still opens the values (the gap rotate closes)', async () => {
    expect(oldKey).toHaveLength(32);
    expect(opensAny(oldKey, await readFile(file, 'utf8'))).toBe(true);
  });

  it('after rotate, the old data key opens nothing, the host identity nothing; the operator reads it all', async () => {
    const before = await readFile(file, 'utf8');
    const r = await rotateDataKey(file, { env, inPlace: true });
    const after = await readFile(file, 'utf8');
    expect(r.text).toBe(after);
    expect(r.recipients).toEqual([operator.recipient]);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(opensAny(oldKey, after)).toBe(false);
    await expect(decryptFile(file, { identities: [host.identity] })).rejects.toBeInstanceOf(SopsNoIdentityError);
    expect((await decryptFile(file, { env })).toYaml()).toBe(PLAIN);
    // Same layout as before: only ciphertexts, the age entry and lastmodified differ.
    const mask = (t: string) => t.replace(/ENC\[[^\]]*\]/g, 'ENC').replace(/-----BEGIN AGE[^]*?-----END AGE ENCRYPTED FILE-----/g, 'AGE').replace(/lastmodified: .*/, 'lastmodified');
    expect(mask(after)).toBe(mask(before));
    expect(encStrings(after).filter((s) => before.includes(s))).toEqual([]);
  });

  it('the age CLI opens the new key entry, and its key opens the values; sops-age reads the file', async () => {
    const text = await readFile(file, 'utf8');
    const newKey = ageCliDecrypt(entryFor(text, operator.recipient), operator.file);
    expect(newKey).toHaveLength(32);
    expect(newKey.equals(oldKey)).toBe(false);
    expect(opensAny(newKey, text)).toBe(true);
    const got = (await decryptSops(text, { secretKey: operator.identity, fileType: 'yaml' })) as { hosts: { web1: { port: number }; list: string[] } };
    expect(got.hosts.web1.port).toBe(22);
    expect(got.hosts.list).toEqual(['one', 'two']);
  });

  it('without inPlace the file is untouched; files with several key groups are refused', async () => {
    const before = await readFile(file, 'utf8');
    const r = await rotateDataKey(file, { env });
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(opensAny(ageCliDecrypt(entryFor(r.text, operator.recipient), operator.file), r.text)).toBe(true);
    const grouped = path.join(dir, 'grouped.yaml');
    writeFileSync(grouped, before.replace(/^sops:\n/m, 'sops:\n    pgp:\n        - fp: ABCDEF\n          enc: x\n'));
    await expect(rotateDataKey(grouped, { env, ignoreMac: true })).rejects.toBeInstanceOf(SopsUnsupportedError);
  });
});

describe.skipIf(!haveTools('age', 'age-keygen'))('updatekeys with rotate: the rule recipients under a new data key, one write', () => {
  it("drops the removed recipient, whose copy of the old key opens nothing; sops-age reads the file", async () => {
    const dir = tempDir();
    const operator = ageKeygen(dir, 'operator.txt');
    const host = ageKeygen(dir, 'host.txt');
    const env = { SOPS_AGE_KEY_FILE: operator.file };
    const file = path.join(dir, 'shared.yaml');
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${operator.recipient},${host.recipient}\n`);
    writeFileSync(file, PLAIN);
    const { encryptFile } = await import('../../scripts/lib/sops/index.js');
    await encryptFile(file, { cwd: dir, env, inPlace: true });
    const before = await readFile(file, 'utf8');
    const oldKey = ageCliDecrypt(entryFor(before, host.recipient), host.file);
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${operator.recipient}\n`);

    const r = await updateKeys(file, { cwd: dir, env, rotate: true });
    expect(r).toEqual({ changed: true, added: [], removed: [host.recipient] });
    const after = await readFile(file, 'utf8');
    expect(opensAny(oldKey, after)).toBe(false);
    expect(after).not.toContain(host.recipient);
    await expect(decryptFile(file, { identities: [host.identity] })).rejects.toBeInstanceOf(SopsNoIdentityError);
    expect((await decryptFile(file, { env })).toYaml()).toBe(PLAIN);
    const got = (await decryptSops(after, { secretKey: operator.identity, fileType: 'yaml' })) as { hosts: { list: string[] } };
    expect(got.hosts.list).toEqual(['one', 'two']);
    // Without rotate the same recipients change nothing; with it, the key changes again.
    expect((await updateKeys(file, { cwd: dir, env })).changed).toBe(false);
    await updateKeys(file, { cwd: dir, env, rotate: true });
    const newer = await readFile(file, 'utf8');
    expect(opensAny(ageCliDecrypt(entryFor(after, operator.recipient), operator.file), newer)).toBe(false);
  });

  it('the paths of the encrypted values, read without decrypting; plain values are not listed', async () => {
    const dir = tempDir();
    const operator = ageKeygen(dir, 'operator.txt');
    const file = path.join(dir, 'f.yaml');
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${operator.recipient}\n`);
    writeFileSync(file, PLAIN);
    const { encryptFile } = await import('../../scripts/lib/sops/index.js');
    await encryptFile(file, { cwd: dir, env: { SOPS_AGE_KEY_FILE: operator.file }, inPlace: true });
    expect(encryptedValuePaths(await readFile(file, 'utf8'), file)).toEqual(['["hosts"]["web1"]["deploy_key"]', '["hosts"]["web1"]["port"]', '["hosts"]["list"][0]', '["hosts"]["list"][1]']);
  });
});
