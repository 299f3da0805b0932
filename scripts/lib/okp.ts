/**
 * Raw Ed25519 and X25519 keys (RFC 8037 "OKP") as node:crypto KeyObjects.
 * Imported as JWK: in Node 20 that is about ten times cheaper than wrapping the
 * bytes in PKCS#8 or SPKI DER (a DER private key import costs ~0.6 ms or more),
 * which a fleet run pays for every key it generates, reads or encrypts to.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { DeployKeysError } from './errors.js';

export type OkpCurve = 'Ed25519' | 'X25519';

/**
 * The private key for 32 secret bytes (an ed25519 seed, an X25519 scalar).
 * Node requires the JWK's `x` but builds the key from `d` alone and derives
 * its public half, so `x` is left empty: the public key is never trusted from
 * the caller (test/keys checks the derivation against ssh-keygen).
 */
export function okpPrivateKey(crv: OkpCurve, secret: Uint8Array): KeyObject {
  if (secret.length !== 32) throw new DeployKeysError(`an ${crv} private key must be 32 bytes`);
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv, d: Buffer.from(secret).toString('base64url'), x: '' }, format: 'jwk' });
  } catch {
    // A Node that checks `x` against `d`: the same key through PKCS#8, slower.
    return okpPrivateKeyDer(crv, secret);
  }
}

// PKCS#8 PrivateKeyInfo up to the 32 key bytes (RFC 8410): version 0, the curve's OID, OCTET STRING.
const PKCS8_PREFIX: Record<OkpCurve, Buffer> = {
  Ed25519: Buffer.from('302e020100300506032b657004220420', 'hex'),
  X25519: Buffer.from('302e020100300506032b656e04220420', 'hex'),
};

/** okpPrivateKey's fallback, exported for its test. */
export function okpPrivateKeyDer(crv: OkpCurve, secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[crv], secret]), format: 'der', type: 'pkcs8' });
}

export function okpPublicKey(crv: OkpCurve, point: Uint8Array): KeyObject {
  if (point.length !== 32) throw new DeployKeysError(`an ${crv} public key must be 32 bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(point).toString('base64url') }, format: 'jwk' });
}

/** The 32 raw public-key bytes of an OKP key (private or public). */
export function okpPublicBytes(key: KeyObject): Uint8Array {
  const { x } = key.export({ format: 'jwk' });
  const out = x === undefined ? undefined : Buffer.from(x, 'base64url');
  if (out?.length !== 32) throw new DeployKeysError('node:crypto gave no 32-byte public key');
  return new Uint8Array(out);
}
