/**
 * The ed25519 public key → X25519 public key conversion that age's ssh-ed25519
 * recipients and the ssh-to-age tool rely on. The curve arithmetic comes from
 * @noble/curves (audited), not hand-rolled, loaded on first use: it is ~40
 * modules, and decrypting never needs it. X25519 itself is in x25519.ts (node:crypto).
 */
import { DeployKeysError } from '../errors.js';

/**
 * The X25519 public key (Montgomery u) for an ed25519 public key, via the
 * birational map u = (1 + y) / (1 - y). Refuses points that are not on the
 * curve or have small order (no secret could be derived with them).
 */
export async function ed25519PublicToX25519(publicKey: Uint8Array): Promise<Uint8Array> {
  const { ed25519 } = await import('@noble/curves/ed25519.js');
  let point;
  try {
    point = ed25519.Point.fromBytes(publicKey);
  } catch {
    throw new DeployKeysError('ssh-ed25519 public key is not a valid curve point');
  }
  if (point.isSmallOrder()) throw new DeployKeysError('ssh-ed25519 public key is a small-order point');
  return ed25519.utils.toMontgomery(publicKey);
}
