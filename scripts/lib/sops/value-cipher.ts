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

const ENC_RE = /^ENC\[AES256_GCM,data:(.*?),iv:(.*?),tag:(.*?),type:(.*?)\]/s;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const IV_SIZE = 32;

export function isEncValue(s: string): boolean {
  return s.startsWith('ENC[AES256_GCM,');
}

/** Parse an ENC string; undefined when it is not one (callers name the path in their error). */
export function parseEncValue(s: string): EncValue | undefined {
  const m = ENC_RE.exec(s);
  if (!m) return undefined;
  const [, data = '', iv = '', tag = '', type = ''] = m;
  if (![data, iv, tag].every((f) => B64_RE.test(f))) return undefined;
  const parsed = { data: Buffer.from(data, 'base64'), iv: Buffer.from(iv, 'base64'), tag: Buffer.from(tag, 'base64'), type };
  return parsed.iv.length === 0 || parsed.tag.length !== 16 ? undefined : parsed;
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
