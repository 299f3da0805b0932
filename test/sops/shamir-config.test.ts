import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { armor, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { Document, parseDocument, YAMLMap } from 'yaml';
import { describe, expect, it } from 'vitest';
import { decryptText, encryptText, SopsNoIdentityError } from '../../scripts/lib/sops/index.js';
import { unwrapKey } from '../../scripts/lib/sops/keysource/age.js';
import { tempDir } from './helpers.js';

async function newKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

// Test-side Shamir split (GF(2^8), 0x11B), shares = y-bytes || x.
const mul = (a: number, b: number): number => {
  let r = 0;
  for (; b; b >>= 1, a = a & 0x80 ? ((a << 1) ^ 0x11b) & 0xff : a << 1) if (b & 1) r ^= a;
  return r;
};
function split(secret: Uint8Array, n: number, k: number): Uint8Array[] {
  const coeffs = Array.from(secret, (s) => [s, ...Array.from({ length: k - 1 }, () => 1 + Math.floor(Math.random() * 255))]);
  return Array.from({ length: n }, (_, i) => {
    const share = new Uint8Array(secret.length + 1);
    coeffs.forEach((c, j) => {
      let y = 0;
      for (let d = c.length - 1; d >= 0; d--) y = mul(y, i + 1) ^ c[d]!;
      share[j] = y;
    });
    share[secret.length] = i + 1;
    return share;
  });
}

describe('key groups with Shamir (decryption)', () => {
  async function shamirFile(threshold: number) {
    const groups = [await newKey(), await newKey(), await newKey()];
    const plain = await encryptText('token: shared-secret\n', { filePath: 'g.yaml', recipients: [groups[0]!.recipient], env: {}, cwd: tempDir() });
    const doc = parseDocument(plain);
    const sops = doc.get('sops') as YAMLMap;
    const enc = (sops.toJSON() as { age: { recipient: string; enc: string }[] }).age;
    const dataKey = (await unwrapKey(enc, [groups[0]!.identity], 'g.yaml'))!;
    const shares = split(dataKey, groups.length, threshold);
    const keyGroups = await Promise.all(
      groups.map(async (g, i) => {
        const e = new Encrypter();
        e.addRecipient(g.recipient);
        return { age: [{ recipient: g.recipient, enc: armor.encode(await e.encrypt(shares[i]!)) }] };
      }),
    );
    sops.delete('age');
    sops.set('key_groups', new Document().createNode(keyGroups));
    sops.set('shamir_threshold', threshold);
    return { text: doc.toString(), groups };
  }

  it('combines shares from threshold groups; fewer fails with a clear error', async () => {
    const { text, groups } = await shamirFile(2);
    const ids = groups.map((g) => g.identity);
    expect((await decryptText(text, 'g.yaml', { identities: [ids[0]!, ids[2]!] })).extract(['token'])).toBe('shared-secret');
    expect((await decryptText(text, 'g.yaml', { identities: [ids[2]!, ids[1]!] })).extract(['token'])).toBe('shared-secret');
    const err = await decryptText(text, 'g.yaml', { identities: [ids[1]!] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SopsNoIdentityError);
    expect((err as Error).message).toBe('g.yaml: only 1 of the 2 key groups needed could be opened');
  });

  it('threshold 1 of 3 groups: any one identity is enough', async () => {
    const { text, groups } = await shamirFile(1);
    expect((await decryptText(text, 'g.yaml', { identities: [groups[1]!.identity] })).extract(['token'])).toBe('shared-secret');
  });
});

describe('encryption settings from .sops.yaml', () => {
  it('applies the matching rule: its recipients, encrypted_regex and the stores indent', async () => {
    const dir = tempDir();
    const k = await newKey();
    writeFileSync(
      path.join(dir, '.sops.yaml'),
      `creation_rules:\n  - path_regex: ^k8s/\n    encrypted_regex: ^(data|stringData)$\n    age: ${k.recipient}\n  - age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\nstores:\n  yaml:\n    indent: 2\n`,
    );
    const src = 'kind: Secret\nstringData:\n  password: pw-value-123\n';
    const out = await encryptText(src, { filePath: path.join(dir, 'k8s', 's.yaml'), cwd: path.join(dir), env: {} });
    expect(out).toContain('kind: Secret\nstringData:\n  password: ENC[');
    expect(out).toContain('  encrypted_regex: ^(data|stringData)$');
    expect(out).toContain(`    recipient: ${k.recipient}`);
    expect((await decryptText(out, 's.yaml', { identities: [k.identity] })).toYaml()).toBe(src);
  });
});
