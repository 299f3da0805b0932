/**
 * Turning recipient and identity strings into what age-encryption's Encrypter
 * and Decrypter accept. Native age keys pass through as strings (the library
 * handles them); ssh-ed25519 keys become our agessh implementation. Anything
 * else fails here with a message that never repeats the input, since a
 * misplaced secret key is a plausible input.
 */
import { bech32 } from '@scure/base';
import type { Identity, Recipient } from 'age-encryption';
import { DeployKeysError } from '../errors.js';
import { SshEd25519Identity, SshEd25519Recipient } from './ssh-ed25519.js';

export { SshEd25519Identity, SshEd25519Recipient, sshStanzaTag } from './ssh-ed25519.js';
export { sshPrivateKeyToAgeIdentity, sshPublicKeyToAgeRecipient } from './ssh-to-age.js';

const RECIPIENT_HINT = 'expected an age1… key or an "ssh-ed25519 AAAA…" public key';
const IDENTITY_HINT = 'expected an AGE-SECRET-KEY-1… line or an OpenSSH ed25519 private key';

/** A recipient for `Encrypter.addRecipient`. */
export function parseRecipient(str: string, where = 'age recipient'): Recipient | string {
  const s = str.trim();
  const fail = (problem: string, hint = RECIPIENT_HINT): never => {
    throw new DeployKeysError(`${where} ${problem}`, { hint });
  };
  if (s === '') return fail('is empty');
  if (/^AGE-SECRET-KEY-/i.test(s) || s.includes('PRIVATE KEY')) {
    return fail('is a secret key, not a recipient', 'give the public side: age-keygen -y, or the .pub file');
  }
  if (s.startsWith('age1pq1')) return checkBech32(s, 'age1pq', 1216, false, fail);
  // bech32 data never contains "1", so a second "1" means a longer prefix: age1<plugin>1…, age1tag1….
  if (/^age1[a-z0-9]+1/.test(s)) {
    return fail('is an age plugin or tag recipient (age1<name>1…), which is not supported');
  }
  if (s.startsWith('age1')) return checkBech32(s, 'age', 32, true, fail);
  if (/^ssh-ed25519\s/.test(s)) return new SshEd25519Recipient(s);
  if (/^ssh-rsa\s/.test(s)) return fail('is an ssh-rsa key; ssh-rsa age recipients are not supported', 'use an ssh-ed25519 key or an age1… key');
  const sshType = /^((?:sk-)?(?:ssh|ecdsa)-[a-z0-9@.-]+)\s/.exec(s)?.[1];
  if (sshType) return fail(`is an ${sshType} key; age supports only ssh-ed25519 (and ssh-rsa) ssh keys`, 'use an ssh-ed25519 key or an age1… key');
  return fail('has an unknown recipient type');
}

/** An identity for `Decrypter.addIdentity`. */
export function parseIdentity(str: string, where = 'age identity'): Identity | string {
  const s = str.trim();
  const fail = (problem: string, hint = IDENTITY_HINT): never => {
    throw new DeployKeysError(`${where} ${problem}`, { hint });
  };
  if (s === '') return fail('is empty');
  if (s.startsWith('AGE-SECRET-KEY-PQ-1')) return checkBech32(s, 'AGE-SECRET-KEY-PQ-', 32, false, fail);
  if (s.startsWith('AGE-SECRET-KEY-1')) return checkBech32(s, 'AGE-SECRET-KEY-', 32, true, fail);
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
export function parseKeysFile(text: string, where = 'age keys file'): (Identity | string)[] {
  if (text.trimStart().startsWith('-----BEGIN')) return [parseIdentity(text, where)];
  const out: (Identity | string)[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    for (const key of t.split(/\s+/)) out.push(parseIdentity(key, `${where} line ${i + 1}`));
  });
  if (out.length === 0) throw new DeployKeysError(`${where} holds no identities`, { hint: IDENTITY_HINT });
  return out;
}

/** Validates a bech32 age key without echoing it, and returns it in canonical case. */
function checkBech32(
  s: string,
  prefix: string,
  bytes: number,
  limit: boolean,
  fail: (problem: string) => never,
): string {
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
  return s;
}
