import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';
import { addHostRecipient, decryptFile, encryptText, removeHostRecipient, SopsNoIdentityError, updateKeys } from '../../scripts/lib/sops/index.js';
import { ageCliDecrypt, ageKeygen, tempDir } from './helpers.js';
import type { AgeKey } from './helpers.js';

function sopsBlock(text: string): { age: { recipient: string; enc: string }[]; mac: string; lastmodified: string; version: string } {
  return (parseDocument(text).toJS() as { sops: ReturnType<typeof sopsBlock> }).sops;
}
const valueLines = (t: string): string[] => t.split('\n').filter((l) => l.includes('ENC[') && !l.includes('mac:'));

describe.skipIf(!haveTools('age', 'age-keygen'))('updateKeys', () => {
  let dir: string;
  let operator: AgeKey;
  let host: AgeKey;
  let file: string;
  let config: string;
  let original: string;

  beforeEach(async () => {
    dir = tempDir();
    operator = ageKeygen(dir, 'operator.txt');
    host = ageKeygen(dir, 'host.txt');
    config = path.join(dir, '.sops.yaml');
    writeFileSync(config, `keys:\n  - &operator ${operator.recipient}\ncreation_rules:\n  - path_regex: ^sops/[^/]+\\.yaml$\n    key_groups:\n      - age:\n          - *operator\n`);
    file = path.join(dir, 'sops', 'web1.yaml');
    mkdirSync(path.dirname(file));
    original = await encryptText('# keys\nrepo_a: secret-a\nrepo_b: secret-b\n', { filePath: file, cwd: dir, env: {} });
    writeFileSync(file, original);
  });

  it('adds the new host recipient; values, MAC and lastmodified untouched; the host can decrypt', async () => {
    writeFileSync(config, addHostRecipient(readFileSync(config, 'utf8'), { host: 'web1', recipient: host.recipient }));
    expect(await updateKeys(file, { cwd: dir, env: {}, identities: [operator.identity] })).toEqual({ changed: true, added: [host.recipient], removed: [] });
    const after = readFileSync(file, 'utf8');
    const before = sopsBlock(original);
    const now = sopsBlock(after);
    expect(now.age.map((a) => a.recipient)).toEqual([operator.recipient, host.recipient]);
    expect([now.mac, now.lastmodified, now.version]).toEqual([before.mac, before.lastmodified, before.version]);
    expect(valueLines(after)).toEqual(valueLines(original));
    expect(ageCliDecrypt(now.age[1]!.enc, host.file)).toEqual(ageCliDecrypt(before.age[0]!.enc, operator.file));
    const dec = await decryptFile(file, { identities: [host.identity] });
    expect(dec.toYaml()).toBe('# keys\nrepo_a: secret-a\nrepo_b: secret-b\n');
  });

  it('reports no change (and leaves the file alone) when the recipients already match', async () => {
    expect(await updateKeys(file, { cwd: dir, env: {}, identities: [] })).toEqual({ changed: false, added: [], removed: [] });
    expect(readFileSync(file, 'utf8')).toBe(original);
  });

  it('removes a recipient: it can no longer open the file', async () => {
    writeFileSync(config, addHostRecipient(readFileSync(config, 'utf8'), { host: 'web1', recipient: host.recipient }));
    await updateKeys(file, { cwd: dir, env: {}, identities: [operator.identity] });
    writeFileSync(config, removeHostRecipient(readFileSync(config, 'utf8'), 'web1'));
    expect(await updateKeys(file, { configPath: config, env: {}, identities: [operator.identity] })).toEqual({ changed: true, added: [], removed: [host.recipient] });
    await expect(decryptFile(file, { identities: [host.identity] })).rejects.toBeInstanceOf(SopsNoIdentityError);
    expect((await decryptFile(file, { identities: [operator.identity] })).toYaml()).toContain('repo_b: secret-b');
  });

  it('fails without an identity that opens the file, leaving it unchanged', async () => {
    writeFileSync(config, addHostRecipient(readFileSync(config, 'utf8'), { host: 'web1', recipient: host.recipient }));
    const err = await updateKeys(file, { cwd: dir, env: {}, identities: [host.identity] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SopsNoIdentityError);
    expect((err as Error).message).not.toMatch(/\n|AGE-SECRET-KEY/);
    expect(readFileSync(file, 'utf8')).toBe(original);
  });
});
