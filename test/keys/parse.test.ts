import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeployKeysError } from '../../scripts/lib/errors.js';
import {
  encodeOpenSSHPrivateKey,
  fingerprintOf,
  generateDeployKey,
  parsePrivateKey,
  parsePublicKey,
} from '../../scripts/lib/keys/index.js';
import { haveTools } from '../helpers/tools.js';
import { privateTempDir, writeSecret } from './tmp.js';

/** Runs fn, expects a DeployKeysError, and checks that no piece of `secret` leaked into it. */
function refusal(fn: () => unknown, secret?: string): DeployKeysError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DeployKeysError);
  const e = err as DeployKeysError;
  if (secret !== undefined) {
    const said = `${e.message} ${e.hint ?? ''} ${e.oneLine()}`;
    // Any 12-character run of the key body would be a leak.
    const body = secret.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    for (let i = 0; i + 12 <= body.length; i += 6) expect(said).not.toContain(body.slice(i, i + 12));
  }
  return e;
}

describe.skipIf(!haveTools('ssh-keygen'))('keys made by ssh-keygen', () => {
  const dir = privateTempDir('keys-parse');
  const keygen = (name: string, ...args: string[]) => {
    const file = path.join(dir, name);
    execFileSync('ssh-keygen', ['-q', '-N', '', '-f', file, ...args], { stdio: 'ignore' });
    const fp = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1];
    return { priv: readFileSync(file, 'utf8'), pub: readFileSync(`${file}.pub`, 'utf8'), fp: fp! };
  };

  it('ed25519: same public line and fingerprint as ssh-keygen', () => {
    const k = keygen('ed', '-t', 'ed25519', '-C', 'alice@example');
    const parsed = parsePrivateKey(k.priv);
    expect(parsed.publicKey).toBe(k.pub.trim());
    expect(parsed.fingerprint).toBe(k.fp);
    expect(parsed.comment).toBe('alice@example');
    expect(fingerprintOf(k.pub)).toBe(k.fp);
    expect(parsePublicKey(k.pub)).toMatchObject({ type: 'ssh-ed25519', comment: 'alice@example', bits: 256 });
  });

  it('ed25519 with an empty comment', () => {
    const k = keygen('ed-nocomment', '-t', 'ed25519', '-C', '');
    const parsed = parsePrivateKey(k.priv);
    expect(parsed.comment).toBeUndefined();
    expect(parsed.publicKey).toBe(k.pub.trim());
    expect(parsePublicKey(k.pub).comment).toBeUndefined();
  });

  it('our re-encoding of an ssh-keygen key is accepted by ssh-keygen', () => {
    const k = keygen('ed-reencode', '-t', 'ed25519', '-C', 're');
    const parsed = parsePrivateKey(k.priv);
    const again = encodeOpenSSHPrivateKey(parsed.seed, parsed.publicKeyBytes, 're');
    const file = writeSecret(dir, 'ed-reencoded', again);
    expect(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim()).toBe(k.pub.trim());
    expect(parsePrivateKey(again).fingerprint).toBe(k.fp);
  });

  it.each([
    ['rsa', ['-t', 'rsa', '-b', '3072'], 'ssh-rsa', 3072],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256'], 'ecdsa-sha2-nistp256', 256],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384'], 'ecdsa-sha2-nistp384', 384],
    ['ecdsa521', ['-t', 'ecdsa', '-b', '521'], 'ecdsa-sha2-nistp521', 521],
  ] as const)('%s public keys parse with the ssh-keygen fingerprint; private keys are refused', (name, args, type, bits) => {
    const k = keygen(name, ...args, '-C', `${name}@test`);
    expect(parsePublicKey(k.pub)).toMatchObject({ type, bits, fingerprint: k.fp, comment: `${name}@test` });
    const e = refusal(() => parsePrivateKey(k.priv), k.priv);
    expect(e.message).toBe(`private key is a ${type} key; only ssh-ed25519 keys are supported`);
  });

  it('RSA keys under 2048 bits are refused', () => {
    const k = keygen('rsa1024', '-t', 'rsa', '-b', '1024');
    expect(refusal(() => parsePublicKey(k.pub)).message).toMatch(/only 1024 bits/);
  });

  it('passphrase-protected keys are refused without leaking the key', () => {
    const file = path.join(dir, 'enc');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'hunter2hunter2', '-f', file], { stdio: 'ignore' });
    const priv = readFileSync(file, 'utf8');
    const e = refusal(() => parsePrivateKey(priv, 'deploy key of web-01'), priv);
    expect(e.message).toBe('deploy key of web-01 is protected by a passphrase');
    expect(e.hint).toMatch(/ssh-keygen -p/);
  });

  it('PEM and PKCS#8 formats are named, not echoed', () => {
    const file = path.join(dir, 'pem');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-f', file], { stdio: 'ignore' });
    const pem = readFileSync(file, 'utf8');
    expect(refusal(() => parsePrivateKey(pem), pem).message).toMatch(/is a PEM RSA key/);
    const pk8 = path.join(dir, 'pk8');
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-m', 'PKCS8', '-N', '', '-f', pk8], { stdio: 'ignore' });
    const pkcs8 = readFileSync(pk8, 'utf8');
    expect(refusal(() => parsePrivateKey(pkcs8), pkcs8).message).toMatch(/PKCS#8/);
  });
});

describe('malformed private keys', () => {
  const good = generateDeployKey('tamper-test').privateKey;
  const lines = good.trimEnd().split('\n');
  const body = Buffer.from(lines.slice(1, -1).join(''), 'base64');
  const rewrap = (b: Uint8Array) =>
    `${lines[0]}\n${(Buffer.from(b).toString('base64').match(/.{1,70}/g) ?? []).join('\n')}\n${lines.at(-1)}\n`;

  it('accepts CRLF line ends and a missing final newline (parsing is lenient, writing is not)', () => {
    expect(parsePrivateKey(good.replace(/\n/g, '\r\n')).comment).toBe('tamper-test');
    expect(parsePrivateKey(good.trimEnd()).comment).toBe('tamper-test');
  });

  it.each([
    ['empty', '', /is not an OpenSSH private key/],
    ['garbage', 'hello world', /is not an OpenSSH private key/],
    ['a public key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBI1+Q+ntzANebtnicCiAY29uqLGWOaOGLEa8bUqOVmS', /is not an OpenSSH/],
    ['truncated', good.slice(0, 200), /is truncated/],
    ['bad base64', good.replace(/\n([A-Za-z0-9+/]{10})/, '\n!$1'), /invalid base64/],
    ['cut body', `${lines[0]}\n${lines[1]}\n${lines.at(-1)}\n`, /is corrupt/],
  ])('%s', (_, text, msg) => {
    expect(refusal(() => parsePrivateKey(text), good).message).toMatch(msg);
  });

  // Layout of a one-key unencrypted ed25519 file: magic(15) cipher(4+4) kdf(4+4) kdfopts(4) count(4)
  // pubblob(4+51) privlen(4) | checkint×2(8) type(4+11) pk(4+32) seed‖pk(4+64) comment …
  const PUB_KEY_AT = 15 + 8 + 8 + 4 + 4 + 4 + 4 + 11 + 4;
  const PRIV_AT = 15 + 8 + 8 + 4 + 4 + 4 + 51 + 4;
  const SEED_AT = PRIV_AT + 8 + 4 + 11 + 4 + 32 + 4;

  it('refuses an outer public key that does not match the secret key', () => {
    const b = Uint8Array.from(body);
    b[PUB_KEY_AT + 5]! ^= 1;
    expect(refusal(() => parsePrivateKey(rewrap(b)), good).message).toMatch(/does not match its secret key/);
  });

  it('refuses every single-bit change of the secret seed', () => {
    for (let off = SEED_AT; off < SEED_AT + 32; off++) {
      const c = Uint8Array.from(body);
      c[off]! ^= 0x10;
      expect(refusal(() => parsePrivateKey(rewrap(c)), good).message).toMatch(/does not match its secret key/);
    }
  });

  it('refuses mismatched check numbers', () => {
    const b = Uint8Array.from(body);
    b[PRIV_AT]! ^= 1;
    expect(refusal(() => parsePrivateKey(rewrap(b)), good).message).toMatch(/is corrupt/);
  });

  it('does not show the seed through inspect or JSON', async () => {
    const { inspect } = await import('node:util');
    const k = parsePrivateKey(good);
    const seedHex = Buffer.from(k.seed).toString('hex');
    const seedB64 = Buffer.from(k.seed).toString('base64');
    for (const shown of [inspect(k, { depth: 5, showHidden: true }), JSON.stringify(k), String(Object.values(k))]) {
      expect(shown).not.toContain(seedHex.slice(0, 16));
      expect(shown).not.toContain(seedB64.slice(0, 12));
      expect(shown).not.toMatch(new RegExp(`${k.seed[0]}, ${k.seed[1]}, ${k.seed[2]}, ${k.seed[3]}`));
    }
    expect(JSON.stringify(k)).toContain(k.fingerprint);
  });
});

/** An SSH wire blob: each part as a length-prefixed string, base64. */
function wire(...parts: (string | Buffer)[]): string {
  return Buffer.concat(
    parts.flatMap((p) => {
      const b = Buffer.from(p);
      const n = Buffer.alloc(4);
      n.writeUInt32BE(b.length);
      return [n, b];
    }),
  ).toString('base64');
}

describe('parsePublicKey', () => {
  const line = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBI1+Q+ntzANebtnicCiAY29uqLGWOaOGLEa8bUqOVmS';

  it('parses a line without comment, with surrounding whitespace and a trailing newline', () => {
    const k = parsePublicKey(`  ${line}  \n`);
    expect(k.comment).toBeUndefined();
    expect(k.line).toBe(line);
    expect(k.key).toBe(line);
    expect(k.blob).toBe(line.split(' ')[1]);
    expect(k.raw).toHaveLength(51);
  });

  it('keeps a comment with spaces', () => {
    expect(parsePublicKey(`${line} host key of web 01`).comment).toBe('host key of web 01');
  });

  it.each([
    ['empty', '', /is empty/],
    ['one field', 'ssh-ed25519', /is not of the form/],
    ['two lines', `${line}\n${line}`, /spans several lines/],
    ['bad base64', 'ssh-ed25519 AAAA$$$', /invalid base64/],
    ['non-canonical base64 padding', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQB=', /invalid base64/],
    ['type mismatch', `ssh-rsa ${line.split(' ')[1]}`, /declares type ssh-rsa but its blob is ssh-ed25519/],
    ['short ed25519', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAAQA=', /32-byte/],
    ['options prefix', `restrict,command="x" ${line}`, /authorized_keys options/],
    ['certificate', 'ssh-ed25519-cert-v01@openssh.com AAAA', /certificate/],
    ['control char in comment', `${line} a\u0007b`, /control/],
    ['private key', '-----BEGIN OPENSSH PRIVATE KEY-----', /looks like a private key/],
    ['DSA', `ssh-dss ${Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-dss')]).toString('base64')}`, /DSA key/],
    ['a security key', `sk-ssh-ed25519@openssh.com ${wire('sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 7), 'ssh:')}`, /unsupported key type sk-ssh-ed25519@openssh.com/],
    // e = 00 01 00 01 is not minimal: ssh refuses it, sshpk would quietly strip the zero.
    ['a non-minimal RSA exponent', `ssh-rsa ${wire('ssh-rsa', Buffer.from([0, 1, 0, 1]), Buffer.concat([Buffer.from([0, 0x80]), Buffer.alloc(255, 1)]))}`, /non-canonical key blob/],
  ])('refuses %s', (_, input, msg) => {
    expect(refusal(() => parsePublicKey(input)).message).toMatch(msg);
  });

  it('fingerprintOf matches ssh-keygen for the sops-nix test key', () => {
    // `ssh-keygen -lf` (OpenSSH 9.2) of sops-nix's pkgs/sops-install-secrets/test-assets/ssh-ed25519-key.pub.
    expect(fingerprintOf(line)).toBe('SHA256:Na4VNhJQwiTr6kYtY9aUBVP1MIB1b9ju2XYQnMkXduo');
  });
});
