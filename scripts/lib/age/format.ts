/**
 * The age v1 file format (age-encryption.org/v1) on node:crypto: header with
 * stanzas and HMAC, STREAM payload, ASCII armor. It exists because SOPS wraps a
 * 32-byte data key per recipient and every decrypt opens one: the age-encryption
 * package costs ~80 ms to load (post-quantum code, a fetch Response for its
 * stream), which dominated a `sops decrypt`. That package still handles the
 * recipient types this module does not know (post-quantum hybrids); the tests
 * cross-check both ways with the age CLI and age-encryption.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DeployKeysError } from '../errors.js';
import { decodeBase64Raw, encodeBase64Raw } from '../base64.js';
import { hkdfSha256 } from './aead.js';

/** One recipient's part of the header: `-> args…` and the wrapped file key. */
export interface Stanza {
  args: string[];
  body: Uint8Array;
}

/** Wraps a file key for one recipient (age's Recipient interface). */
export interface AgeRecipient {
  wrapFileKey(fileKey: Uint8Array): Stanza[] | Promise<Stanza[]>;
}

/**
 * Opens the file key from the stanzas meant for it: null when none is, an error
 * when one is malformed or carries this key's tag yet does not open (age's Identity).
 */
export interface AgeIdentity {
  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null | Promise<Uint8Array | null>;
}

const VERSION_LINE = 'age-encryption.org/v1';
const FILE_KEY_SIZE = 16;
const CHUNK = 64 * 1024;
const TAG = 16;
const BODY_LINE = 48; // bytes per body line (64 base64 characters)
const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const ARMOR_END = '-----END AGE ENCRYPTED FILE-----';

/** A malformed or tampered age file; `message` never holds key material. */
export class AgeFormatError extends DeployKeysError {
  override name = 'AgeFormatError';
  constructor(message: string) {
    super(`age: ${message}`, { hint: 'the encrypted file is corrupt or was tampered with' });
  }
}

export interface ParsedAgeFile {
  stanzas: Stanza[];
  /** The header up to and including `---`: what the HMAC covers. */
  headerNoMac: Uint8Array;
  mac: Uint8Array;
  payload: Uint8Array;
}

/** Split a binary age file into header stanzas, MAC and payload (strict, as age is). */
function parseAgeFile(file: Uint8Array): ParsedAgeFile {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  let pos = 0;
  const line = (): string => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) throw new AgeFormatError('truncated header');
    const text = buf.toString('latin1', pos, nl);
    pos = nl + 1;
    return text;
  };
  if (line() !== VERSION_LINE) throw new AgeFormatError('not an age v1 file');
  const stanzas: Stanza[] = [];
  for (;;) {
    const start = pos;
    const first = line();
    if (first.startsWith('--- ')) {
      const mac = decodeBase64Raw(first.slice(4));
      if (mac?.length !== 32) throw new AgeFormatError('invalid header MAC encoding');
      return { stanzas, headerNoMac: new Uint8Array(buf.subarray(0, start + 3)), mac, payload: new Uint8Array(buf.subarray(pos)) };
    }
    const args = first.split(' ');
    if (args.shift() !== '->' || args.length === 0 || args.some((a) => !/^[\x21-\x7e]+$/.test(a))) throw new AgeFormatError('invalid stanza');
    const parts: Uint8Array[] = [];
    for (;;) {
      const chunk = decodeBase64Raw(line());
      if (!chunk || chunk.length > BODY_LINE) throw new AgeFormatError('invalid stanza body');
      parts.push(chunk);
      if (chunk.length < BODY_LINE) break;
    }
    stanzas.push({ args, body: Buffer.concat(parts) });
  }
}

function headerNoMac(stanzas: readonly Stanza[]): Buffer {
  const lines = [`${VERSION_LINE}\n`];
  for (const s of stanzas) {
    lines.push(`-> ${s.args.join(' ')}\n`);
    for (let i = 0; i <= s.body.length; i += BODY_LINE) {
      // The body ends with a short line, an empty one when it fills its last line.
      lines.push(`${encodeBase64Raw(s.body.subarray(i, i + BODY_LINE))}\n`);
    }
  }
  lines.push('---');
  return Buffer.from(lines.join(''), 'latin1');
}

function headerMac(fileKey: Uint8Array, header: Uint8Array): Buffer {
  return createHmac('sha256', hkdfSha256(fileKey, new Uint8Array(0), 'header')).update(header).digest();
}

/** STREAM (ChaCha20-Poly1305, 64 KiB chunks, 11-byte counter + last-chunk flag). */
function stream(fileKey: Uint8Array, nonce: Uint8Array, data: Uint8Array, open: boolean): Buffer {
  const key = hkdfSha256(fileKey, nonce, 'payload');
  const step = open ? CHUNK + TAG : CHUNK;
  const out: Buffer[] = [];
  const chunkNonce = Buffer.alloc(12);
  for (let i = 0, n = 0; i === 0 || i < data.length; i += step, n++) {
    const chunk = data.subarray(i, i + step);
    const last = i + step >= data.length;
    if (open && chunk.length < TAG) throw new AgeFormatError('truncated payload');
    // A last chunk may be empty only when it is the whole payload.
    if (open && last && chunk.length === TAG && i > 0) throw new AgeFormatError('empty last chunk');
    chunkNonce.writeUIntBE(n, 5, 6);
    chunkNonce[11] = last ? 1 : 0;
    if (open) {
      const d = createDecipheriv('chacha20-poly1305', key, chunkNonce, { authTagLength: TAG });
      d.setAuthTag(chunk.subarray(chunk.length - TAG));
      try {
        out.push(d.update(chunk.subarray(0, chunk.length - TAG)), d.final());
      } catch {
        throw new AgeFormatError('payload does not authenticate');
      }
    } else {
      const c = createCipheriv('chacha20-poly1305', key, chunkNonce, { authTagLength: TAG });
      out.push(c.update(chunk), c.final(), c.getAuthTag());
    }
  }
  key.fill(0);
  return Buffer.concat(out);
}

/** Encrypt `plaintext` to the recipients; returns the binary age file. */
export async function encryptAge(plaintext: Uint8Array, recipients: readonly AgeRecipient[]): Promise<Uint8Array> {
  const fileKey = randomBytes(FILE_KEY_SIZE);
  try {
    const stanzas: Stanza[] = [];
    for (const r of recipients) stanzas.push(...(await r.wrapFileKey(fileKey)));
    const header = headerNoMac(stanzas);
    const nonce = randomBytes(16);
    return Buffer.concat([header, Buffer.from(` ${encodeBase64Raw(headerMac(fileKey, header))}\n`, 'latin1'), nonce, stream(fileKey, nonce, plaintext, false)]);
  } finally {
    fileKey.fill(0);
  }
}

/**
 * Decrypt a binary age file with the first identity that opens a stanza; null
 * when none does. A malformed, mis-MACed or tampered file throws AgeFormatError.
 */
export async function decryptAge(file: Uint8Array, identities: readonly AgeIdentity[]): Promise<Uint8Array | null> {
  const parsed = parseAgeFile(file);
  for (const id of identities) {
    const fileKey = await id.unwrapFileKey(parsed.stanzas);
    if (fileKey === null) continue;
    try {
      if (fileKey.length !== FILE_KEY_SIZE) throw new AgeFormatError('file key has the wrong size');
      const mac = headerMac(fileKey, parsed.headerNoMac);
      if (!timingSafeEqual(mac, parsed.mac)) throw new AgeFormatError('header MAC does not match');
      if (parsed.payload.length < 16) throw new AgeFormatError('truncated payload');
      return new Uint8Array(stream(fileKey, parsed.payload.subarray(0, 16), parsed.payload.subarray(16), true));
    } finally {
      fileKey.fill(0);
    }
  }
  return null;
}

/** ASCII armor, as age writes it: 64 columns, final newline. */
export function armorEncode(file: Uint8Array): string {
  const b64 = Buffer.from(file).toString('base64');
  const lines = [ARMOR_BEGIN];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(ARMOR_END);
  return `${lines.join('\n')}\n`;
}

/** ASCII armor, read as age does: surrounding whitespace and CRLF allowed, otherwise strict. */
export function armorDecode(text: string): Uint8Array {
  const lines = text.trim().replaceAll('\r\n', '\n').split('\n');
  if (lines.shift() !== ARMOR_BEGIN || lines.pop() !== ARMOR_END) throw new AgeFormatError('not an armored age file');
  const ok = lines.every((l, i) => (i === lines.length - 1 ? l.length > 0 && l.length <= 64 && l.length % 4 === 0 : l.length === 64) && /^[A-Za-z0-9+/]+={0,2}$/.test(l));
  if (!ok || lines.length === 0) throw new AgeFormatError('invalid armor');
  const b64 = lines.join('');
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64) throw new AgeFormatError('invalid armor');
  return new Uint8Array(bytes);
}
