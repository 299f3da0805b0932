/**
 * Strict base64 for ssh key blobs and age stanzas. Node's decoder skips junk
 * and ignores bad padding; for keys we want one canonical spelling, so decode
 * and re-encode and require equality.
 */

const STD = /^[A-Za-z0-9+/]*={0,2}$/;
const RAW = /^[A-Za-z0-9+/]*$/;

/** Standard padded base64 (ssh public key blobs), or undefined if not canonical. */
export function decodeBase64(s: string): Uint8Array | undefined {
  if (!STD.test(s) || s.length % 4 !== 0) return undefined;
  const out = Buffer.from(s, 'base64');
  return out.toString('base64') === s ? new Uint8Array(out) : undefined;
}

/** Unpadded base64 (age stanza arguments, fingerprints), or undefined if not canonical. */
export function decodeBase64Raw(s: string): Uint8Array | undefined {
  if (!RAW.test(s) || s.length % 4 === 1) return undefined;
  const out = Buffer.from(s, 'base64');
  return encodeBase64Raw(out) === s ? new Uint8Array(out) : undefined;
}

function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

export function encodeBase64Raw(b: Uint8Array): string {
  return encodeBase64(b).replace(/=+$/, '');
}
