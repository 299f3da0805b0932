/**
 * The two primitives every age stanza uses: HKDF-SHA-256 and ChaCha20-Poly1305
 * with a zero nonce (safe because each wrapping key encrypts exactly one file key).
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';

const ZERO_NONCE = Buffer.alloc(12);
const TAG = 16;

export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string, length = 32): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'utf8'), length));
}

export function sealFileKey(key: Uint8Array, fileKey: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: TAG });
  return new Uint8Array(Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]));
}

/** The opened file key, or null if the body does not authenticate under this key. */
export function openFileKey(key: Uint8Array, body: Uint8Array): Uint8Array | null {
  if (body.length < TAG) return null;
  const d = createDecipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: TAG });
  d.setAuthTag(body.subarray(body.length - TAG));
  try {
    return new Uint8Array(Buffer.concat([d.update(body.subarray(0, body.length - TAG)), d.final()]));
  } catch {
    return null;
  }
}
