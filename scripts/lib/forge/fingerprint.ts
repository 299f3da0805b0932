/** Key parsing for the forge layer: the keys module is the single source of truth. */
import { createHash } from 'node:crypto';
import { parsePublicKey } from '../keys/public-key.js';

export interface ParsedKey {
  /** `type base64`, no comment: what forges store and compare. */
  key: string;
  fingerprint: string;
}

/** Parses a public key line (throws DeployKeysError on garbage, without quoting it). */
export function parseKey(line: string, where = 'public key'): ParsedKey {
  const k = parsePublicKey(line, where);
  return { key: k.key, fingerprint: k.fingerprint };
}

/** The fingerprint of a key the forge returned, or undefined if it does not parse. */
export function fingerprintOrUndefined(line: string): string | undefined {
  try {
    return parsePublicKey(line).fingerprint;
  } catch {
    return undefined;
  }
}

/**
 * `SHA256:…` of the key blob in a `type base64 [comment]` line, computed
 * locally. Falls back to hashing the decoded second field when the key type is
 * one the keys module does not parse (e.g. an old ssh-dss key on a forge), so
 * every listed key has a fingerprint; returns `SHA256:?` for garbage.
 */
export function blobFingerprint(line: string): string {
  const fp = fingerprintOrUndefined(line);
  if (fp) return fp;
  const b64 = line.trim().split(/\s+/)[1] ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return 'SHA256:?';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}
