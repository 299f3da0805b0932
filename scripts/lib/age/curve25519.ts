/**
 * The two conversions from ed25519 keys to X25519 keys that age's ssh-ed25519
 * recipients and the ssh-to-age tool rely on, plus X25519 itself.
 *
 * Curve arithmetic comes from @noble/curves (audited, already a dependency of
 * age-encryption); hashing from node:crypto. Nothing here is hand-rolled math.
 */
import { createHash } from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { DeployKeysError } from '../errors.js';

/**
 * The X25519 public key (Montgomery u) for an ed25519 public key, via the
 * birational map u = (1 + y) / (1 - y). Refuses points that are not on the
 * curve or have small order (no secret could be derived with them).
 */
export function ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array {
  let point;
  try {
    point = ed25519.Point.fromBytes(publicKey);
  } catch {
    throw new DeployKeysError('ssh-ed25519 public key is not a valid curve point');
  }
  if (point.isSmallOrder()) throw new DeployKeysError('ssh-ed25519 public key is a small-order point');
  return ed25519.utils.toMontgomery(publicKey);
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

/** X25519(scalar, point) per RFC 7748; throws on low-order points (all-zero output). */
export function x25519Mult(scalar: Uint8Array, point: Uint8Array): Uint8Array {
  return x25519.scalarMult(scalar, point);
}

export function x25519Base(scalar: Uint8Array): Uint8Array {
  return x25519.scalarMultBase(scalar);
}
