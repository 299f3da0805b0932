/**
 * OpenSSH private key files (PROTOCOL.key, "openssh-key-v1"), ed25519 and
 * unencrypted only: deploy keys live inside SOPS files, which already encrypt
 * them, and hosts read them non-interactively.
 *
 * Security rules for this file: no message ever contains key text or bytes;
 * the parsed seed sits in a #private field, so console.log, util.inspect and
 * JSON.stringify of a parsed key do not show it.
 */
import { createPrivateKey, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { DeployKeysError } from '../errors.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import { assertComment, commentProblem } from './comment.js';
import { ed25519Blob, ed25519PublicKeyLine, fingerprintOfBlob } from './public-key.js';
import { WireError, WireReader, concat, sshString, uint32 } from './ssh-wire.js';

const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
/** ssh-keygen wraps the base64 body at 70 columns. */
const LINE = 70;
/** Block size of the "none" cipher: the private section is padded to it. */
const BLOCK = 8;

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
    this.blob = ed25519Blob(this.publicKeyBytes);
    this.comment = comment;
    this.publicKey = ed25519PublicKeyLine(this.publicKeyBytes, comment);
    this.fingerprint = fingerprintOfBlob(this.blob);
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
  // PKCS#8 wrapping of a raw ed25519 seed (RFC 8410): fixed 16-byte prefix.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  try {
    const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({
      format: 'der',
      type: 'spki',
    });
    return new Uint8Array(spki.subarray(spki.length - 32));
  } finally {
    der.fill(0);
  }
}

/** Writes the openssh-key-v1 container for one unencrypted ed25519 key. */
export function encodeOpenSSHPrivateKey(seed: Uint8Array, publicKey: Uint8Array, comment: string): string {
  const blob = ed25519Blob(publicKey);
  // The check-int exists to detect a wrong passphrase; with no cipher it only needs to repeat.
  const check = randomBytes(4);
  const secret = concat(seed, publicKey);
  let priv = concat(check, check, sshString('ssh-ed25519'), sshString(publicKey), sshString(secret), sshString(comment));
  const pad = (BLOCK - (priv.length % BLOCK)) % BLOCK;
  priv = concat(priv, Uint8Array.from({ length: pad }, (_, i) => i + 1));
  const body = concat(MAGIC, sshString('none'), sshString('none'), sshString(''), uint32(1), sshString(blob), sshString(priv));
  const b64 = encodeBase64(body);
  secret.fill(0);
  priv.fill(0);
  body.fill(0);
  const lines = b64.match(new RegExp(`.{1,${LINE}}`, 'g')) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
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
  const b64 = trimmed.slice(BEGIN.length, trimmed.length - END.length).replace(/\s+/g, '');
  const bytes = decodeBase64(b64);
  if (!bytes) return fail('is corrupt (invalid base64)');
  try {
    return decodeContainer(bytes, fail);
  } catch (e) {
    if (e instanceof WireError) return fail(`is corrupt (${e.message})`);
    throw e;
  } finally {
    bytes.fill(0);
  }
}

function decodeContainer(bytes: Uint8Array, fail: (problem: string, hint?: string) => never): Ed25519PrivateKey {
  const r = new WireReader(bytes);
  if (!timingSafeEqual(Buffer.from(r.bytes(MAGIC.length)), MAGIC)) return fail('is corrupt (no openssh-key-v1 header)');
  const cipher = r.ascii();
  const kdf = r.ascii();
  r.string(); // kdf options
  if (cipher !== 'none' || kdf !== 'none') {
    return fail('is protected by a passphrase', 'deploy keys are stored unencrypted inside SOPS; remove the passphrase from a copy with ssh-keygen -p -N ""');
  }
  if (r.uint32() !== 1) return fail('holds more than one key');
  const pubBlob = r.string();
  const type = new WireReader(pubBlob).ascii();
  if (type !== 'ssh-ed25519') {
    return fail(`is a ${type.slice(0, 64)} key; only ssh-ed25519 keys are supported`, 'generate one with ssh-keygen -t ed25519');
  }
  const priv = r.string();
  r.end();
  let secret: Uint8Array | undefined;
  try {
    if (priv.length % BLOCK !== 0) return fail('is corrupt (private section not padded)');
    const p = new WireReader(priv);
    if (p.uint32() !== p.uint32()) return fail('is corrupt (check numbers differ)');
    if (p.ascii() !== 'ssh-ed25519') return fail('is corrupt (private section is not ssh-ed25519)');
    const pk = p.string();
    secret = p.string();
    const commentBytes = p.string();
    const padding = p.rest();
    if (pk.length !== 32 || secret.length !== 64) return fail('is corrupt (wrong ed25519 key sizes)');
    if (padding.length >= BLOCK || padding.some((b, i) => b !== i + 1)) return fail('is corrupt (bad padding)');
    const seed = secret.subarray(0, 32);
    // The public key is stored three times; all must agree with the seed, or the file was tampered with.
    const derived = ed25519PublicFromSeed(seed);
    const outer = new WireReader(pubBlob);
    outer.ascii();
    const outerPk = outer.string();
    outer.end();
    const same = (a: Uint8Array) => a.length === 32 && timingSafeEqual(a, derived);
    if (!same(pk) || !same(outerPk) || !same(secret.subarray(32))) {
      return fail('is corrupt (its public key does not match its secret key)');
    }
    const comment = decodeComment(commentBytes, fail);
    return new Ed25519PrivateKey(seed, comment);
  } finally {
    priv.fill(0);
    secret?.fill(0);
  }
}

function decodeComment(bytes: Uint8Array, fail: (problem: string, hint?: string) => never): string | undefined {
  if (bytes.length === 0) return undefined;
  let comment: string;
  try {
    comment = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('has a comment that is not UTF-8', 'change it with ssh-keygen -c -f <file>');
  }
  const problem = commentProblem(comment);
  if (problem) return fail(`has a comment that ${problem}`, 'change it with ssh-keygen -c -f <file>');
  return comment;
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
      return `is a PEM ${label.split(' ')[0]} key; only OpenSSH ssh-ed25519 keys are supported`;
    case 'PRIVATE KEY':
      return 'is a PKCS#8 key, not an OpenSSH key';
    default:
      return `is a "${label}" PEM block, not an OpenSSH private key`;
  }
}
