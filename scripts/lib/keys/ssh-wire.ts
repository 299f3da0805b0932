/**
 * The SSH wire encoding (RFC 4251 §5): big-endian uint32 and length-prefixed
 * strings. Public key blobs and the openssh-key-v1 container are built from it.
 *
 * The reader throws `WireError` with a fixed description, never with the bytes
 * it was reading: callers parse private keys with it.
 */

export class WireError extends Error {
  override name = 'WireError';
}

export class WireReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  uint32(): number {
    if (this.remaining < 4) throw new WireError('truncated uint32');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getUint32(0);
    this.pos += 4;
    return v;
  }

  /** Raw bytes of the given length. Returns a copy so callers may wipe it. */
  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw new WireError('truncated field');
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A length-prefixed byte string. */
  string(): Uint8Array {
    return this.bytes(this.uint32());
  }

  /** A length-prefixed string that must be ASCII (key type names, cipher names). */
  ascii(): string {
    const b = this.string();
    for (const c of b) if (c < 0x20 || c > 0x7e) throw new WireError('non-ASCII name');
    return Buffer.from(b).toString('latin1');
  }

  /** Everything not yet read. */
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }

  end(): void {
    if (this.remaining !== 0) throw new WireError('trailing data');
  }
}

export function uint32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export function sshString(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return concat(uint32(bytes.length), bytes);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
