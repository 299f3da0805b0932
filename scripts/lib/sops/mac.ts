/**
 * The MAC (spec §3): SHA-512 over the plaintext bytes of the values in file order,
 * no separators, uppercase hex, stored encrypted with AAD = lastmodified.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Hash } from 'node:crypto';

// SHA-256("sops"): the seed sops feeds first when mac_only_encrypted is set.
const MAC_ONLY_ENCRYPTED_SEED = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

export class MacHasher {
  readonly #hash: Hash = createHash('sha512');

  constructor(macOnlyEncrypted: boolean) {
    if (macOnlyEncrypted) this.#hash.update(MAC_ONLY_ENCRYPTED_SEED);
  }

  add(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }

  hex(): string {
    return this.#hash.digest('hex').toUpperCase();
  }
}

export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
