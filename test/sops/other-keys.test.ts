/** updateKeys and encrypt never silently drop keys of types this codec cannot wrap. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { Document, parseDocument, YAMLMap } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import { encryptText, parseConfig, ruleForFile, SopsUnsupportedError, updateKeys } from '../../scripts/lib/sops/index.js';
import { ageRecipientsOf } from '../../scripts/lib/sops/sops-config.js';
import { tempDir } from './helpers.js';

async function newKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

describe('other key types in a creation rule are never silently dropped', () => {
  it('hc_vault inside key_groups (the key-group spelling) is refused', () => {
    const config = parseConfig(
      'creation_rules:\n  - key_groups:\n      - age: [age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq]\n        hc_vault: [https://vault.example/v1/sops/keys/k]\n',
      '/x/.sops.yaml',
    );
    expect(() => ageRecipientsOf(ruleForFile(config, '/x/a.yaml'), config, 'a.yaml')).toThrow(SopsUnsupportedError);
  });
});

describe('updateKeys refuses to drop keys it cannot re-wrap', () => {
  let dir: string;
  let file: string;
  let operator: { identity: string; recipient: string };

  beforeEach(async () => {
    dir = tempDir();
    operator = await newKey();
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - path_regex: ^sops/\n    age: ${operator.recipient}\n`);
    file = path.join(dir, 'sops', 'h.yaml');
    mkdirSync(path.dirname(file));
  });

  async function writeWith(edit: (sops: YAMLMap) => void): Promise<string> {
    const doc = parseDocument(await encryptText('repo: secret\n', { filePath: file, cwd: dir, env: {} }));
    edit(doc.get('sops') as YAMLMap);
    const text = doc.toString({ indent: 4 });
    writeFileSync(file, text);
    return text;
  }

  it('pgp keys in the file', async () => {
    const before = await writeWith((sops) => {
      sops.set('pgp', new Document().createNode([{ created_at: '2024-01-01T00:00:00Z', enc: '-----BEGIN PGP MESSAGE-----\nx\n-----END PGP MESSAGE-----\n', fp: 'ABCDEF0123456789' }]));
    });
    const err = await updateKeys(file, { cwd: dir, env: {}, identities: [operator.identity] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SopsUnsupportedError);
    expect((err as Error).message).toMatch(/pgp/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('several key groups (Shamir)', async () => {
    const before = await writeWith((sops) => {
      const age = (sops.toJSON() as { age: unknown[] }).age;
      sops.delete('age');
      sops.set('key_groups', new Document().createNode([{ age }, { age }]));
      sops.set('shamir_threshold', 1);
    });
    const err = await updateKeys(file, { cwd: dir, env: {}, identities: [operator.identity] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SopsUnsupportedError);
    expect((err as Error).message).toMatch(/key groups/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
