import { armor, Decrypter, Encrypter, generateHybridIdentity, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { DeployKeysError } from '../../scripts/lib/errors.js';
import {
  decryptWith,
  encryptTo,
  HybridKey,
  SshEd25519Identity,
  SshEd25519Recipient,
  X25519Identity,
  X25519Recipient,
  parseIdentity,
  parseKeysFile,
  parseRecipient,
} from '../../scripts/lib/age/index.js';
import { generateDeployKey } from '../../scripts/lib/keys/index.js';

/** Expects a DeployKeysError whose text does not contain `input` (or any 16-char run of it). */
function refused(fn: () => unknown, input: string, msg: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DeployKeysError);
  const said = (err as DeployKeysError).oneLine();
  expect(said).toMatch(msg);
  // Naming the kind ("ssh-rsa", "AGE-SECRET-KEY-1…") is fine; the key material after it is not.
  const flat = input.replace(/^(AGE-SECRET-KEY-1|AGE-PLUGIN-|age1|[a-z0-9@.-]+\s)/, '').replace(/\s+/g, '');
  for (let i = 0; i + 16 <= flat.length; i += 8) expect(said).not.toContain(flat.slice(i, i + 16));
}

describe('parseRecipient', async () => {
  const x = await generateX25519Identity();
  const xr = await identityToRecipient(x);
  const pq = await generateHybridIdentity();
  const pqr = await identityToRecipient(pq);
  const ssh = generateDeployKey('web-01-nix-config-deploy');

  it('turns age1… into a native X25519Recipient and age1pq1… into a HybridKey for age-encryption', () => {
    expect(parseRecipient(xr)).toBeInstanceOf(X25519Recipient);
    expect(parseRecipient(`  ${xr}\n`)).toBeInstanceOf(X25519Recipient);
    expect(parseRecipient(pqr)).toEqual(new HybridKey(pqr));
  });

  it('turns ssh-ed25519 lines into SshEd25519Recipient', () => {
    const r = parseRecipient(ssh.publicKey);
    expect(r).toBeInstanceOf(SshEd25519Recipient);
    expect((r as SshEd25519Recipient).fingerprint).toBe(ssh.fingerprint);
  });

  it('encrypts to every kind, and age-encryption opens the result (native and hybrid alike)', async () => {
    for (const [r, id] of [[xr, x], [ssh.publicKey, ssh.privateKey], [pqr, pq]] as const) {
      const armored = await encryptTo(Buffer.from('payload'), parseRecipient(r));
      const d = new Decrypter();
      d.addIdentity(id.startsWith('AGE-') ? id : new SshEd25519Identity(id));
      expect(await d.decrypt(armor.decode(armored), 'text')).toBe('payload');
      expect(Buffer.from((await decryptWith(armored, [parseIdentity(id)]))!).toString()).toBe('payload');
    }
  });

  it('age-encryption files open natively; a foreign identity gets null, a tampered file an error', async () => {
    const e = new Encrypter();
    e.addRecipient(xr);
    const armored = armor.encode(await e.encrypt('payload'));
    expect(Buffer.from((await decryptWith(armored, [parseIdentity(x)]))!).toString()).toBe('payload');
    expect(await decryptWith(armored, [parseIdentity(await generateX25519Identity())])).toBeNull();
    const bin = armor.decode(armored);
    bin[bin.length - 1]! ^= 1;
    await expect(decryptWith(armor.encode(bin), [parseIdentity(x)])).rejects.toThrow(/payload does not authenticate/);
  });

  it.each([
    ['empty', '', /is empty/],
    ['an age secret key', 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ', /is a secret key, not a recipient/],
    ['an ssh private key', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----', /is a secret key/],
    ['ssh-rsa', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host', /ssh-rsa age recipients are not supported/],
    ['ecdsa', 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBB', /ecdsa-sha2-nistp256 key; age supports only ssh-ed25519/],
    ['a plugin recipient', 'age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t', /plugin or tag recipient/],
    ['a bad checksum', 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8q', /bad bech32 encoding or checksum/],
    ['a PGP fingerprint', 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4', /unknown recipient type/],
  ])('refuses %s without echoing it', (_, input, msg) => {
    refused(() => parseRecipient(input), input, msg);
  });
});

describe('parseIdentity', async () => {
  const x = await generateX25519Identity();
  const pq = await generateHybridIdentity();
  const ssh = generateDeployKey('web-01-nix-config-deploy');

  it('turns AGE-SECRET-KEY-1 into a native X25519Identity and AGE-SECRET-KEY-PQ-1 into a HybridKey', () => {
    expect(parseIdentity(x)).toBeInstanceOf(X25519Identity);
    expect(parseIdentity(pq)).toEqual(new HybridKey(pq));
  });

  it('turns OpenSSH private key text into SshEd25519Identity', () => {
    const id = parseIdentity(ssh.privateKey);
    expect(id).toBeInstanceOf(SshEd25519Identity);
    expect((id as SshEd25519Identity).publicKey).toBe(ssh.publicKey);
  });

  it.each([
    ['empty', '  ', /is empty/],
    ['a corrupted secret key', 'AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ', /bad bech32/],
    ['a recipient', 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p', /is a public key \(recipient\)/],
    ['an ssh public key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBI1+Q+ntzANebtnicCiAY29uqLGWOaOGLEa8bUqOVmS', /is a public key/],
    ['a plugin identity', 'AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQ', /plugin identity/],
    ['garbage', 'hunter2hunter2hunter2', /unknown identity type/],
    ['an RSA PEM key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----', /PEM RSA key/],
  ])('refuses %s without echoing it', (_, input, msg) => {
    refused(() => parseIdentity(input), input, msg);
  });
});

describe('parseKeysFile', async () => {
  const a = await generateX25519Identity();
  const b = await generateX25519Identity();
  const c = await generateX25519Identity();

  it('reads comments, blank lines, CRLF, several keys per line and a missing final newline', async () => {
    const text = `# created: 2024-01-01\r\n# public key: age1…\r\n${a}\r\n\r\n  ${b} ${c}`;
    const ids = parseKeysFile(text);
    expect(ids).toHaveLength(3);
    // Each identity, in order, opens what was encrypted to its key and nothing else.
    for (const [i, k] of [a, b, c].entries()) {
      const armored = await encryptTo(Buffer.from('x'), parseRecipient(await identityToRecipient(k)));
      for (const [j, id] of ids.entries()) expect(await decryptWith(armored, [id]) !== null).toBe(i === j);
    }
  });

  it('treats an OpenSSH private key file as one identity', () => {
    const k = generateDeployKey('host-repo-deploy');
    const ids = parseKeysFile(k.privateKey);
    expect(ids).toHaveLength(1);
    expect((ids[0] as SshEd25519Identity).fingerprint).toBe(k.fingerprint);
  });

  it('names the bad line but never prints it', () => {
    const bad = 'AGE-SECRET-KEY-1ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ';
    refused(() => parseKeysFile(`# keys\n${a}\n${bad}\n`, '~/.config/sops/age/keys.txt'), bad, /keys\.txt line 3 is not a valid/);
  });

  it('refuses a file with no identities', () => {
    refused(() => parseKeysFile('# nothing here\n\n'), '', /holds no identities/);
  });
});
