import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decryptSops } from 'sops-age';
import { parseDocument } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';
import { decryptText, encryptFile, encryptText, encryptTree, SopsFormatError } from '../../scripts/lib/sops/index.js';
import type { PlainMap, PlainValue } from '../../scripts/lib/sops/index.js';
import { decryptValue, parseEncValue } from '../../scripts/lib/sops/value-cipher.js';
import { ageCliDecrypt, ageKeygen, NO_CONFIG, tempDir } from './helpers.js';
import type { AgeKey } from './helpers.js';
import { entries } from './vectors.js';

const PEM = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\nAAAAC3NzaC1lZDI1NTE5AAAAIJ\n-----END OPENSSH PRIVATE KEY-----\n';

const PLAIN = `# fleet secrets
hosts:
    # the web host
    web1:
        deploy_key: |
${PEM.split('\n').filter(Boolean).map((l) => `            ${l}`).join('\n')}
        port: 22 # ssh
        ratio: 0.25
        big: 1000000
        enabled: true
        disabled: false
        answer: yes
        nothing: null
        empty: ""
        unicode: héllo wörld ✓ 日本
    "10": ten-value
    "2": two-value
repos:
    - name: infra-repo
      key: deploy-key-one
    - name: app-repo
      key: deploy-key-two
note_unencrypted: readable
`;

describe.skipIf(!haveTools('age', 'age-keygen'))('encrypting a new YAML file', () => {
  let dir: string;
  let alice: AgeKey;
  let bob: AgeKey;
  let encrypted: string;

  beforeAll(async () => {
    dir = tempDir();
    alice = ageKeygen(dir, 'alice.txt');
    bob = ageKeygen(dir, 'bob.txt');
    encrypted = await encryptText(PLAIN, { filePath: path.join(dir, 'secrets.yaml'), recipients: [alice.recipient, bob.recipient], ...NO_CONFIG });
  });

  it('hides every selected value and comment, and keeps _unencrypted values and nulls', () => {
    for (const secret of ['infra-repo', 'deploy-key-one', 'héllo', 'fleet secrets', 'web host', 'BEGIN OPENSSH', ': 22', '0.25', 'ten-value']) {
      expect(encrypted).not.toContain(secret);
    }
    expect(encrypted).toContain('note_unencrypted: readable');
    expect(encrypted).toContain('nothing: null');
    expect(encrypted).toContain('empty: ""');
    expect(encrypted).toMatch(/^#ENC\[AES256_GCM,.*type:comment\]$/m);
    expect(encrypted).toMatch(/port: ENC\[.*type:int\] #ENC\[.*type:comment\]/);
  });

  it('writes metadata real sops reads: 3.13 layout, semver, quoted lastmodified, 32-byte IVs, padded base64', () => {
    const sops = (parseDocument(encrypted).toJS() as { sops: Record<string, unknown> }).sops;
    expect(Object.keys(sops)).toEqual(['age', 'lastmodified', 'mac', 'unencrypted_suffix', 'version']);
    expect(sops.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(encrypted).toMatch(/^ {4}lastmodified: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"$/m);
    expect(encrypted).toMatch(/^ {8}- enc: \|$/m);
    for (const m of encrypted.matchAll(/iv:([^,]+),tag:([^,]+),/g)) {
      expect(Buffer.from(m[1]!, 'base64')).toHaveLength(32);
      expect(m[1]!.length % 4).toBe(0);
      expect(Buffer.from(m[2]!, 'base64')).toHaveLength(16);
    }
  });

  it('wraps the data key for each recipient so the real age CLI opens it (32 bytes, same key)', () => {
    const sops = (parseDocument(encrypted).toJS() as { sops: { age: { recipient: string; enc: string }[] } }).sops;
    expect(sops.age.map((a) => a.recipient)).toEqual([alice.recipient, bob.recipient]);
    const k1 = ageCliDecrypt(sops.age[0]!.enc, alice.file);
    const k2 = ageCliDecrypt(sops.age[1]!.enc, bob.file);
    expect(k1).toHaveLength(32);
    expect(k2.equals(k1)).toBe(true);
    expect(() => ageCliDecrypt(sops.age[0]!.enc, bob.file)).toThrow();
  });

  it('round-trips through our decoder (MAC verified): types, order, unicode, PEM with trailing newline, comments', async () => {
    const out = await decryptText(encrypted, 'secrets.yaml', { identities: [bob.identity] });
    const web1 = ((out.tree as Map<string, unknown>).get('hosts') as Map<string, unknown>).get('web1') as Map<string, unknown>;
    expect(web1.get('deploy_key')).toBe(PEM);
    expect([...web1.entries()]).toEqual([
      ['deploy_key', PEM],
      ['port', 22],
      ['ratio', 0.25],
      ['big', 1000000],
      ['enabled', true],
      ['disabled', false],
      ['answer', 'yes'],
      ['nothing', null],
      ['empty', ''],
      ['unicode', 'héllo wörld ✓ 日本'],
    ]);
    expect([...((out.tree as Map<string, unknown>).get('hosts') as Map<string, unknown>).keys()]).toEqual(['web1', '10', '2']);
    expect(out.toYaml()).toBe(PLAIN);
  });

  it('decrypts with the independent sops-age decoder', async () => {
    // sops-age drops all-digit path segments (its bug), so leave the numeric keys out here.
    const noNumericKeys = PLAIN.replace(/^ {4}"\d+": .*\n/gm, '');
    const enc = await encryptText(noNumericKeys, { filePath: path.join(dir, 'secrets.yaml'), recipients: [alice.recipient], ...NO_CONFIG });
    const got = (await decryptSops(enc, { secretKey: alice.identity, fileType: 'yaml' })) as Record<string, unknown>;
    const hosts = got.hosts as Record<string, Record<string, unknown>>;
    expect(hosts.web1!.deploy_key).toBe(PEM);
    expect(hosts.web1!.port).toBe(22);
    expect(hosts.web1!.ratio).toBe(0.25);
    expect(hosts.web1!.enabled).toBe(true);
    expect(hosts.web1!.unicode).toBe('héllo wörld ✓ 日本');
    expect((got.repos as { name: string; key: string }[]).map((r) => r.key)).toEqual(['deploy-key-one', 'deploy-key-two']);
    expect(got.note_unencrypted).toBe('readable');
  });

  it('refuses an already encrypted file and empty input', async () => {
    const opts = { filePath: 'x.yaml', recipients: [alice.recipient], ...NO_CONFIG };
    await expect(encryptText(encrypted, opts)).rejects.toBeInstanceOf(SopsFormatError);
    await expect(encryptText('   \n', opts)).rejects.toBeInstanceOf(SopsFormatError);
  });
});

describe.skipIf(!haveTools('age', 'age-keygen'))('encryption rules, JSON, binary and multi-document files', () => {
  let dir: string;
  let key: AgeKey;
  beforeAll(() => {
    dir = tempDir();
    key = ageKeygen(dir);
  });

  it('encrypted_regex only encrypts matching subtrees, and plain values are in the MAC', async () => {
    const src = 'apiVersion: v1\nkind: Secret\nstringData:\n    token: s3cret\n';
    const enc = await encryptText(src, { filePath: 'k.yaml', recipients: [key.recipient], rules: { rule: 'encrypted_regex', value: '^(data|stringData)$', macOnlyEncrypted: false }, ...NO_CONFIG });
    expect(enc).toContain('kind: Secret');
    expect(enc).not.toContain('s3cret');
    expect(enc).toContain('encrypted_regex: ^(data|stringData)$');
    await expect(decryptText(enc.replace('kind: Secret', 'kind: Other'), 'k.yaml', { identities: [key.identity] })).rejects.toThrow(/MAC mismatch/);
  });

  it('mac_only_encrypted leaves plain values out of the MAC', async () => {
    const src = 'name: a\nsecretTemplates:\n    - token: t\n';
    const enc = await encryptText(src, { filePath: 'k.yaml', recipients: [key.recipient], rules: { rule: 'encrypted_suffix', value: 'Templates', macOnlyEncrypted: true }, ...NO_CONFIG });
    expect(enc).toContain('mac_only_encrypted: true');
    const out = await decryptText(enc.replace('name: a', 'name: b'), 'k.yaml', { identities: [key.identity] });
    expect(entries(out.tree)).toEqual(entries({ name: 'b', secretTemplates: [{ token: 't' }] }));
  });

  it('encrypted_comment_regex encrypts the item after a marker comment and keeps the marker readable', async () => {
    const src = 'user: alice\n# sops:enc\npassword: p4ss-word-x\nm:\n    # sops:enc\n    token: t0ken-value-y\n    other: visible-z\n';
    const enc = await encryptText(src, { filePath: 'c.yaml', recipients: [key.recipient], rules: { rule: 'encrypted_comment_regex', value: '^ ?sops:enc', macOnlyEncrypted: false }, ...NO_CONFIG });
    expect(enc).toContain('user: alice');
    expect(enc).toContain('# sops:enc');
    expect(enc).toContain('other: visible-z');
    expect(enc).not.toContain('p4ss-word-x');
    expect(enc).not.toContain('t0ken-value-y');
    expect((await decryptText(enc, 'c.yaml', { identities: [key.identity] })).toYaml()).toBe(src);
  });

  it('anchors and aliases are expanded into copies (each encrypted at its own path), as sops does', async () => {
    const src = 'base: &b\n    user: admin-user\nweb:\n    <<: *b\n    copy: *b\n';
    const enc = await encryptText(src, { filePath: 'a.yaml', recipients: [key.recipient], ...NO_CONFIG });
    expect(enc).not.toMatch(/[&*]b\b/);
    const out = await decryptText(enc, 'a.yaml', { identities: [key.identity] });
    expect(entries(out.tree)).toEqual(entries({ base: { user: 'admin-user' }, web: { '<<': { user: 'admin-user' }, copy: { user: 'admin-user' } } }));
  });

  it('comments are encrypted with the AAD of their container, as sops (yaml.v3) attaches them', async () => {
    const src = '# top\nhosts:\n    # before web1\n    web1:\n        port: 22 # inline\n        # before user\n        user: u\nlist:\n    # in list\n    - x\n';
    const enc = await encryptText(src, { filePath: 'c.yaml', recipients: [key.recipient], ...NO_CONFIG });
    const meta = (parseDocument(enc).toJS() as { sops: { age: { recipient: string; enc: string }[] } }).sops;
    const dataKey = ageCliDecrypt(meta.age[0]!.enc, key.file);
    const aads = [...enc.matchAll(/#(ENC\[[^\]]*type:comment\])/g)].map((m) => {
      const v = parseEncValue(m[1]!)!;
      const candidates = [':', 'hosts:', 'hosts:web1:', 'list:'];
      return candidates.filter((aad) => {
        try {
          return decryptValue(dataKey, v, aad).length > 0;
        } catch {
          return false;
        }
      });
    });
    expect(aads).toEqual([[':'], ['hosts:'], ['hosts:web1:'], ['hosts:web1:'], ['list:']]);
  });

  it('encryptTree writes a plain tree (Map order, PEM as a literal block) that decrypts back', async () => {
    const tree: PlainMap = new Map<string, PlainValue>([['10', 'ten'], ['2', new Map<string, PlainValue>([['key', PEM], ['n', 5]])]]);
    const enc = await encryptTree(tree, { filePath: 't.yaml', recipients: [key.recipient], ...NO_CONFIG });
    const out = await decryptText(enc, 't.yaml', { identities: [key.identity] });
    expect(entries(out.tree)).toEqual(entries(tree));
    expect(out.toYaml()).toBe(`"10": ten\n"2":\n    key: |\n${PEM.split('\n').filter(Boolean).map((l) => `        ${l}`).join('\n')}\n    n: 5\n`);
    expect(enc).toMatch(/ {4}n: ENC\[.*type:int\]/);
  });

  it('JSON keeps key order (integer-like keys too), writes ints as int, tab indent', async () => {
    const src = '{\n\t"b": "x",\n\t"10": 7,\n\t"2": 7.5,\n\t"a": [\n\t\ttrue,\n\t\tnull,\n\t\t"y"\n\t],\n\t"e": {}\n}\n';
    const enc = await encryptText(src, { filePath: 's.json', recipients: [key.recipient], ...NO_CONFIG });
    expect(enc).toMatch(/^\t"10": "ENC\[.*type:int\]",$/m);
    expect(enc).toMatch(/^\t"2": "ENC\[.*type:float\]",$/m);
    const out = await decryptText(enc, 's.json', { identities: [key.identity] });
    expect([...(out.tree as Map<string, unknown>).keys()]).toEqual(['b', '10', '2', 'a', 'e']);
    expect(out.toJson()).toBe(src);
    // sops-age drops all-digit path segments (its bug): check it on non-numeric keys.
    const enc2 = await encryptText('{"b": "x", "n": 7, "f": 7.5, "t": true}', { filePath: 's.json', recipients: [key.recipient], ...NO_CONFIG });
    expect(await decryptSops(enc2, { secretKey: key.identity, fileType: 'json' })).toEqual({ b: 'x', n: 7, f: 7.5, t: true });
  });

  it('binary store: any other file becomes {"data": …} and decrypts to the exact bytes', async () => {
    const file = path.join(dir, 'id_ed25519');
    writeFileSync(file, PEM);
    const enc = await encryptFile(file, { recipients: [key.recipient], ...NO_CONFIG, inPlace: true });
    expect(readFileSync(file, 'utf8')).toBe(enc);
    expect(enc.startsWith('{\n\t"data": "ENC[')).toBe(true);
    const out = await decryptText(enc, file, { identities: [key.identity] });
    expect(out.toText()).toBe(PEM);
  });

  it('multi-document YAML: one MAC across documents, a sops block in each', async () => {
    const src = 'a: 1\n---\nb: two\n';
    const enc = await encryptText(src, { filePath: 'm.yaml', recipients: [key.recipient], ...NO_CONFIG });
    expect(enc.match(/^sops:$/gm)).toHaveLength(2);
    const out = await decryptText(enc, 'm.yaml', { identities: [key.identity] });
    expect(out.documents.map(entries)).toEqual([entries({ a: 1 }), entries({ b: 'two' })]);
    expect(out.toYaml()).toBe(src);
    const swapped = enc.split('---\n').reverse().join('---\n');
    await expect(decryptText(swapped, 'm.yaml', { identities: [key.identity] })).rejects.toThrow();
  });
});
