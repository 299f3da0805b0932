import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Decrypter, Encrypter, Stanza, armor, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { DeployKeysError } from '../../scripts/lib/errors.js';
import {
  SshEd25519Identity,
  SshEd25519Recipient,
  sshPrivateKeyToAgeIdentity,
  sshStanzaTag,
} from '../../scripts/lib/age/index.js';
import { generateDeployKey, parsePublicKey } from '../../scripts/lib/keys/index.js';
import { haveTools } from '../helpers/tools.js';
import { privateTempDir, writeSecret } from '../keys/tmp.js';
import * as F from './fixtures/sops-nix.js';
import { headerStanzas, ok, run } from './run.js';

async function encryptTo(plaintext: Uint8Array, ...recipients: (string | SshEd25519Recipient)[]): Promise<Uint8Array> {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(plaintext);
}

async function decryptWith(file: Uint8Array, ...identities: (string | SshEd25519Identity)[]): Promise<Uint8Array> {
  const d = new Decrypter();
  for (const i of identities) d.addIdentity(i);
  return d.decrypt(file);
}

/** Decrypts a sops value of key `test_key` with a data key: proves the data key is right. */
function openSopsValue(dataKey: Uint8Array, v: { data: string; iv: string; tag: string }): string {
  const d = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(v.iv, 'base64'));
  d.setAAD(Buffer.from('test_key:'));
  d.setAuthTag(Buffer.from(v.tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(v.data, 'base64')), d.final()]).toString('utf8');
}

describe('ssh-ed25519 stanzas (published vector)', () => {
  it('opens the data key that sops 3.13.3 / Go age wrapped for an ssh-ed25519 recipient', async () => {
    const dataKey = await decryptWith(armor.decode(F.NATIVE_SSH.enc), new SshEd25519Identity(F.SSH_KEY));
    expect(dataKey).toHaveLength(32);
    expect(openSopsValue(dataKey, F.NATIVE_SSH.testKey)).toBe('test_value');
  });

  it('the vector\'s stanza tag is the first 4 bytes of SHA-256 of the key blob', () => {
    const [stanza] = headerStanzas(armor.decode(F.NATIVE_SSH.enc));
    const raw = parsePublicKey(F.SSH_PUB).raw;
    expect(stanza!.args.slice(0, 2)).toEqual(['ssh-ed25519', 'Na4VNg']);
    expect(sshStanzaTag(raw)).toBe('Na4VNg');
    expect(Buffer.from(createHash('sha256').update(raw).digest().subarray(0, 4)).toString('base64')).toBe('Na4VNg==');
  });

  it('the ssh-to-age identity of the same key cannot open it (the tweak binds the ssh key)', async () => {
    await expect(decryptWith(armor.decode(F.NATIVE_SSH.enc), sshPrivateKeyToAgeIdentity(F.SSH_KEY))).rejects.toThrow(
      /no identity matched/,
    );
  });
});

describe('SshEd25519Recipient / SshEd25519Identity', () => {
  const alice = generateDeployKey('alice-repo-deploy');
  const bob = generateDeployKey('bob-repo-deploy');

  it('round-trips through age-encryption', async () => {
    const plaintext = randomBytes(1000);
    const file = await encryptTo(plaintext, new SshEd25519Recipient(alice.publicKey));
    expect(Buffer.from(await decryptWith(file, new SshEd25519Identity(alice.privateKey))).equals(plaintext)).toBe(true);
  });

  it('writes one stanza: ssh-ed25519, the key tag, a 32-byte share; a 32-byte body; fresh share each time', async () => {
    const r = new SshEd25519Recipient(alice.publicKey);
    const [a] = await r.wrapFileKey(randomBytes(16));
    const [b] = await r.wrapFileKey(randomBytes(16));
    expect(a!.args).toHaveLength(3);
    expect(a!.args[0]).toBe('ssh-ed25519');
    expect(a!.args[1]).toBe(sshStanzaTag(parsePublicKey(alice.publicKey).raw));
    expect(Buffer.from(a!.args[2]!, 'base64')).toHaveLength(32);
    expect(a!.args[2]).not.toMatch(/=/);
    expect(a!.body).toHaveLength(32);
    expect(b!.args[2]).not.toBe(a!.args[2]);
  });

  it('works in a multi-recipient file next to X25519 recipients', async () => {
    const x = await generateX25519Identity();
    const file = await encryptTo(
      Buffer.from('shared secret'),
      new SshEd25519Recipient(alice.publicKey),
      await identityToRecipient(x),
      new SshEd25519Recipient(bob.publicKey),
    );
    for (const id of [new SshEd25519Identity(alice.privateKey), new SshEd25519Identity(bob.privateKey), x]) {
      expect(Buffer.from(await decryptWith(file, id)).toString()).toBe('shared secret');
    }
  });

  it('returns null for stanzas of other keys and other types, so other identities get their turn', async () => {
    const [forBob] = await new SshEd25519Recipient(bob.publicKey).wrapFileKey(randomBytes(16));
    const other = new Stanza(['X25519', 'AAAA'], new Uint8Array(32));
    expect(new SshEd25519Identity(alice.privateKey).unwrapFileKey([forBob!, other])).toBeNull();
    const file = await encryptTo(Buffer.from('x'), new SshEd25519Recipient(bob.publicKey));
    await expect(decryptWith(file, new SshEd25519Identity(alice.privateKey))).rejects.toThrow(/no identity matched/);
  });

  it('throws, without leaking, when a stanza with its tag does not decrypt (tampered body)', async () => {
    const fileKey = randomBytes(16);
    const [s] = await new SshEd25519Recipient(alice.publicKey).wrapFileKey(fileKey);
    const body = Uint8Array.from(s!.body);
    body[0]! ^= 1;
    const id = new SshEd25519Identity(alice.privateKey);
    expect(() => id.unwrapFileKey([new Stanza(s!.args, body)])).toThrow(/does not decrypt/);
    // A swapped share under the right tag must not decrypt either.
    const [t] = await new SshEd25519Recipient(alice.publicKey).wrapFileKey(fileKey);
    expect(() => id.unwrapFileKey([new Stanza([s!.args[0]!, s!.args[1]!, t!.args[2]!], s!.body)])).toThrow(DeployKeysError);
    expect(id.unwrapFileKey([s!])).toEqual(new Uint8Array(fileKey));
  });

  it.each([
    ['missing share', ['ssh-ed25519', 'AAAAAA']],
    ['extra argument', ['ssh-ed25519', 'AAAAAA', 'A'.repeat(43), 'x']],
    ['short share', ['ssh-ed25519', 'AAAAAA', 'AAAA']],
    ['padded share', ['ssh-ed25519', 'AAAAAA', `${'A'.repeat(43)}=`]],
  ])('throws on a malformed ssh-ed25519 stanza: %s', (_, args) => {
    const id = new SshEd25519Identity(alice.privateKey);
    expect(() => id.unwrapFileKey([new Stanza(args, new Uint8Array(32))])).toThrow(/invalid age ssh-ed25519 stanza/);
  });

  it('throws on a low-order ephemeral share carrying its tag', async () => {
    const [s] = await new SshEd25519Recipient(alice.publicKey).wrapFileKey(randomBytes(16));
    const zero = 'A'.repeat(43); // u = 0, a low-order point
    const id = new SshEd25519Identity(alice.privateKey);
    expect(() => id.unwrapFileKey([new Stanza([s!.args[0]!, s!.args[1]!, zero], s!.body)])).toThrow(/low-order/);
  });

  it('refuses non-ed25519 recipients, and invalid curve points when wrapping', async () => {
    expect(() => new SshEd25519Recipient('ecdsa-sha2-nistp256 AAAA')).toThrow(DeployKeysError);
    // y = 1 is the identity point: small order, no shared secret possible.
    const identityPoint = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32, 1]), Buffer.alloc(31)]);
    await expect(new SshEd25519Recipient(`ssh-ed25519 ${identityPoint.toString('base64')}`).wrapFileKey(randomBytes(16))).rejects.toThrow(/small-order/);
  });

  it('the identity names its public key and does not expose its secret', () => {
    const id = new SshEd25519Identity(alice.privateKey);
    expect(id.publicKey).toBe(alice.publicKey);
    expect(JSON.stringify(id)).toBe(JSON.stringify({ type: 'ssh-ed25519', publicKey: alice.publicKey, fingerprint: alice.fingerprint }));
  });
});

describe.skipIf(!haveTools('age'))('interop with the age CLI', () => {
  const dir = privateTempDir('age-ssh');
  const alice = generateDeployKey('alice-repo-deploy');
  const bob = generateDeployKey('bob-repo-deploy');
  const aliceKey = writeSecret(dir, 'alice', alice.privateKey);
  const bobKey = writeSecret(dir, 'bob', bob.privateKey);
  const alicePub = writeSecret(dir, 'alice.pub', `${alice.publicKey}\n`);

  it('age -d -i <ssh key> opens what our recipient wrote (binary and armored)', async () => {
    const plaintext = randomBytes(4096);
    const file = await encryptTo(plaintext, new SshEd25519Recipient(alice.publicKey));
    expect(ok('age', ['-d', '-i', aliceKey], file).equals(plaintext)).toBe(true);
    expect(ok('age', ['-d', '-i', aliceKey], armor.encode(file)).equals(plaintext)).toBe(true);
  });

  it('our identity opens what age -R <ssh .pub> wrote', async () => {
    for (const armorFlag of [[], ['-a']]) {
      const plaintext = randomBytes(100);
      const out = ok('age', [...armorFlag, '-R', alicePub], plaintext);
      const file = armorFlag.length ? armor.decode(out.toString()) : new Uint8Array(out);
      expect(headerStanzas(file)[0]!.args[0]).toBe('ssh-ed25519');
      expect(Buffer.from(await decryptWith(file, new SshEd25519Identity(alice.privateKey))).equals(plaintext)).toBe(true);
    }
  });

  it('age -r "ssh-ed25519 …" (recipient on the command line; it is public) interoperates too', async () => {
    const out = ok('age', ['-r', alice.publicKey], 'hello');
    expect(Buffer.from(await decryptWith(new Uint8Array(out), new SshEd25519Identity(alice.privateKey))).toString()).toBe('hello');
  });

  it('the wrong key fails on both sides', async () => {
    const file = await encryptTo(Buffer.from('for alice'), new SshEd25519Recipient(alice.publicKey));
    const r = run('age', ['-d', '-i', bobKey], file);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/no identity matched/);
    const fromCli = new Uint8Array(ok('age', ['-R', alicePub], 'for alice'));
    await expect(decryptWith(fromCli, new SshEd25519Identity(bob.privateKey))).rejects.toThrow(/no identity matched/);
  });

  it('age -d opens the published sops-nix ssh-ed25519 vector to the same data key as we do', async () => {
    const keyFile = writeSecret(dir, 'sops-nix-test-key', F.SSH_KEY);
    const theirs = ok('age', ['-d', '-i', keyFile], F.NATIVE_SSH.enc);
    const ours = await decryptWith(armor.decode(F.NATIVE_SSH.enc), new SshEd25519Identity(F.SSH_KEY));
    expect(theirs.equals(Buffer.from(ours))).toBe(true);
  });
});
