/**
 * One encrypted value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with
 * the data key, a 32-byte IV and the value's tree path as AAD (spec §1).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SopsType } from './go-format.js';

export interface EncValue {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  type: string;
}

const PREFIX = 'ENC[AES256_GCM,data:';
const IV_SIZE = 32;

export function isEncValue(s: string): boolean {
  return s.startsWith('ENC[AES256_GCM,');
}

/**
 * Parse an ENC string; undefined when it is not one (callers name the path in their
 * error). Found by indexOf and checked by a loop, not by regular expressions: a
 * regex over a multi-megabyte value exhausts V8's backtracking stack.
 */
export function parseEncValue(s: string): EncValue | undefined {
  if (!s.startsWith(PREFIX)) return undefined;
  const iv = s.indexOf(',iv:', PREFIX.length);
  const tag = iv < 0 ? -1 : s.indexOf(',tag:', iv);
  const type = tag < 0 ? -1 : s.indexOf(',type:', tag);
  const end = type < 0 ? -1 : s.indexOf(']', type);
  if (end < 0) return undefined;
  const fields = [s.slice(PREFIX.length, iv), s.slice(iv + 4, tag), s.slice(tag + 5, type)];
  if (!fields.every(isBase64)) return undefined;
  const [data, ivBytes, tagBytes] = fields.map((f) => Buffer.from(f, 'base64')) as [Buffer, Buffer, Buffer];
  return ivBytes.length === 0 || tagBytes.length !== 16 ? undefined : { data, iv: ivBytes, tag: tagBytes, type: s.slice(type + 6, end) };
}

/** Standard padded base64, as Go's base64.StdEncoding reads it. */
function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  const body = s.endsWith('==') ? s.length - 2 : s.endsWith('=') ? s.length - 1 : s.length;
  for (let i = 0; i < body; i++) {
    const c = s.charCodeAt(i);
    // A-Z a-z 0-9 + /
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47)) return false;
  }
  return true;
}

export function formatEncValue(v: EncValue): string {
  return `ENC[AES256_GCM,data:${v.data.toString('base64')},iv:${v.iv.toString('base64')},tag:${v.tag.toString('base64')},type:${v.type}]`;
}

/** Decrypt; throws (a plain Error, callers wrap it with the file and path) on authentication failure. */
export function decryptValue(key: Uint8Array, enc: EncValue, aad: string): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, enc.iv);
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(enc.tag);
  return Buffer.concat([d.update(enc.data), d.final()]);
}

export function encryptValue(key: Uint8Array, plaintext: Uint8Array, aad: string, type: SopsType, iv: Buffer = randomBytes(IV_SIZE)): EncValue {
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([c.update(plaintext), c.final()]);
  return { data, iv, tag: c.getAuthTag(), type };
}

/**
 * The IV stash (sops aes/cipher.go): the IV seen when a (path, plaintext) pair was
 * decrypted is reused when the same pair is encrypted again with the same key, so
 * unchanged values keep identical ciphertext. Safe: nonce reuse only ever happens for
 * the identical (key, IV, AAD, plaintext) tuple.
 */
export class IvStash {
  readonly #ivs = new Map<string, Buffer>();

  remember(aad: string, plaintext: Uint8Array, iv: Buffer): void {
    this.#ivs.set(IvStash.#id(aad, plaintext), iv);
  }

  ivFor(aad: string, plaintext: Uint8Array): Buffer {
    return this.#ivs.get(IvStash.#id(aad, plaintext)) ?? randomBytes(IV_SIZE);
  }

  static #id(aad: string, plaintext: Uint8Array): string {
    return `${Buffer.from(aad, 'utf8').toString('base64')}:${Buffer.from(plaintext).toString('base64')}`;
  }
}
