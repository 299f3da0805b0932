import { readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';
import { decryptFile, encryptText, openSopsFile, SopsDecryptError, SopsMacMismatchError, SopsNoIdentityError } from '../../scripts/lib/sops/index.js';
import { ageKeygen, NO_CONFIG, tempDir } from './helpers.js';
import { entries, identityText, vectorPath, vectors } from './vectors.js';
import type { AgeKey } from './helpers.js';

const PLAIN = `# managed by deploy-keys
hosts:
    # web tier
    web1:
        repo_a: |
            -----BEGIN OPENSSH PRIVATE KEY-----
            AAAA
            -----END OPENSSH PRIVATE KEY-----
        port: 22 # ssh port
    db1:
        repo_a: plain-old-secret
"0": zero
owner_unencrypted: ops-team
`;

const encLines = (text: string): string[] => text.split('\n').filter((l) => l.includes('ENC[') && !l.includes('mac:'));

describe.skipIf(!haveTools('age-keygen'))('editing with openSopsFile', () => {
  let dir: string;
  let key: AgeKey;
  let file: string;
  let original: string;

  beforeEach(async () => {
    dir = tempDir();
    key = ageKeygen(dir);
    file = path.join(dir, 'web.yaml');
    original = await encryptText(PLAIN, { filePath: file, recipients: [key.recipient], ...NO_CONFIG, now: () => new Date('2024-01-02T03:04:05Z') });
    writeFileSync(file, original, { mode: 0o640 });
    chmodSync(file, 0o640);
  });

  it('set() keeps untouched ciphertext byte-identical, comments, order, user keys; new lastmodified and MAC', async () => {
    const ed = await openSopsFile(file, { identities: [key.identity], now: () => new Date('2025-05-06T07:08:09Z') });
    expect(ed.get(['hosts', 'web1', 'port'])).toBe(22);
    ed.set(['hosts', 'db1', 'repo_a'], 'rotated-secret');
    ed.set(['hosts', 'db2', 'repo_b'], 'brand-new');
    const out = await ed.toString();

    const before = encLines(original);
    const after = encLines(out);
    const changed = before.filter((l) => !after.includes(l));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^ {8}repo_a: ENC/);
    expect(after.filter((l) => !before.includes(l))).toHaveLength(2);
    expect(out).toContain('lastmodified: "2025-05-06T07:08:09Z"');
    expect(out).not.toContain('2024-01-02T03:04:05Z');
    const mac = (t: string) => /mac: (ENC\[.*\])/.exec(t)![1];
    expect(mac(out)).not.toBe(mac(original));
    expect(out.split('\n').filter((l) => /^\S/.test(l))).toEqual(original.split('\n').filter((l) => /^\S/.test(l)));

    writeFileSync(file, out);
    const dec = await decryptFile(file, { identities: [key.identity] });
    expect(dec.toYaml()).toBe(
      PLAIN.replace('repo_a: plain-old-secret', 'repo_a: rotated-secret').replace('"0": zero', '    db2:\n        repo_b: brand-new\n"0": zero'),
    );
  });

  it('an unchanged re-encryption reproduces every value and comment ciphertext', async () => {
    const ed = await openSopsFile(file, { identities: [key.identity] });
    expect(encLines(await ed.toString())).toEqual(encLines(original));
  });

  it('a new top-level key goes before the trailing sops block', async () => {
    const ed = await openSopsFile(file, { identities: [key.identity] });
    ed.set(['zz_new'], { nested: true });
    const out = await ed.toString();
    const top = out.split('\n').filter((l) => /^\S/.test(l)).map((l) => l.split(':')[0]);
    expect(top).toEqual(['#ENC[AES256_GCM,data', 'hosts', '"0"', 'owner_unencrypted', 'zz_new', 'sops']);
  });

  it('delete() and has(); save() is atomic and keeps the mode', async () => {
    const ed = await openSopsFile(file, { identities: [key.identity] });
    expect(ed.has(['hosts', 'db1'])).toBe(true);
    expect(ed.delete(['hosts', 'db1'])).toBe(true);
    expect(ed.delete(['hosts', 'nope'])).toBe(false);
    await ed.save();
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const dec = await decryptFile(file, { identities: [key.identity] });
    expect([...((dec.tree as Map<string, unknown>).get('hosts') as Map<string, unknown>).keys()]).toEqual(['web1']);
  });

  it('the PEM block scalar comes back byte-exact, trailing newline included', async () => {
    const ed = await openSopsFile(file, { identities: [key.identity] });
    expect(ed.get(['hosts', 'web1', 'repo_a'])).toBe('-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n');
  });

  it('refuses to open a tampered file, a MAC mismatch, or without the identity; the file is unchanged', async () => {
    const other = ageKeygen(dir, 'other.txt');
    await expect(openSopsFile(file, { identities: [other.identity] })).rejects.toBeInstanceOf(SopsNoIdentityError);
    const swapped = original.replace(/(db1:\n\s+repo_a: )ENC\[AES256_GCM,data:([^,]+)/, (_m, a: string, d: string) => `${a}ENC[AES256_GCM,data:${Buffer.from(Buffer.from(d, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64')}`);
    expect(swapped).not.toBe(original);
    writeFileSync(file, swapped);
    const err = await openSopsFile(file, { identities: [key.identity] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SopsDecryptError);
    expect((err as Error).message).toBe(`${file}: cannot decrypt the value at hosts:db1:repo_a (authentication failed: tampered, or moved from another key)`);
    expect(readFileSync(file, 'utf8')).toBe(swapped);

    const reordered = original.replace(/( {4}web1:[\s\S]*?)( {4}db1:\n.*\n)/, '$2$1');
    expect(reordered).not.toBe(original);
    writeFileSync(file, reordered);
    await expect(openSopsFile(file, { identities: [key.identity] })).rejects.toBeInstanceOf(SopsMacMismatchError);
  });
});

describe('editing real sops files', () => {
  it.each([
    ['sops-nix/secrets.yaml', ['nested', 'test', 'file']],
    ['sops-secrets-operator/04-test-secrets-mac-only.yaml', ['metadata', 'name']],
    ['sops-age/secret.enc.json', ['string']],
  ] as const)('%s: set one value, every other value and the key entries stay byte-identical', async (rel, at) => {
    const v = vectors.find((x) => x.file === rel)!;
    const dir = tempDir();
    const file = path.join(dir, path.basename(rel));
    const original = readFileSync(vectorPath(rel), 'utf8');
    writeFileSync(file, original);
    const identities = [identityText(v).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY'))!];
    const ed = await openSopsFile(file, { identities });
    ed.set([...at], 'changed-by-test');
    await ed.save();
    const after = readFileSync(file, 'utf8');
    const enc = (t: string) => [...t.matchAll(/ENC\[AES256_GCM[^\]]*\]/g)].map((m) => m[0]);
    const gone = enc(original).filter((e) => !enc(after).includes(e));
    expect(gone.length).toBeLessThanOrEqual(2); // the changed value (if it was encrypted) and the MAC
    const armor = (t: string) => [...t.matchAll(/BEGIN AGE ENCRYPTED FILE-----(?:\\n|\s)+([\s\S]*?)-----END/g)].map((m) => m[1]!.replace(/\\n|\s/g, ''));
    expect(armor(original).length).toBeGreaterThan(0);
    expect(armor(after)).toEqual(armor(original));
    const out = await decryptFile(file, { identities });
    expect(out.extract([...at])).toBe('changed-by-test');
    const before = await decryptFile(vectorPath(rel), { identities });
    expect(entries(setIn(before.tree, at, 'changed-by-test'))).toEqual(entries(out.tree));
  });
});

function setIn(tree: unknown, at: readonly string[], value: unknown): unknown {
  let cur = tree as Map<string, unknown>;
  for (const k of at.slice(0, -1)) cur = cur.get(k) as Map<string, unknown>;
  cur.set(at[at.length - 1]!, value);
  return tree;
}
