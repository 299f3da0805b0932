/**
 * SOPS failures. Every message names the file and the cause on one line and
 * never carries plaintext values or key material; the hint says how to fix it.
 */
import { DeployKeysError } from '../errors.js';

interface Opts { hint?: string; cause?: unknown }

export class SopsError extends DeployKeysError {
  override name = 'SopsError';
  constructor(message: string, opts: Opts = {}) {
    super(message.replace(/\s*\n\s*/g, ' '), opts);
  }
}

/** Not a SOPS file, malformed YAML/JSON, malformed metadata or ENC value. */
export class SopsFormatError extends SopsError {
  override name = 'SopsFormatError';
}

/** The MAC over the values does not match: values were removed, reordered or changed. */
export class SopsMacMismatchError extends SopsError {
  override name = 'SopsMacMismatchError';
}

/** AES-GCM authentication failed for one value (tampered, or moved to another key). */
export class SopsDecryptError extends SopsError {
  override name = 'SopsDecryptError';
}

/** None of the available identities opens any of the file's key entries. */
export class SopsNoIdentityError extends SopsError {
  override name = 'SopsNoIdentityError';
}

/** A feature of the format this codec does not implement (pgp-only files, Shamir encryption…). */
export class SopsUnsupportedError extends SopsError {
  override name = 'SopsUnsupportedError';
}

/** `.sops.yaml` is missing a rule, or is malformed. */
export class SopsConfigError extends SopsError {
  override name = 'SopsConfigError';
}
