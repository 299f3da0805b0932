import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DeployKeysError } from '../../scripts/lib/errors.js';
import { deployKeyTitle } from '../../scripts/lib/names.js';
import { generateDeployKey, parsePrivateKey, parsePublicKey } from '../../scripts/lib/keys/index.js';
import { haveTools } from '../helpers/tools.js';
import { privateTempDir, writeSecret } from './tmp.js';

const sshKeygen = (...args: string[]) => execFileSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('generateDeployKey', () => {
  it('returns an OpenSSH key with trailing newline, a public line and a fingerprint', () => {
    const k = generateDeployKey('web-01-nix-config-deploy');
    expect(k.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END OPENSSH PRIVATE KEY-----\n$/);
    for (const l of k.privateKey.split('\n').slice(1, -2)) expect(l.length).toBeLessThanOrEqual(70);
    expect(k.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} web-01-nix-config-deploy$/);
    expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('round-trips through parsePrivateKey and parsePublicKey', () => {
    const k = generateDeployKey(deployKeyTitle('web-01', 'nix-config'));
    const parsed = parsePrivateKey(k.privateKey);
    expect(parsed.publicKey).toBe(k.publicKey);
    expect(parsed.fingerprint).toBe(k.fingerprint);
    expect(parsed.comment).toBe('web-01-nix-config-deploy');
    expect(parsed.seed).toHaveLength(32);
    const pub = parsePublicKey(k.publicKey);
    expect(pub).toMatchObject({ type: 'ssh-ed25519', comment: 'web-01-nix-config-deploy', fingerprint: k.fingerprint, bits: 256 });
  });

  it('never produces the same key twice in 100 tries', () => {
    const keys = Array.from({ length: 100 }, () => generateDeployKey('same-comment'));
    expect(new Set(keys.map((k) => k.publicKey)).size).toBe(100);
    expect(new Set(keys.map((k) => k.fingerprint)).size).toBe(100);
    expect(new Set(keys.map((k) => parsePrivateKey(k.privateKey).seed.join(','))).size).toBe(100);
  });

  it.each([
    ['', /is empty/],
    ['a\nb', /newline or control/],
    ['a\rb', /newline or control/],
    ['tab\there', /newline or control/],
    ['nul\u0000', /newline or control/],
    ['c1\u0085', /newline or control/],
    ['ls\u2028', /newline or control/],
    ['bidi\u202e', /newline or control/],
    [' lead', /whitespace/],
    ['trail ', /whitespace/],
    ['x'.repeat(256), /at most 255/],
  ])('refuses comment %j', (comment, msg) => {
    expect(() => generateDeployKey(comment)).toThrow(DeployKeysError);
    expect(() => generateDeployKey(comment)).toThrow(msg);
  });

  it('accepts comments with inner spaces and non-ASCII letters', () => {
    expect(generateDeployKey('deploy key für web-01').publicKey).toMatch(/ deploy key für web-01$/);
  });
});

describe.skipIf(!haveTools('ssh-keygen'))('generated keys against ssh-keygen', () => {
  const dir = privateTempDir('keys-gen');

  it('ssh-keygen -y prints the same public line and -lf the same fingerprint', () => {
    for (let i = 0; i < 5; i++) {
      const comment = deployKeyTitle(`host-${i}`, 'nix-config');
      const k = generateDeployKey(comment);
      const file = writeSecret(dir, `id_${i}`, k.privateKey);
      writeSecret(dir, `id_${i}.pub`, `${k.publicKey}\n`);
      expect(sshKeygen('-y', '-f', file).trim()).toBe(k.publicKey);
      expect(sshKeygen('-lf', file).trim()).toBe(`256 ${k.fingerprint} ${comment} (ED25519)`);
      expect(sshKeygen('-lf', `${file}.pub`).trim()).toBe(`256 ${k.fingerprint} ${comment} (ED25519)`);
    }
  });

  it('ssh-keygen can change the comment of our file (it is fully valid)', () => {
    const k = generateDeployKey('before');
    const file = writeSecret(dir, 'id_edit', k.privateKey);
    sshKeygen('-c', '-C', 'after', '-f', file);
    const edited = parsePrivateKey(readFileSync(file, 'utf8'));
    expect(edited.comment).toBe('after');
    expect(edited.fingerprint).toBe(k.fingerprint);
  });
});
