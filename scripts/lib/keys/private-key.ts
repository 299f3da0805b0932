/**
 * OpenSSH private key files (PROTOCOL.key, "openssh-key-v1"), ed25519 and
 * unencrypted only: deploy keys live inside SOPS files, which already encrypt
 * them, and hosts read them non-interactively.
 *
 * sshpk reads and writes the container. Checked here, because sshpk does not:
 * the PEM framing and base64, and that the public key, stored twice (the outer
 * copy sshpk skips), is the one the seed makes, so a tampered file is refused.
 *
 * Security rules for this file: no message ever contains key text or bytes
 * (sshpk's own messages are never passed on); the parsed seed sits in a
 * #private field, so console.log, util.inspect and JSON.stringify of a parsed
 * key do not show it.
 */
import { timingSafeEqual } from 'node:crypto';
import sshpk from 'sshpk';
import { DeployKeysError } from '../errors.js';
import { decodeBase64 } from '../base64.js';
import { okpPrivateKey, okpPublicBytes } from '../okp.js';
import { assertComment, commentProblem } from './comment.js';
import { ed25519Key, keyPart } from './public-key.js';

const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
/** sshpk names a key without a comment after this "file name"; empty keeps it empty. */
const NO_NAME = { filename: '' };
const MAGIC = 'openssh-key-v1\0';

/** A parsed ssh-ed25519 private key. */
export class Ed25519PrivateKey {
  readonly #seed: Uint8Array;
  /** The raw 32-byte ed25519 public key. */
  readonly publicKeyBytes: Uint8Array;
  /** The public key blob (`string "ssh-ed25519" || string pk`). */
  readonly blob: Uint8Array;
  readonly comment: string | undefined;
  /** `ssh-ed25519 AAAA…[ comment]`, what `ssh-keygen -y` prints. */
  readonly publicKey: string;
  readonly fingerprint: string;

  constructor(seed: Uint8Array, comment: string | undefined) {
    if (seed.length !== 32) throw new DeployKeysError('an ed25519 seed must be 32 bytes');
    if (comment !== undefined) assertComment(comment);
    this.#seed = Uint8Array.from(seed);
    this.publicKeyBytes = ed25519PublicFromSeed(this.#seed);
    const pub = ed25519Key(this.publicKeyBytes);
    if (comment !== undefined) pub.comment = comment;
    this.blob = new Uint8Array(pub.toBuffer('rfc4253'));
    this.comment = comment;
    this.publicKey = pub.toString('ssh');
    this.fingerprint = pub.fingerprint('sha256').toString();
  }

  /** A copy of the 32-byte secret seed (RFC 8032 private key). */
  get seed(): Uint8Array {
    return Uint8Array.from(this.#seed);
  }

  /** The OpenSSH private key file, with its trailing newline (ssh-keygen needs it). */
  toOpenSSH(): string {
    return encodeOpenSSHPrivateKey(this.#seed, this.publicKeyBytes, this.comment ?? '');
  }

  toJSON(): object {
    return { type: 'ssh-ed25519', publicKey: this.publicKey, fingerprint: this.fingerprint };
  }
}

/** The ed25519 public key for a seed, computed by node:crypto (OpenSSL). */
export function ed25519PublicFromSeed(seed: Uint8Array): Uint8Array {
  return okpPublicBytes(okpPrivateKey('Ed25519', seed));
}

/** The openssh-key-v1 file (sshpk's writer: wrapped at 70 columns, random check-int, final newline) for one unencrypted ed25519 key. */
export function encodeOpenSSHPrivateKey(seed: Uint8Array, publicKey: Uint8Array, comment: string): string {
  const k = Buffer.from(seed);
  const key = new sshpk.PrivateKey({ type: 'ed25519', parts: [{ name: 'A', data: Buffer.from(publicKey) }, { name: 'k', data: k }] });
  key.comment = comment; // the constructor leaves it unset
  try {
    return key.toString('openssh');
  } finally {
    k.fill(0);
  }
}

/**
 * Parses an unencrypted OpenSSH ed25519 private key. `where` names the key in
 * messages ("private key of web-01/nix-config").
 */
export function parsePrivateKey(text: string, where = 'private key'): Ed25519PrivateKey {
  const fail = (problem: string, hint?: string): never => {
    throw new DeployKeysError(`${where} ${problem}`, hint === undefined ? {} : { hint });
  };
  if (typeof text !== 'string') return fail('is not text');
  const trimmed = text.trim();
  if (!trimmed.startsWith(BEGIN)) return fail(describeOtherFormat(trimmed), 'expected an OpenSSH ed25519 key (ssh-keygen -t ed25519)');
  if (!trimmed.endsWith(END)) return fail('is truncated (no END OPENSSH PRIVATE KEY line)');
  const bytes = decodeBase64(trimmed.slice(BEGIN.length, trimmed.length - END.length).replace(/\s+/g, ''));
  if (!bytes) return fail('is corrupt (invalid base64)');
  const outer = outerPublicBlob(bytes);
  bytes.fill(0);

  let key: sshpk.PrivateKey;
  try {
    key = sshpk.parsePrivateKey(trimmed, 'openssh', NO_NAME);
  } catch (e) {
    if (e instanceof sshpk.KeyEncryptedError) {
      return fail('is protected by a passphrase', 'deploy keys are stored unencrypted inside SOPS; remove the passphrase from a copy with ssh-keygen -p -N ""');
    }
    return fail('is corrupt (not a readable openssh-key-v1 container)');
  }
  if (key.type !== 'ed25519') {
    return fail(`is a ${sshTypeName(key)} key; only ssh-ed25519 keys are supported`, 'generate one with ssh-keygen -t ed25519');
  }
  const comment = key.comment === undefined || key.comment === '' ? undefined : key.comment;
  const problem = comment === undefined ? undefined : commentProblem(comment);
  const seed = keyPart(key, 'k');
  try {
    // The public half is derived once, here; the file stores it twice, and both
    // copies must be the derived one, or the file was tampered with.
    const parsed = new Ed25519PrivateKey(seed, problem ? undefined : comment);
    const inner = keyPart(key, 'A');
    const { blob } = parsed;
    if (inner.length !== 32 || !timingSafeEqual(inner, parsed.publicKeyBytes) || outer?.length !== blob.length || !timingSafeEqual(outer, blob)) {
      return fail('is corrupt (its public key does not match its secret key)');
    }
    if (problem) return fail(`has a comment that ${problem}`, 'change it with ssh-keygen -c -f <file>');
    return parsed;
  } finally {
    seed.fill(0);
  }
}

/**
 * The public key blob the container stores before the private section
 * (PROTOCOL.key: magic, cipher, kdf, kdf options, key count, then this).
 */
function outerPublicBlob(bytes: Uint8Array): Uint8Array | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = MAGIC.length;
  const next = (): Uint8Array | undefined => {
    if (pos + 4 > bytes.length) return undefined;
    const n = view.getUint32(pos);
    if (pos + 4 + n > bytes.length) return undefined;
    pos += 4 + n;
    return bytes.slice(pos - n, pos);
  };
  next(); // cipher
  next(); // kdf
  next(); // kdf options
  pos += 4; // key count: sshpk refuses anything but 1
  return next();
}

/** The SSH name of a key sshpk read (`ssh-rsa`, `ecdsa-sha2-nistp256`…). */
function sshTypeName(key: sshpk.PrivateKey): string {
  switch (key.type) {
    case 'rsa':
      return 'ssh-rsa';
    case 'ecdsa':
      return `ecdsa-sha2-${key.curve ?? 'unknown'}`;
    case 'dsa':
      return 'ssh-dss';
    default:
      return key.type;
  }
}

/** Names the format of a non-OpenSSH key from its PEM label only. */
function describeOtherFormat(text: string): string {
  const label = /^-----BEGIN ([A-Z0-9 ]{1,40})-----/.exec(text)?.[1];
  switch (label) {
    case undefined:
      return 'is not an OpenSSH private key';
    case 'ENCRYPTED PRIVATE KEY':
      return 'is a passphrase-protected PKCS#8 key, not an OpenSSH key';
    case 'RSA PRIVATE KEY':
    case 'DSA PRIVATE KEY':
    case 'EC PRIVATE KEY':
      return `is a PEM ${label.split(' ')[0] ?? ''} key; only OpenSSH ssh-ed25519 keys are supported`;
    case 'PRIVATE KEY':
      return 'is a PKCS#8 key, not an OpenSSH key';
    default:
      return `is a "${label}" PEM block, not an OpenSSH private key`;
  }
}
