import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { haveTools } from '../helpers/tools.js';
import {
  decryptFile,
  decryptText,
  encryptText,
  SopsError,
  SopsFormatError,
  SopsMacMismatchError,
  SopsNoIdentityError,
  SopsUnsupportedError,
} from '../../scripts/lib/sops/index.js';
import { collectIdentities } from '../../scripts/lib/sops/keysource/identities.js';
import { ageCliDecrypt, ageKeygen, NO_CONFIG, tempDir } from './helpers.js';
import type { AgeKey } from './helpers.js';
import { vectorPath, vectors } from './vectors.js';

async function failure(p: Promise<unknown>): Promise<SopsError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(SopsError);
  const err = e as SopsError;
  expect(err.message).not.toContain('\n');
  expect(err.hint).toBeTruthy();
  return err;
}

describe.skipIf(!haveTools('age-keygen'))('failures are one-line errors that name the file and leak nothing', () => {
  let dir: string;
  let key: AgeKey;
  let file: string;
  let encrypted: string;
  beforeAll(async () => {
    dir = tempDir();
    key = ageKeygen(dir);
    file = path.join(dir, 's.yaml');
    encrypted = await encryptText('password: hunter2-very-secret\nother: x\n', { filePath: file, recipients: [key.recipient], ...NO_CONFIG });
    writeFileSync(file, encrypted);
  });

  it('not a SOPS file', async () => {
    const plain = path.join(dir, 'plain.yaml');
    writeFileSync(plain, 'password: hunter2-very-secret\n');
    const err = await failure(decryptFile(plain, { identities: [key.identity] }));
    expect(err).toBeInstanceOf(SopsFormatError);
    expect(err.message).toBe(`${plain}: not a SOPS file (no top-level "sops" metadata)`);
  });

  it('malformed YAML and JSON give the line, never the text', async () => {
    const y = await failure(decryptText('a: 1\npassword: "hunter2-very-secret\n', 'x.yaml', { identities: [key.identity] }));
    expect(y.message).toMatch(/^x\.yaml:\d+:\d+: invalid YAML \(/);
    const j = await failure(decryptText('{\n  "password": hunter2-very-secret\n}', 'x.json', { identities: [key.identity] }));
    expect(j.message).toMatch(/^x\.json:2:\d+: invalid JSON/);
    for (const e of [y, j]) expect(e.message).not.toContain('hunter2');
    const enc = await failure(encryptText('password: [hunter2-very-secret\n', { filePath: 'n.yaml', recipients: [key.recipient], ...NO_CONFIG }));
    expect(enc.message).not.toContain('hunter2');
  });

  it('truncated files fail cleanly at every cut', async () => {
    for (const cut of [0.1, 0.3, 0.5, 0.7, 0.9, 0.98]) {
      const text = encrypted.slice(0, Math.floor(encrypted.length * cut));
      const err = await failure(decryptText(text, 't.yaml', { identities: [key.identity] }));
      expect(err.message.startsWith('t.yaml')).toBe(true);
      expect(err.message).not.toContain('hunter2');
    }
  });

  it('no identity: names the recipients and says where keys are looked for', async () => {
    const home = tempDir();
    const err = await failure(decryptFile(file, { env: { HOME: home } }));
    expect(err).toBeInstanceOf(SopsNoIdentityError);
    expect(err.message).toContain(key.recipient);
    expect(err.hint).toMatch(/SOPS_AGE_KEY_FILE/);
    expect(`${err.message} ${err.hint ?? ''}`).not.toMatch(/AGE-SECRET-KEY/);
  });

  it('unknown or malformed recipients are refused at encryption', async () => {
    const opts = (r: string) => ({ filePath: 'x.yaml', recipients: [r], ...NO_CONFIG });
    expect(await failure(encryptText('a: b\n', opts('ssh-rsa AAAAB3NzaC1yc2E x')))).toBeInstanceOf(SopsUnsupportedError);
    expect(await failure(encryptText('a: b\n', opts('pgp:ABCDEF')))).toBeInstanceOf(SopsUnsupportedError);
    await failure(encryptText('a: b\n', opts('age1notbech32')));
  });

  it('a secret key given as a recipient is refused without being echoed', async () => {
    const opts = (r: string) => ({ filePath: 'x.yaml', recipients: [r], ...NO_CONFIG });
    const err = await failure(encryptText('a: b\n', opts(key.identity)));
    expect(err).toBeInstanceOf(SopsUnsupportedError);
    expect(`${err.message} ${err.hint}`).not.toContain(key.identity.slice('AGE-SECRET-KEY-1'.length, 40));
    expect(err.message).toMatch(/secret key/);
  });

  it('an altered lastmodified or a removed MAC is a MAC error', async () => {
    const moved = encrypted.replace(/lastmodified: "\d{4}/, 'lastmodified: "1999');
    expect(moved).not.toBe(encrypted);
    expect(await failure(decryptText(moved, 'l.yaml', { identities: [key.identity] }))).toBeInstanceOf(SopsMacMismatchError);
    const noMac = encrypted.replace(/ {4}mac: ENC\[.*\]\n/, '');
    expect(noMac).not.toBe(encrypted);
    expect(await failure(decryptText(noMac, 'l.yaml', { identities: [key.identity] }))).toBeInstanceOf(SopsMacMismatchError);
  });

  it('a sops file that is not a valid ENC value where one is expected', async () => {
    const broken = encrypted.replace(/password: ENC\[[^\]]*\]/, 'password: hunter2-very-secret');
    const err = await failure(decryptText(broken, 'b.yaml', { identities: [key.identity] }));
    expect(err.message).toBe('b.yaml: the value at password is not a valid ENC[AES256_GCM,…] string');
  });
});

describe('identities are collected like sops does', () => {
  it('reads SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the XDG default keys file together', () => {
    const home = tempDir();
    const xdg = path.join(home, 'xdg');
    mkdirSync(path.join(xdg, 'sops', 'age'), { recursive: true });
    writeFileSync(path.join(xdg, 'sops', 'age', 'keys.txt'), '# created: now\nAGE-SECRET-KEY-1DEFAULT\n');
    const bare = vectors.find((v) => v.identity === 'terragrunt-tests/keys.txt')!;
    expect(readFileSync(vectorPath(bare.identity), 'utf8').endsWith('\n')).toBe(false);
    const ids = collectIdentities({ env: { HOME: home, XDG_CONFIG_HOME: xdg, SOPS_AGE_KEY: '# c\nAGE-SECRET-KEY-1A AGE-SECRET-KEY-1B\n\n', SOPS_AGE_KEY_FILE: vectorPath(bare.identity) } });
    expect(ids.map((i) => (i.kind === 'age' ? i.source : ''))).toEqual(['SOPS_AGE_KEY line 2', 'SOPS_AGE_KEY line 2', `${vectorPath(bare.identity)} line 1`, `${path.join(xdg, 'sops', 'age', 'keys.txt')} line 2`]);
    expect(ids[2]!.kind === 'age' && ids[2]!.key.startsWith('AGE-SECRET-KEY-1')).toBe(true);
  });

  it('decrypts a vector through SOPS_AGE_KEY_FILE with a bare key and no trailing newline', async () => {
    const v = vectors.find((x) => x.identity === 'terragrunt-tests/keys.txt')!;
    const out = await decryptFile(vectorPath(v.file), { env: { HOME: tempDir(), SOPS_AGE_KEY_FILE: vectorPath(v.identity) } });
    expect(out.extract(['secrets', 'SOME SECRET'])).toBeTypeOf('string');
  });

  it('accepts a whole keys file (comments, several keys) as one identity string', async () => {
    const v = vectors.find((x) => x.file === 'sops-nix/secrets.yaml')!;
    const text = readFileSync(vectorPath(v.identity), 'utf8');
    expect(text).toMatch(/^#/m);
    const out = await decryptFile(vectorPath(v.file), { identities: [text] });
    expect(out.extractText(['nested'])).toBe('test:\n    file: another value\n');
    expect(out.extractText(['a_list', 1])).toBe('e3');
  });

  it('a missing SOPS_AGE_KEY_FILE is an error naming it', () => {
    expect(() => collectIdentities({ env: { HOME: tempDir(), SOPS_AGE_KEY_FILE: '/nonexistent/keys.txt' } })).toThrow(/SOPS_AGE_KEY_FILE \/nonexistent\/keys\.txt/);
  });
});

describe.skipIf(!haveTools('ssh-keygen', 'age'))('ssh-ed25519 recipients', () => {
  it('encrypts for an ssh-ed25519 key: the age CLI and SOPS_AGE_SSH_PRIVATE_KEY_FILE both open it', async () => {
    const dir = tempDir();
    const keyFile = path.join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'host', '-f', keyFile]);
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim();
    const enc = await encryptText('token: abc-123\n', { filePath: 'h.yaml', recipients: [pub], ...NO_CONFIG });
    const armored = /enc: \|\n((?:\s+.*\n)+?)\s+recipient/.exec(enc)![1]!.replace(/^ +/gm, '');
    expect(ageCliDecrypt(armored, keyFile)).toHaveLength(32);
    const out = await decryptText(enc, 'h.yaml', { env: { HOME: dir, SOPS_AGE_SSH_PRIVATE_KEY_FILE: keyFile } });
    expect(out.extract(['token'])).toBe('abc-123');
    const viaHome = tempDir();
    mkdirSync(path.join(viaHome, '.ssh'));
    writeFileSync(path.join(viaHome, '.ssh', 'id_ed25519'), readFileSync(keyFile));
    expect((await decryptText(enc, 'h.yaml', { env: { HOME: viaHome } })).extract(['token'])).toBe('abc-123');
  });
});
