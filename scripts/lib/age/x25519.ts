/**
 * X25519 on node:crypto (OpenSSL), and age's native `X25519` recipient type:
 *
 *   stanza = `-> X25519 <share>` + ChaCha20-Poly1305(wrap key, file key)
 *   share  = X25519(ephemeral, basepoint)
 *   key    = HKDF-SHA-256(ikm = X25519(ephemeral, recipient), salt = share ‖ recipient, info = label)
 */
import { createHash, diffieHellman, randomBytes } from 'node:crypto';
import { DeployKeysError } from '../errors.js';
import { okpPrivateKey, okpPublicBytes, okpPublicKey } from '../okp.js';
import { decodeBase64Raw, encodeBase64Raw } from '../base64.js';
import { hkdfSha256, openFileKey, sealFileKey } from './aead.js';
import type { AgeIdentity, AgeRecipient, Stanza } from './format.js';

const LABEL = 'age-encryption.org/v1/X25519';
const FILE_KEY_SIZE = 16;

/** X25519(scalar, point) per RFC 7748 (the scalar is clamped); throws on a low-order point. */
export function x25519(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  let out: Buffer;
  try {
    out = diffieHellman({ privateKey: okpPrivateKey('X25519', scalar), publicKey: okpPublicKey('X25519', point) });
  } catch (e) {
    throw new DeployKeysError('X25519 failed (low-order point)', { cause: e });
  }
  if (out.every((b) => b === 0)) throw new DeployKeysError('X25519 failed (low-order point)');
  return new Uint8Array(out);
}

/** X25519(scalar, basepoint): the public key of a scalar. */
export function x25519Base(scalar: Uint8Array): Uint8Array {
  return okpPublicBytes(okpPrivateKey('X25519', scalar));
}

/**
 * The X25519 secret scalar for an ed25519 seed: the first half of SHA-512(seed),
 * NOT clamped. age and ssh-to-age both use it unclamped (X25519 clamps when it
 * multiplies), and ssh-to-age prints these exact bytes as AGE-SECRET-KEY-1….
 */
export function ed25519SeedToX25519(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new DeployKeysError('an ed25519 seed must be 32 bytes');
  const h = createHash('sha512').update(seed).digest();
  const out = new Uint8Array(h.subarray(0, 32));
  h.fill(0);
  return out;
}

export class X25519Recipient implements AgeRecipient {
  readonly #theirs: Uint8Array;

  /** `publicKey`: the 32 bytes of an `age1…` recipient. */
  constructor(publicKey: Uint8Array) {
    if (publicKey.length !== 32) throw new DeployKeysError('an X25519 recipient must be 32 bytes');
    this.#theirs = publicKey;
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const ephemeral = randomBytes(32);
    try {
      const share = x25519Base(ephemeral);
      const shared = x25519(ephemeral, this.#theirs);
      const key = hkdfSha256(shared, Buffer.concat([share, this.#theirs]), LABEL);
      shared.fill(0);
      const body = sealFileKey(key, fileKey);
      key.fill(0);
      return [{ args: ['X25519', encodeBase64Raw(share)], body }];
    } finally {
      ephemeral.fill(0);
    }
  }
}

export class X25519Identity implements AgeIdentity {
  readonly #secret: Uint8Array;
  readonly #ours: Uint8Array;

  /** `secret`: the 32 bytes of an `AGE-SECRET-KEY-1…` identity. */
  constructor(secret: Uint8Array) {
    this.#secret = new Uint8Array(secret);
    this.#ours = x25519Base(this.#secret);
  }

  /** Null when no X25519 stanza opens with this key; throws on a malformed one, as age does. */
  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== 'X25519') continue;
      const [, shareText] = s.args;
      const share = s.args.length === 2 && shareText !== undefined ? decodeBase64Raw(shareText) : undefined;
      if (share?.length !== 32 || s.body.length !== FILE_KEY_SIZE + 16) throw invalid();
      let shared: Uint8Array;
      try {
        shared = x25519(this.#secret, share);
      } catch {
        throw invalid();
      }
      const key = hkdfSha256(shared, Buffer.concat([share, this.#ours]), LABEL);
      shared.fill(0);
      const fileKey = openFileKey(key, s.body);
      key.fill(0);
      if (fileKey !== null) return fileKey;
    }
    return null;
  }
}

function invalid(): DeployKeysError {
  return new DeployKeysError('invalid age X25519 stanza', { hint: 'the encrypted file is corrupt or was tampered with' });
}
