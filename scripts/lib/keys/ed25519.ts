/**
 * Deploy key generation: one fresh ed25519 key per host and repo.
 */
import { generateKeyPairSync } from 'node:crypto';
import { assertComment } from './comment.js';
import { Ed25519PrivateKey } from './private-key.js';

export interface DeployKey {
  /** OpenSSH private key file text, ending in "\n" (ssh-keygen refuses it otherwise). */
  privateKey: string;
  /** `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
  /** `SHA256:…`, identical to `ssh-keygen -lf`. */
  fingerprint: string;
}

/** Generates a new ed25519 key; `comment` is usually deployKeyTitle(host, repo). */
export function generateDeployKey(comment: string): DeployKey {
  assertComment(comment);
  const { privateKey } = generateKeyPairSync('ed25519');
  // PKCS#8 DER of ed25519 is a fixed 16-byte prefix followed by the 32-byte seed.
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    const key = new Ed25519PrivateKey(der.subarray(der.length - 32), comment);
    return { privateKey: key.toOpenSSH(), publicKey: key.publicKey, fingerprint: key.fingerprint };
  } finally {
    der.fill(0);
  }
}
