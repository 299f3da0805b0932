/**
 * The comment-regex rules against sops' placement of comments (stores/yaml,
 * 3.9.0 through 3.13.2): a value's own inline comment comes *before* it in the
 * sops tree, so a marker on `a: 1 # keep` applies to `a`, also in lists. Checked
 * both ways: what we encrypt, and files laid out as sops writes them.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptText, encryptText } from '../../scripts/lib/sops/index.js';
import type { EncryptionRules } from '../../scripts/lib/sops/index.js';
import { haveTools } from '../helpers/tools.js';
import { ageKeygen, NO_CONFIG, tempDir } from './helpers.js';
import { seal, sopsBlock } from './sops-layout.js';
import { entries } from './vectors.js';

const keep: EncryptionRules = { rule: 'unencrypted_comment_regex', value: 'keep', macOnlyEncrypted: false };
const enc: EncryptionRules = { rule: 'encrypted_comment_regex', value: 'enc', macOnlyEncrypted: false };
const isEnc = (text: string, key: string): boolean => new RegExp(`^\\s*(- )?${key}ENC\\[`, 'm').test(text);

describe.skipIf(!haveTools('age', 'age-keygen'))('comment-regex rules follow sops\' comment placement', () => {
  const key = ageKeygen(tempDir());
  const encryptWith = (src: string, rules: EncryptionRules): Promise<string> => encryptText(src, { filePath: 'c.yaml', recipients: [key.recipient], rules, ...NO_CONFIG });
  const roundTrip = async (src: string, rules: EncryptionRules): Promise<string> => {
    const out = await encryptWith(src, rules);
    expect((await decryptText(out, 'c.yaml', { identities: [key.identity] })).toYaml()).toBe(src);
    return out;
  };

  it('unencrypted_comment_regex: `a: one # keep` keeps a readable, b is encrypted', async () => {
    const out = await roundTrip('a: one # keep\nb: two\n', keep);
    expect(out).toContain('a: one # keep\n');
    expect(isEnc(out, 'b: ')).toBe(true);
  });

  it('encrypted_comment_regex: `a: hello # enc` encrypts a, b stays readable', async () => {
    const out = await roundTrip('a: hello # enc\nb: world\n', enc);
    expect(isEnc(out, 'a: ')).toBe(true);
    expect(out).toMatch(/^a: ENC\[.*\] # enc$/m);
    expect(out).toContain('b: world\n');
  });

  it('the same inside a list, both rules', async () => {
    const kept = await roundTrip('l:\n    - one # keep\n    - two\n', keep);
    expect(kept).toContain('- one # keep\n');
    expect(isEnc(kept, '')).toBe(true);
    const encd = await roundTrip('l:\n    - one # enc\n    - two\n', enc);
    expect(encd).toMatch(/- ENC\[.*\] # enc\n/);
    expect(encd).toContain('- two\n');
  });

  it('a flow list\'s inline comment heads its first item (yaml.v3: the list\'s line comment)', async () => {
    const out = await roundTrip('a: [one, two] # keep\nb: three\n', keep);
    expect(out).toMatch(/^a: \[one, "ENC\[[^\]]*\]"\] # keep$/m);
    expect(isEnc(out, 'b: ')).toBe(true);
  });

  it('a marker after a marker is itself encrypted under encrypted_comment_regex (only earlier lines count)', async () => {
    const out = await roundTrip('# enc\n# enc\na: v\n', enc);
    expect(out.split('\n').slice(0, 2)).toEqual(['# enc', expect.stringMatching(/^#ENC\[AES256_GCM,.*type:comment\]$/)]);
    expect(isEnc(out, 'a: ')).toBe(true);
  });

  it('an encrypted comment that would match unencrypted_comment_regex is refused, as sops does', async () => {
    await expect(encryptWith('# hello\na: v\n', { rule: 'unencrypted_comment_regex', value: 'AES256', macOnlyEncrypted: false })).rejects.toThrow(/matches unencrypted_comment_regex/);
  });

  describe('reads files laid out as sops writes them (values sealed independently, MAC over all values)', () => {
    const dataKey = randomBytes(32);
    const read = async (body: string, values: string[], rule: string, version?: string) =>
      decryptText(`${body}${sopsBlock(dataKey, key.recipient, values, rule, version)}`, 's.yaml', { identities: [key.identity] });

    it('unencrypted_comment_regex, inline marker on a value and on a list item', async () => {
      const body = `a: one # keep\nb: ${seal(dataKey, 'two', 'b:')}\nl:\n    - x # keep\n    - ${seal(dataKey, 'y', 'l:')}\n`;
      const out = await read(body, ['one', 'two', 'x', 'y'], 'unencrypted_comment_regex: keep');
      expect(entries(out.tree)).toEqual(entries({ a: 'one', b: 'two', l: ['x', 'y'] }));
    });

    it('encrypted_comment_regex, inline marker (3.13 keeps it on the line) and head marker (3.9 moved it above)', async () => {
      const inline = `a: ${seal(dataKey, 'hello', 'a:')} # enc\nb: world\n`;
      expect(entries((await read(inline, ['hello', 'world'], 'encrypted_comment_regex: enc', '3.13.2')).tree)).toEqual(entries({ a: 'hello', b: 'world' }));
      const head = `# enc\na: ${seal(dataKey, 'hello', 'a:')}\nb: world\n`;
      expect(entries((await read(head, ['hello', 'world'], 'encrypted_comment_regex: enc', '3.9.2')).tree)).toEqual(entries({ a: 'hello', b: 'world' }));
    });

    it('a marker heading a mapping key applies to its whole subtree', async () => {
      const body = `# keep\nm:\n    x: one\n    y: two\nz: ${seal(dataKey, 'three', 'z:')}\n`;
      const out = await read(body, ['one', 'two', 'three'], 'unencrypted_comment_regex: keep');
      expect(entries(out.tree)).toEqual(entries({ m: { x: 'one', y: 'two' }, z: 'three' }));
    });
  });
});
