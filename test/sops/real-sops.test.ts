/**
 * What the codec writes, read by the real sops (3.9.2, Go; see
 * test/helpers/real-sops.ts): encrypt, the comment-regex rules (issue 8 §5),
 * set, updatekeys and rotate. sops verifies the MAC, so agreeing on which values
 * are encrypted and on their bytes is what passing means.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptText, encryptText, openSopsFile, rotateDataKey, updateKeys } from '../../scripts/lib/sops/index.js';
import type { EncryptionRules } from '../../scripts/lib/sops/index.js';
import { realSopsDecrypt, REAL_SOPS } from '../helpers/real-sops.js';
import { haveTools } from '../helpers/tools.js';
import { ageKeygen, NO_CONFIG, tempDir } from './helpers.js';

const RICH = `# fleet secrets
deploy-keys:
    nix-config: |
        -----BEGIN OPENSSH PRIVATE KEY-----
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
        -----END OPENSSH PRIVATE KEY-----
    # the other repo
    nix-secrets: "line one\\nline two"
port: 22 # ssh
ratio: 0.25
enabled: true
nothing: null
list:
    - one
    - 2
    - {nested: [x, y]}
unicode: héllo wörld ✓
owner_unencrypted: ops
`;

describe.skipIf(!haveTools(REAL_SOPS, 'openssl', 'age-keygen'))('the real sops reads what we write', () => {
  const dir = tempDir();
  const key = ageKeygen(dir);
  const ours = async (text: string, file = 'f.yaml'): Promise<unknown> => JSON.parse((await decryptText(text, file, { identities: [key.identity] })).toJson());
  const agree = async (text: string, format: 'yaml' | 'json' = 'yaml'): Promise<void> => {
    const r = await realSopsDecrypt(text, key.identity, format);
    expect(r).toEqual({ ok: true, json: await ours(text, `f.${format}`) });
  };
  const encrypt = (src: string, rules?: EncryptionRules, file = 'f.yaml'): Promise<string> =>
    encryptText(src, { filePath: file, recipients: [key.recipient], ...(rules ? { rules } : {}), ...NO_CONFIG });

  it('refuses a tampered file (the oracle can say no)', async () => {
    const text = await encrypt('a: one\nb: two\n');
    const a = /^a: (ENC\[.*\])$/m.exec(text)![1]!;
    const b = /^b: (ENC\[.*\])$/m.exec(text)![1]!;
    const swapped = text.replace(a, 'A').replace(b, a).replace('A', b);
    const r = await realSopsDecrypt(swapped, key.identity);
    expect(r.ok).toBe(false);
  });

  it('rich YAML: types, block scalars, comments, lists, unencrypted suffix', async () => {
    await agree(await encrypt(RICH));
  });

  it('JSON', async () => {
    await agree(await encrypt('{"a": "x", "n": 7, "f": 1.5, "l": [true, null, {"k": "v"}]}\n', undefined, 'f.json'), 'json');
  });

  it.each([
    ['unencrypted_comment_regex', 'keep', 'a: 1 # keep\nb: 2\nl:\n    - x # keep\n    - y\nf: [p, q] # keep\n# keep\nm:\n    c: 3\n'],
    ['encrypted_comment_regex', 'enc', 'a: hello # enc\nb: world\nl:\n    - x # enc\n    - y\n# enc\n# enc\nz: last\n'],
  ] as const)('%s with inline and head markers, in mappings and lists', async (rule, value, src) => {
    await agree(await encrypt(src, { rule, value, macOnlyEncrypted: false }));
  });

  it('after set, updatekeys and rotate', async () => {
    const file = path.join(dir, 'host.yaml');
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${key.recipient}\n`);
    writeFileSync(file, await encrypt(RICH));
    const editor = await openSopsFile(file, { identities: [key.identity] });
    editor.set(['deploy-keys', 'added'], 'new value');
    editor.set(['port'], 2222);
    await editor.save();
    const other = ageKeygen(dir, 'other.txt');
    writeFileSync(path.join(dir, '.sops.yaml'), `creation_rules:\n  - age: ${key.recipient},${other.recipient}\n`);
    await updateKeys(file, { cwd: dir, identities: [key.identity] });
    const { text } = await rotateDataKey(file, { identities: [key.identity], inPlace: true });
    await agree(text);
    expect(await realSopsDecrypt(text, other.identity)).toEqual({ ok: true, json: await ours(text) });
  });
});
