/**
 * The age module: recipient and identity strings parsed strictly (errors never
 * repeat the input, since a misplaced secret key is a plausible input), and
 * encryption/decryption of small payloads such as SOPS data keys. X25519 and
 * ssh-ed25519 run natively on node:crypto (format.ts, x25519.ts, ssh-ed25519*.ts);
 * post-quantum hybrid keys go through the age-encryption package, loaded only
 * when one is in use.
 */
import { bech32 } from '@scure/base';
import { DeployKeysError } from '../errors.js';
import { AgeFormatError, armorDecode, armorEncode, decryptAge, encryptAge } from './format.js';
import type { AgeIdentity, AgeRecipient } from './format.js';
import { SshEd25519Identity, SshEd25519Recipient } from './ssh-ed25519.js';
import { X25519Identity, X25519Recipient } from './x25519.js';

export { AgeFormatError, armorDecode, armorEncode, decryptAge, encryptAge } from './format.js';
export type { AgeIdentity, AgeRecipient, Stanza } from './format.js';
export { SshEd25519Identity, SshEd25519Recipient, sshStanzaTag } from './ssh-ed25519.js';
export { sshPublicKeyToAgeRecipient, sshPrivateKeyToAgeIdentity } from './ssh-to-age.js';
export { X25519Identity, X25519Recipient } from './x25519.js';

/** A post-quantum hybrid key (`age1pq1…`, `AGE-SECRET-KEY-PQ-1…`), handled by the age-encryption package. */
export class HybridKey {
  constructor(readonly text: string) {}
}

const RECIPIENT_HINT = 'expected an age1… key or an "ssh-ed25519 AAAA…" public key';
const IDENTITY_HINT = 'expected an AGE-SECRET-KEY-1… line or an OpenSSH ed25519 private key';

/** A recipient: native for age1… and ssh-ed25519, a HybridKey for age1pq1…. */
export function parseRecipient(str: string, where = 'age recipient'): AgeRecipient | HybridKey {
  const s = str.trim();
  const fail = (problem: string, hint = RECIPIENT_HINT): never => {
    throw new DeployKeysError(`${where} ${problem}`, { hint });
  };
  if (s === '') return fail('is empty');
  if (/^AGE-SECRET-KEY-/i.test(s) || s.includes('PRIVATE KEY')) {
    return fail('is a secret key, not a recipient', 'give the public side: age-keygen -y, or the .pub file');
  }
  if (s.startsWith('age1pq1')) {
    checkBech32(s, 'age1pq', 1216, false, fail);
    return new HybridKey(s);
  }
  // bech32 data never contains "1", so a second "1" means a longer prefix: age1<plugin>1…, age1tag1….
  if (/^age1[a-z0-9]+1/.test(s)) {
    return fail('is an age plugin or tag recipient (age1<name>1…), which is not supported');
  }
  if (s.startsWith('age1')) return new X25519Recipient(checkBech32(s, 'age', 32, true, fail));
  if (/^ssh-ed25519\s/.test(s)) return new SshEd25519Recipient(s);
  if (/^ssh-rsa\s/.test(s)) return fail('is an ssh-rsa key; ssh-rsa age recipients are not supported', 'use an ssh-ed25519 key or an age1… key');
  const sshType = /^((?:sk-)?(?:ssh|ecdsa)-[a-z0-9@.-]+)\s/.exec(s)?.[1];
  if (sshType) return fail(`is an ${sshType} key; age supports only ssh-ed25519 (and ssh-rsa) ssh keys`, 'use an ssh-ed25519 key or an age1… key');
  return fail('has an unknown recipient type');
}

/** An identity: native for AGE-SECRET-KEY-1… and OpenSSH ed25519 keys, a HybridKey for AGE-SECRET-KEY-PQ-1…. */
export function parseIdentity(str: string, where = 'age identity'): AgeIdentity | HybridKey {
  const s = str.trim();
  const fail = (problem: string, hint = IDENTITY_HINT): never => {
    throw new DeployKeysError(`${where} ${problem}`, { hint });
  };
  if (s === '') return fail('is empty');
  if (s.startsWith('AGE-SECRET-KEY-PQ-1')) {
    checkBech32(s, 'AGE-SECRET-KEY-PQ-', 32, false, fail);
    return new HybridKey(s);
  }
  if (s.startsWith('AGE-SECRET-KEY-1')) return new X25519Identity(checkBech32(s, 'AGE-SECRET-KEY-', 32, true, fail));
  if (s.startsWith('AGE-PLUGIN-')) return fail('is an age plugin identity, which is not supported');
  if (s.startsWith('-----BEGIN')) return new SshEd25519Identity(s, where);
  if (/^age1|^ssh-|^ecdsa-|^sk-/.test(s)) {
    return fail('is a public key (recipient), not an identity', 'give the secret key: the keys.txt line or the ssh private key file');
  }
  return fail('has an unknown identity type');
}

/**
 * An age keys file (keys.txt, SOPS_AGE_KEY): one identity per line, `#`
 * comments and blank lines ignored, several whitespace-separated keys per line
 * allowed (sops ≥ 3.13). A file that is an OpenSSH private key is one identity.
 * Errors name the line number, never its content.
 */
export function parseKeysFile(text: string, where = 'age keys file'): (AgeIdentity | HybridKey)[] {
  if (text.trimStart().startsWith('-----BEGIN')) return [parseIdentity(text, where)];
  const out: (AgeIdentity | HybridKey)[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    for (const key of t.split(/\s+/)) out.push(parseIdentity(key, `${where} line ${i + 1}`));
  });
  if (out.length === 0) throw new DeployKeysError(`${where} holds no identities`, { hint: IDENTITY_HINT });
  return out;
}

/** Validates a bech32 age key without echoing it; returns its payload. */
function checkBech32(
  s: string,
  prefix: string,
  bytes: number,
  limit: boolean,
  fail: (problem: string) => never,
): Uint8Array {
  let decoded;
  try {
    // Post-quantum keys exceed bech32's 90-character limit; age lifts it for them.
    decoded = bech32.decode(s as `${string}1${string}`, limit ? 90 : false);
  } catch {
    return fail(`is not a valid ${prefix}1… key (bad bech32 encoding or checksum)`);
  }
  if (decoded.prefix.toLowerCase() !== prefix.toLowerCase()) return fail(`is not a valid ${prefix}1… key`);
  const payload = bech32.fromWordsUnsafe(decoded.words);
  if (!payload || payload.length !== bytes) return fail(`is not a valid ${prefix}1… key (wrong length)`);
  return payload;
}

type Library = typeof import('age-encryption');
let library: Promise<Library> | undefined;
const loadLibrary = (): Promise<Library> => (library ??= import('age-encryption'));

/** Encrypt `payload` to one recipient; returns the armored age file. */
export async function encryptTo(payload: Uint8Array, recipient: AgeRecipient | HybridKey): Promise<string> {
  if (!(recipient instanceof HybridKey)) return armorEncode(await encryptAge(payload, [recipient]));
  const { Encrypter } = await loadLibrary();
  const e = new Encrypter();
  e.addRecipient(recipient.text);
  return armorEncode(await e.encrypt(payload));
}

/**
 * Decrypt an armored age file with the first identity that opens it; null when
 * none does. A damaged or tampered file throws (AgeFormatError or the library's error).
 */
export async function decryptWith(armored: string, identities: readonly (AgeIdentity | HybridKey)[]): Promise<Uint8Array | null> {
  const file = armorDecode(armored);
  const native = identities.filter((i): i is AgeIdentity => !(i instanceof HybridKey));
  const found = await decryptAge(file, native);
  const hybrid = identities.filter((i): i is HybridKey => i instanceof HybridKey);
  if (found !== null || hybrid.length === 0) return found;
  const { Decrypter } = await loadLibrary();
  const d = new Decrypter();
  for (const h of hybrid) d.addIdentity(h.text);
  try {
    return await d.decrypt(file);
  } catch (e) {
    if (e instanceof Error && e.message.includes('no identity matched')) return null;
    throw new AgeFormatError(e instanceof Error ? e.message : 'cannot decrypt');
  }
}
