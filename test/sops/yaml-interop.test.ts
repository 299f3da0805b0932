/**
 * YAML that Go sops (yaml.v3) reads the way we wrote it: timestamp-looking strings
 * quoted, and non-string keys refused with the key named.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { parseDocument, YAMLMap } from 'yaml';
import { describe, expect, it } from 'vitest';
import { decryptText, encryptText, openSopsFile, SopsFormatError } from '../../scripts/lib/sops/index.js';
import { unwrapKey } from '../../scripts/lib/sops/keysource/age.js';
import { encryptValue, formatEncValue } from '../../scripts/lib/sops/value-cipher.js';
import { NO_CONFIG, tempDir } from './helpers.js';

async function newKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/** Plain scalars a YAML 1.1 / yaml.v3 reader (sops >= 3.10) would take as a timestamp, not a string. */
const plainTimestampLines = (text: string): string[] => text.split('\n').filter((l) => /(^|:\s|-\s)\d{4}-\d{1,2}-\d{1,2}/.test(l));

describe('timestamp-looking strings are quoted, so sops >= 3.10 reads strings (same MAC bytes)', () => {
  it('in a new file: unencrypted values and keys', async () => {
    const key = await newKey();
    const plain = 'created_unencrypted: 2024-01-01\nlog_unencrypted:\n    - 2024-01-02T03:04:05Z\n2024-06-01: rotated\nsecret: s3cret\nn_unencrypted: 1_000\nb_unencrypted: 0b101\nv_unencrypted: 1.2.3\n';
    const enc = await encryptText(plain, { filePath: 'ts.yaml', recipients: [key.recipient], ...NO_CONFIG });
    expect(plainTimestampLines(enc)).toEqual([]);
    expect(enc).toContain('created_unencrypted: "2024-01-01"');
    expect(enc).toContain('"2024-06-01": ENC[');
    // yaml.v3 reads these plain as ints (it drops `_`, knows 0b); `1.2.3` is a string everywhere.
    expect(enc).toContain('n_unencrypted: "1_000"\nb_unencrypted: "0b101"\nv_unencrypted: 1.2.3\n');
    const dec = await decryptText(enc, 'ts.yaml', { identities: [key.identity] });
    expect([...(dec.tree as Map<string, unknown>).keys()]).toEqual(['created_unencrypted', 'log_unencrypted', '2024-06-01', 'secret', 'n_unencrypted', 'b_unencrypted', 'v_unencrypted']);
    expect(dec.extract(['created_unencrypted'])).toBe('2024-01-01');
  });

  it('after an edit that sets one', async () => {
    const key = await newKey();
    const dir = tempDir();
    const file = path.join(dir, 'e.yaml');
    writeFileSync(file, await encryptText('a: b\n', { filePath: file, recipients: [key.recipient], ...NO_CONFIG }));
    const ed = await openSopsFile(file, { identities: [key.identity] });
    ed.set(['rotated_unencrypted'], '2025-05-05');
    const out = await ed.toString();
    expect(out).toContain('rotated_unencrypted: "2025-05-05"');
    expect((await decryptText(out, file, { identities: [key.identity] })).extract(['rotated_unencrypted'])).toBe('2025-05-05');
  });
});

describe('non-string mapping keys are refused like sops does, naming the key', () => {
  it.each([
    ['1: x\n', '1'],
    ['a:\n    true: x\n', 'true'],
    ['~: x\n', '~'],
  ])('%j', async (plain, shown) => {
    const err = await encryptText(plain, { filePath: 'k.yaml', recipients: [(await newKey()).recipient], ...NO_CONFIG }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SopsFormatError);
    expect((err as Error).message).toContain(`key ${shown} `);
    expect((err as SopsFormatError).hint).toMatch(/quote/);
  });
});

describe('a type:time value written by sops >= 3.10', () => {
  it('decrypts to a plain YAML timestamp (as sops -d writes it), and keeps type:time on edit', async () => {
    const key = await newKey();
    const enc = await encryptText('when: placeholder\n', { filePath: 't.yaml', recipients: [key.recipient], ...NO_CONFIG });
    const doc = parseDocument(enc);
    const sops = (doc.get('sops') as YAMLMap).toJSON() as { age: { recipient: string; enc: string }[]; lastmodified: string };
    const dataKey = (await unwrapKey(sops.age, [key.identity], 't.yaml'))!;
    const when = '2024-01-01T00:00:00Z';
    doc.set('when', formatEncValue(encryptValue(dataKey, Buffer.from(when), 'when:', 'time')));
    const mac = createHash('sha512').update(when).digest('hex').toUpperCase();
    (doc.get('sops') as YAMLMap).set('mac', formatEncValue(encryptValue(dataKey, Buffer.from(mac), sops.lastmodified, 'str')));
    const text = doc.toString({ indent: 4 });

    expect((await decryptText(text, 't.yaml', { identities: [key.identity] })).toYaml()).toBe(`when: ${when}\n`);
    const dir = tempDir();
    const file = path.join(dir, 't.yaml');
    writeFileSync(file, text);
    const out = await (await openSopsFile(file, { identities: [key.identity] })).toString();
    expect(out).toMatch(/^when: ENC\[AES256_GCM,.*type:time\]$/m);
  });
});
