/**
 * OpenSSH public key lines (`type base64-blob [comment]`), as found in `.pub`
 * files, known_hosts entries (minus the host field) and forge APIs.
 *
 * The blob is decoded and its structure checked for the common key types, so a
 * line that passes here is one `ssh` would accept. Messages never quote the
 * input: a private key pasted into the wrong place must not end up in a log.
 */
import { createHash } from 'node:crypto';
import { DeployKeysError } from '../errors.js';
import { decodeBase64, encodeBase64, encodeBase64Raw } from './base64.js';
import { commentProblem } from './comment.js';
import { WireError, WireReader } from './ssh-wire.js';

export type SshKeyType =
  | 'ssh-ed25519'
  | 'ssh-rsa'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'sk-ssh-ed25519@openssh.com'
  | 'sk-ecdsa-sha2-nistp256@openssh.com';

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

const ECDSA = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', point: 65, bits: 256 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', point: 97, bits: 384 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', point: 133, bits: 521 },
  'sk-ecdsa-sha2-nistp256@openssh.com': { curve: 'nistp256', point: 65, bits: 256 },
} as const satisfies Record<string, { curve: string; point: number; bits: number }>;

export function fingerprintOfBlob(raw: Uint8Array): string {
  return `SHA256:${encodeBase64Raw(createHash('sha256').update(raw).digest())}`;
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

  const m = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(text);
  if (!m) return fail('is not of the form "<type> <base64> [comment]"');
  const [, declared = '', blob = '', rawComment] = m;
  if (declared.endsWith('-cert-v01@openssh.com')) return fail('is an OpenSSH certificate, not a plain key');
  if (!/^[a-z0-9@.-]{1,64}$/.test(declared)) return fail('has no recognizable key type (authorized_keys options are not accepted)');

  const raw = decodeBase64(blob);
  if (!raw || raw.length === 0) return fail(`(${declared}) has an invalid base64 key blob`);

  const comment = rawComment === undefined ? undefined : rawComment.trim() || undefined;
  if (comment !== undefined) {
    const problem = commentProblem(comment);
    if (problem) return fail(`comment ${problem}`);
  }

  let parsed: { type: SshKeyType; bits: number };
  try {
    parsed = parseBlob(raw, declared, fail);
  } catch (e) {
    if (e instanceof WireError) return fail(`(${declared}) has a malformed key blob (${e.message})`);
    throw e;
  }
  const key = `${parsed.type} ${blob}`;
  return {
    ...parsed,
    blob,
    raw,
    comment,
    fingerprint: fingerprintOfBlob(raw),
    key,
    line: comment === undefined ? key : `${key} ${comment}`,
  };
}

/** Builds the ssh-ed25519 blob and line for a raw 32-byte public key. */
export function ed25519PublicKeyLine(publicKey: Uint8Array, comment?: string): string {
  const blob = encodeBase64(ed25519Blob(publicKey));
  return comment === undefined ? `ssh-ed25519 ${blob}` : `ssh-ed25519 ${blob} ${comment}`;
}

export function ed25519Blob(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new DeployKeysError('an ed25519 public key must be 32 bytes');
  const type = Buffer.from('ssh-ed25519');
  const out = Buffer.alloc(4 + type.length + 4 + 32);
  out.writeUInt32BE(type.length, 0);
  type.copy(out, 4);
  out.writeUInt32BE(32, 4 + type.length);
  out.set(publicKey, 8 + type.length);
  return new Uint8Array(out);
}

/** The 32-byte public key inside an ssh-ed25519 blob (call after parsePublicKey). */
export function ed25519KeyFromBlob(raw: Uint8Array): Uint8Array {
  const r = new WireReader(raw);
  if (r.ascii() !== 'ssh-ed25519') throw new DeployKeysError('not an ssh-ed25519 key blob');
  const pk = r.string();
  r.end();
  if (pk.length !== 32) throw new DeployKeysError('ssh-ed25519 key blob does not hold 32 bytes');
  return pk;
}

function parseBlob(
  raw: Uint8Array,
  declared: string,
  fail: (problem: string, hint?: string) => never,
): { type: SshKeyType; bits: number } {
  const r = new WireReader(raw);
  const inner = r.ascii();
  // ssh refuses a line whose declared type differs from the blob's.
  if (inner !== declared) return fail(`declares type ${declared} but its blob is ${inner.slice(0, 64)}`);
  switch (inner) {
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com': {
      if (r.string().length !== 32) return fail(`(${inner}) does not hold a 32-byte key`);
      if (inner.startsWith('sk-')) r.string(); // FIDO application, e.g. "ssh:"
      r.end();
      return { type: inner, bits: 256 };
    }
    case 'ssh-rsa': {
      const e = mpint(r.string(), fail);
      const n = mpint(r.string(), fail);
      r.end();
      const [top] = n;
      if (e.length === 0 || top === undefined) return fail('(ssh-rsa) has a zero exponent or modulus');
      const bits = (n.length - 1) * 8 + (32 - Math.clz32(top));
      if (bits < RSA_MIN_BITS) {
        return fail(`(ssh-rsa) is only ${bits} bits (at least ${RSA_MIN_BITS} required)`, 'use an ed25519 key');
      }
      return { type: inner, bits };
    }
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      const spec = ECDSA[inner];
      if (r.ascii() !== spec.curve) return fail(`(${inner}) names the wrong curve`);
      const q = r.string();
      if (q.length !== spec.point || q[0] !== 0x04) return fail(`(${inner}) does not hold an uncompressed ${spec.curve} point`);
      if (inner.startsWith('sk-')) r.string();
      r.end();
      return { type: inner, bits: spec.bits };
    }
    case 'ssh-dss':
      return fail('is a DSA key, which OpenSSH no longer accepts', 'use an ed25519 key');
    default:
      return fail(`has unsupported key type ${inner.slice(0, 64)}`);
  }
}

/** An SSH mpint as unsigned magnitude; negative or non-minimal encodings are refused. */
function mpint(b: Uint8Array, fail: (problem: string) => never): Uint8Array {
  const [first, second] = b;
  if (first === undefined) return b;
  if (first & 0x80) return fail('(ssh-rsa) has a negative number in its blob');
  if (first === 0 && (second === undefined || !(second & 0x80))) return fail('(ssh-rsa) has a non-minimal number in its blob');
  return first === 0 ? b.subarray(1) : b;
}
