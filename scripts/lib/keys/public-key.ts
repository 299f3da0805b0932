/**
 * OpenSSH public key lines (`type base64-blob [comment]`), as found in `.pub`
 * files, known_hosts entries (minus the host field) and forge APIs.
 *
 * sshpk decodes the blob, sizes the key and computes the fingerprint. What it
 * does not do is done here: the line must be in the one spelling ssh writes
 * (canonical base64, a declared type equal to the blob's, a blob sshpk
 * re-encodes byte for byte), comments are checked, weak RSA is refused.
 * Messages never quote the input: a private key pasted into the wrong place
 * must not end up in a log.
 */
import sshpk from 'sshpk';
import { DeployKeysError } from '../errors.js';
import { decodeBase64 } from '../base64.js';
import { commentProblem } from './comment.js';

export type SshKeyType = 'ssh-ed25519' | 'ssh-rsa' | 'ecdsa-sha2-nistp256' | 'ecdsa-sha2-nistp384' | 'ecdsa-sha2-nistp521';

export interface SshPublicKey {
  type: SshKeyType;
  /** The key blob, standard base64 (the second field of the line). */
  blob: string;
  /** The decoded key blob (what fingerprints and age tags hash). */
  raw: Uint8Array;
  comment: string | undefined;
  /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** Key size as `ssh-keygen -l` reports it. */
  bits: number;
  /** `type blob` without the comment: what to compare two keys by. */
  key: string;
  /** The line in canonical form: `type blob[ comment]`. */
  line: string;
}

/** Weaker RSA keys are refused; OpenSSH itself refuses < 1024, GitHub < 2048 for new keys. */
export const RSA_MIN_BITS = 2048;

/** Length of the uncompressed point (0x04 ‖ x ‖ y) of each ECDSA key type. */
const ECDSA_POINT: Partial<Record<SshKeyType, number>> = { 'ecdsa-sha2-nistp256': 65, 'ecdsa-sha2-nistp384': 97, 'ecdsa-sha2-nistp521': 133 };

function isKeyType(name: string): name is SshKeyType {
  return name === 'ssh-ed25519' || name === 'ssh-rsa' || name === 'ecdsa-sha2-nistp256' || name === 'ecdsa-sha2-nistp384' || name === 'ecdsa-sha2-nistp521';
}

/** The `SHA256:…` fingerprint of a public key line. */
export function fingerprintOf(publicKeyLine: string): string {
  return parsePublicKey(publicKeyLine).fingerprint;
}

export function parsePublicKey(line: string, where = 'public key'): SshPublicKey {
  const fail = (problem: string, hint?: string): never => {
    throw new DeployKeysError(`${where} ${problem}`, {
      hint: hint ?? 'expected one line like "ssh-ed25519 AAAAC3Nza… comment"',
    });
  };
  if (typeof line !== 'string') return fail('is not a string');
  if (line.includes('PRIVATE KEY')) {
    return fail('looks like a private key, not a public key', 'pass the .pub file or the output of ssh-keygen -y');
  }
  const text = line.replace(/\r?\n$/, '').trim();
  if (/[\r\n]/.test(text)) return fail('spans several lines');
  if (text === '') return fail('is empty');

  const [, declared, blob, rawComment] = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(text) ?? [];
  if (declared === undefined || blob === undefined) return fail('is not of the form "<type> <base64> [comment]"');
  if (declared.endsWith('-cert-v01@openssh.com')) return fail('is an OpenSSH certificate, not a plain key');
  if (!/^[a-z0-9@.-]{1,64}$/.test(declared)) return fail('has no recognizable key type (authorized_keys options are not accepted)');

  const raw = decodeBase64(blob);
  if (!raw || raw.length === 0) return fail(`(${declared}) has an invalid base64 key blob`);

  const comment = rawComment === undefined ? undefined : rawComment.trim() || undefined;
  if (comment !== undefined) {
    const problem = commentProblem(comment);
    if (problem) return fail(`comment ${problem}`);
  }

  const { type, key } = parseBlob(raw, declared, fail);
  const typed = `${type} ${blob}`;
  return {
    type,
    blob,
    raw,
    comment,
    fingerprint: key.fingerprint('sha256').toString(),
    bits: key.size,
    key: typed,
    line: comment === undefined ? typed : `${typed} ${comment}`,
  };
}

/** Builds the ssh-ed25519 line for a raw 32-byte public key. */
export function ed25519PublicKeyLine(publicKey: Uint8Array, comment?: string): string {
  const key = ed25519Key(publicKey);
  if (comment !== undefined) key.comment = comment;
  return key.toString('ssh');
}

/** The ssh-ed25519 key (sshpk) for a raw 32-byte public key. */
export function ed25519Key(publicKey: Uint8Array): sshpk.Key {
  if (publicKey.length !== 32) throw new DeployKeysError('an ed25519 public key must be 32 bytes');
  return new sshpk.Key({ type: 'ed25519', parts: [{ name: 'A', data: Buffer.from(publicKey) }] });
}

/** The 32-byte public key inside an ssh-ed25519 blob (call after parsePublicKey). */
export function ed25519KeyFromBlob(raw: Uint8Array): Uint8Array {
  const { type, key } = parseBlob(raw, 'ssh-ed25519', (problem) => {
    throw new DeployKeysError(`ssh-ed25519 key blob ${problem}`);
  });
  if (type !== 'ssh-ed25519') throw new DeployKeysError('not an ssh-ed25519 key blob');
  return new Uint8Array(keyPart(key, 'A'));
}

/** The key in `raw`, which must be a canonical blob of the declared, supported type. */
function parseBlob(raw: Uint8Array, declared: string, fail: (problem: string, hint?: string) => never): { type: SshKeyType; key: sshpk.Key } {
  const inner = blobType(raw);
  if (inner === undefined) return fail(`(${declared}) has a malformed key blob`);
  // ssh refuses a line whose declared type differs from the blob's.
  if (inner !== declared) return fail(`declares type ${declared} but its blob is ${inner}`);
  if (inner === 'ssh-dss') return fail('is a DSA key, which OpenSSH no longer accepts', 'use an ed25519 key');
  if (!isKeyType(inner)) return fail(`has unsupported key type ${inner}`);
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(Buffer.from(raw), 'rfc4253');
  } catch {
    return fail(`(${inner}) has a malformed key blob`);
  }
  // sshpk pads short ed25519 keys and strips non-minimal numbers: a blob it does not write back the same is not canonical.
  if (!key.toBuffer('rfc4253').equals(raw)) {
    return fail(inner === 'ssh-ed25519' ? `(${inner}) does not hold a 32-byte key` : `(${inner}) has a non-canonical key blob`);
  }
  const point = ECDSA_POINT[inner];
  if (point !== undefined) {
    const q = keyPart(key, 'Q');
    if (q.length !== point || q[0] !== 0x04) return fail(`(${inner}) does not hold an uncompressed point`);
  }
  if (key.type === 'rsa' && key.size < RSA_MIN_BITS) {
    return fail(`(ssh-rsa) is only ${key.size} bits (at least ${RSA_MIN_BITS} required)`, 'use an ed25519 key');
  }
  return { type: inner, key };
}

/** The key type a blob names first (an SSH string), if it is a plausible name. */
function blobType(raw: Uint8Array): string | undefined {
  if (raw.length < 4) return undefined;
  const n = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0);
  if (n === 0 || n > 64 || 4 + n > raw.length) return undefined;
  const name = Buffer.from(raw.subarray(4, 4 + n)).toString('latin1');
  return /^[a-z0-9@.-]+$/.test(name) ? name : undefined;
}

/** A named part of an sshpk key (`A` the ed25519 public key, `k` its seed, `Q` an ECDSA point). */
export function keyPart(key: sshpk.Key | sshpk.PrivateKey, name: sshpk.AlgorithmPart): Buffer {
  const part = key.parts.find((p) => p.name === name);
  if (part === undefined) throw new DeployKeysError(`internal error: a ${key.type} key without its ${name} part`);
  return part.data;
}
