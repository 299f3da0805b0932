import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Decrypter, armor, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { DeployKeysError } from '../../scripts/lib/errors.js';
import { sshPrivateKeyToAgeIdentity, sshPublicKeyToAgeRecipient } from '../../scripts/lib/age/index.js';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';
import { haveTools } from '../helpers/tools.js';
import { privateTempDir, writeSecret } from '../keys/tmp.js';
import * as F from './fixtures/sops-nix.js';
import { ok } from './run.js';

/** Mic92/ssh-to-age cmd/ssh-to-age/test-assets/id_ed25519{,.pub} (MIT): its own test key. */
const SSH_TO_AGE_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACDh8/lNGLYyDXOeHWYiTXJX5hBYnxe0VwhZTZU27mQY4gAAAJjpEFzo6RBc
6AAAAAtzc2gtZWQyNTUxOQAAACDh8/lNGLYyDXOeHWYiTXJX5hBYnxe0VwhZTZU27mQY4g
AAAEDsBo0iLkC2U9CS5XgSo7zS/nQvjxaPfhfFCR+BshxoL+Hz+U0YtjINc54dZiJNclfm
EFifF7RXCFlNlTbuZBjiAAAAE2pvZXJnQHR1cmluZ21hY2hpbmUBAg==
-----END OPENSSH PRIVATE KEY-----
`;
const SSH_TO_AGE_PUB = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHz+U0YtjINc54dZiJNclfmEFifF7RXCFlNlTbuZBji joerg@turingmachine';

describe('ssh-to-age conversion', () => {
  it('matches the recipient sops-nix lists for its test key (published vector)', async () => {
    expect(await sshPublicKeyToAgeRecipient(F.SSH_PUB)).toBe(F.CONVERTED_RECIPIENT);
  });

  it('the converted identity opens the data key sops 3.7.1 wrapped for that recipient', async () => {
    const d = new Decrypter();
    d.addIdentity(sshPrivateKeyToAgeIdentity(F.SSH_KEY));
    const dataKey = await d.decrypt(armor.decode(F.CONVERTED.enc));
    expect(dataKey).toHaveLength(32);
    const { createDecipheriv } = await import('node:crypto');
    const v = F.CONVERTED.testKey;
    const dec = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(v.iv, 'base64'));
    dec.setAAD(Buffer.from('test_key:'));
    dec.setAuthTag(Buffer.from(v.tag, 'base64'));
    expect(Buffer.concat([dec.update(Buffer.from(v.data, 'base64')), dec.final()]).toString()).toBe('test_value');
  });

  it('public and private conversions agree (age-encryption identityToRecipient), incl. ssh-to-age\'s own test key', async () => {
    const pairs: [string, string][] = [
      [F.SSH_PUB, F.SSH_KEY],
      [SSH_TO_AGE_PUB, SSH_TO_AGE_KEY],
      ...Array.from({ length: 20 }, (_, i): [string, string] => {
        const k = generateDeployKey(`host-${i}-repo-deploy`);
        return [k.publicKey, k.privateKey];
      }),
    ];
    for (const [pub, priv] of pairs) {
      const identity = sshPrivateKeyToAgeIdentity(priv);
      expect(identity).toMatch(/^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/);
      expect(await identityToRecipient(identity)).toBe(await sshPublicKeyToAgeRecipient(pub));
    }
  });

  it('the identity is the unclamped SHA-512(seed) half, as ssh-to-age prints it', async () => {
    const { createHash } = await import('node:crypto');
    const { bech32 } = await import('@scure/base');
    const { parsePrivateKey } = await import('../../scripts/lib/keys/index.js');
    const seed = parsePrivateKey(SSH_TO_AGE_KEY).seed;
    const expected = createHash('sha512').update(seed).digest().subarray(0, 32);
    const got = bech32.decodeToBytes(sshPrivateKeyToAgeIdentity(SSH_TO_AGE_KEY).toLowerCase()).bytes;
    expect(Buffer.from(got).equals(expected)).toBe(true);
  });

  it('refuses non-ed25519 keys clearly', async () => {
    const rsa = `ssh-rsa ${Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 3, 0, 0, 1, 1, 0x40]), Buffer.alloc(256, 0xff)]).toString('base64')}`;
    await expect(sshPublicKeyToAgeRecipient(rsa)).rejects.toThrow(/ssh-rsa key; ssh-to-age converts only ssh-ed25519/);
    await expect(sshPublicKeyToAgeRecipient('not a key')).rejects.toThrow(DeployKeysError);
    expect(() => sshPrivateKeyToAgeIdentity('-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n')).toThrow(
      /PEM RSA key/,
    );
  });
});

describe.skipIf(!haveTools('age', 'age-keygen', 'ssh-keygen'))('ssh-to-age against the age CLI', () => {
  const dir = privateTempDir('ssh-to-age');

  it('age-keygen -y (identity via a 0600 file and via stdin) gives our recipient', async () => {
    for (let i = 0; i < 3; i++) {
      const k = generateDeployKey(`cli-${i}-repo-deploy`);
      const identity = sshPrivateKeyToAgeIdentity(k.privateKey);
      const file = writeSecret(dir, `keys-${i}.txt`, `# converted\n${identity}\n`);
      const expected = await sshPublicKeyToAgeRecipient(k.publicKey);
      expect(ok('age-keygen', ['-y', file]).toString().trim()).toBe(expected);
      expect(ok('age-keygen', ['-y'], `${identity}\n`).toString().trim()).toBe(expected);
    }
  });

  it('works for a key made by ssh-keygen', async () => {
    const file = path.join(dir, 'host_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'root@host', '-f', file], { stdio: 'ignore' });
    const identity = sshPrivateKeyToAgeIdentity(readFileSync(file, 'utf8'));
    expect(ok('age-keygen', ['-y'], identity).toString().trim()).toBe(await sshPublicKeyToAgeRecipient(readFileSync(`${file}.pub`, 'utf8')));
  });

  it('a file age -r <converted recipient> wrote opens with the converted identity in age-encryption', async () => {
    const k = generateDeployKey('sopsnix-host-deploy');
    const out = ok('age', ['-a', '-r', await sshPublicKeyToAgeRecipient(k.publicKey)], 'host secret');
    const d = new Decrypter();
    d.addIdentity(sshPrivateKeyToAgeIdentity(k.privateKey));
    expect(await d.decrypt(armor.decode(out.toString()), 'text')).toBe('host secret');
  });
});
