import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptLoaded, loadEncrypted } from '../../scripts/lib/sops/sops-file.js';
import { formatGoFloat, normalizeRfc3339, parseGoFloat } from '../../scripts/lib/sops/go-format.js';
import { combineShares } from '../../scripts/lib/sops/shamir.js';
import { decryptValue, encryptValue, formatEncValue, parseEncValue } from '../../scripts/lib/sops/value-cipher.js';
import { parseTreePath } from '../../scripts/lib/sops/index.js';
import { UsageError } from '../../scripts/lib/errors.js';
import { SopsMacMismatchError } from '../../scripts/lib/sops/index.js';
import { toPlain } from '../../scripts/lib/sops/tree.js';
import { entries, vectorPath, vectors } from './vectors.js';

describe('value and MAC layer with the manifest data keys (no age)', () => {
  it.each(vectors.filter((v) => v.outcome === 'ok').map((v) => [v.file, v] as const))('%s', (_n, v) => {
    const loaded = loadEncrypted(readFileSync(vectorPath(v.file), 'utf8'), v.file.endsWith('.yaml') ? 'yaml' : 'json', v.file);
    decryptLoaded(loaded, Buffer.from(v.dataKeyHex, 'hex'));
    expect(entries(toPlain(loaded.docs[0]!.contents))).toEqual(entries(JSON.parse(readFileSync(vectorPath(v.expected!), 'utf8'))));
  });

  it('MAC-mismatch vectors fail at the MAC, after every value decrypted', () => {
    for (const v of vectors.filter((x) => x.outcome.includes('MAC mismatch'))) {
      const loaded = loadEncrypted(readFileSync(vectorPath(v.file), 'utf8'), 'yaml', v.file);
      expect(() => decryptLoaded(loaded, Buffer.from(v.dataKeyHex, 'hex'))).toThrow(SopsMacMismatchError);
    }
  });

  it('the sops-nix list items share the AAD a_list:', () => {
    const v = vectors.find((x) => x.file === 'sops-nix/secrets.yaml')!;
    const line = readFileSync(vectorPath(v.file), 'utf8').split('\n').find((l) => l.startsWith('    - ENC['))!;
    const enc = parseEncValue(line.slice(6))!;
    expect(decryptValue(Buffer.from(v.dataKeyHex, 'hex'), enc, 'a_list:').toString()).toBe('e1');
    expect(() => decryptValue(Buffer.from(v.dataKeyHex, 'hex'), enc, 'a_list:0:')).toThrow();
  });
});

describe('ENC strings', () => {
  it('round-trip with 32-byte IVs, padded standard base64 and the AAD bound', () => {
    const key = Buffer.alloc(32, 7);
    const s = formatEncValue(encryptValue(key, Buffer.from('héllo'), 'a:b:', 'str'));
    expect(s).toMatch(/^ENC\[AES256_GCM,data:[A-Za-z0-9+/]+=*,iv:[A-Za-z0-9+/]{43}=,tag:[A-Za-z0-9+/]{22}==,type:str\]$/);
    const enc = parseEncValue(s)!;
    expect(decryptValue(key, enc, 'a:b:').toString()).toBe('héllo');
    expect(() => decryptValue(key, enc, 'a:c:')).toThrow();
  });

  it('rejects malformed strings', () => {
    expect(parseEncValue('ENC[AES256_GCM,data:abc,iv:AAAA,tag:AAAA,type:str]')).toBeUndefined();
    expect(parseEncValue('ENC[AES256_GCM,data:YQ==,iv:AAAA')).toBeUndefined();
    expect(parseEncValue('plain')).toBeUndefined();
  });
});

describe('Go-compatible formatting', () => {
  it('formats floats like strconv.FormatFloat(v, f, -1, 64)', () => {
    const cases: [number, string][] = [
      [3.14, '3.14'], [0.2, '0.2'], [7, '7'], [1e21, '1000000000000000000000'], [1e-7, '0.0000001'],
      [1.5e-10, '0.00000000015'], [-2.5e22, '-25000000000000000000000'], [123456789.125, '123456789.125'],
      [NaN, 'NaN'], [Infinity, '+Inf'], [-Infinity, '-Inf'], [-0, '-0'],
    ];
    for (const [v, s] of cases) expect(formatGoFloat(v)).toBe(s);
    expect(parseGoFloat('+Inf')).toBe(Infinity);
    expect(parseGoFloat('1e3')).toBe(1000);
    expect(parseGoFloat('1,5')).toBeUndefined();
  });

  it('normalizes lastmodified like Go RFC 3339 parse+format', () => {
    expect(normalizeRfc3339('2021-09-30T19:49:41Z')).toBe('2021-09-30T19:49:41Z');
    expect(normalizeRfc3339('2021-09-30T19:49:41.123456Z')).toBe('2021-09-30T19:49:41Z');
    expect(normalizeRfc3339('2021-09-30T19:49:41+02:00')).toBe('2021-09-30T19:49:41+02:00');
    expect(normalizeRfc3339('2021-09-30T19:49:41+00:00')).toBe('2021-09-30T19:49:41Z');
    expect(normalizeRfc3339('yesterday')).toBeUndefined();
  });
});

describe('Shamir over GF(2^8)', () => {
  // Reference split (test-only): random polynomial per byte, x in the last byte.
  const mul = (a: number, b: number): number => {
    let r = 0;
    for (; b; b >>= 1, a = a & 0x80 ? ((a << 1) ^ 0x11b) & 0xff : a << 1) if (b & 1) r ^= a;
    return r;
  };
  function split(secret: Uint8Array, n: number, k: number): Uint8Array[] {
    const coeffs = Array.from(secret, (s) => [s, ...Array.from({ length: k - 1 }, () => Math.floor(Math.random() * 256))]);
    return Array.from({ length: n }, (_, i) => {
      const x = i + 1;
      const share = new Uint8Array(secret.length + 1);
      coeffs.forEach((c, j) => {
        let y = 0;
        for (let d = c.length - 1; d >= 0; d--) y = mul(y, x) ^ c[d]!;
        share[j] = y;
      });
      share[secret.length] = x;
      return share;
    });
  }

  it('recovers the secret from any threshold-sized subset', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
    const shares = split(secret, 3, 2);
    expect(combineShares([shares[0]!, shares[2]!])).toEqual(secret);
    expect(combineShares([shares[2]!, shares[1]!])).toEqual(secret);
    expect(combineShares(shares)).toEqual(secret);
    expect(() => combineShares([shares[0]!, shares[0]!])).toThrow(/duplicate/);
  });
});

describe('--extract paths', () => {
  it('parses the sops syntax', () => {
    expect(parseTreePath('["a"]["b c"][0]')).toEqual(['a', 'b c', 0]);
    expect(parseTreePath(`["0"]['x']`)).toEqual(['0', 'x']);
    expect(parseTreePath('["q\\"uote"]')).toEqual(['q"uote']);
    expect(() => parseTreePath('a.b')).toThrow(UsageError);
    expect(() => parseTreePath('')).toThrow(UsageError);
  });
});
