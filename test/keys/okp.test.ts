/**
 * okpPrivateKey imports raw keys as JWK without the public half (cheap on Node
 * 20); its PKCS#8 fallback, for a Node that checks `x`, must give the same keys.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { okpPrivateKey, okpPrivateKeyDer, okpPublicBytes, type OkpCurve } from '../../scripts/lib/okp.js';

describe('raw OKP keys', () => {
  for (const crv of ['Ed25519', 'X25519'] as OkpCurve[]) {
    it(`${crv}: the JWK import and the PKCS#8 fallback give the key node:crypto generated`, () => {
      const pair = crv === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
      const { d, x } = pair.privateKey.export({ format: 'jwk' });
      const secret = Buffer.from(d!, 'base64url');
      const want = Buffer.from(x!, 'base64url');
      expect(Buffer.from(okpPublicBytes(okpPrivateKey(crv, secret)))).toEqual(want);
      expect(Buffer.from(okpPublicBytes(okpPrivateKeyDer(crv, secret)))).toEqual(want);
      expect(okpPrivateKeyDer(crv, secret).export({ format: 'jwk' }).d).toBe(d);
    });
  }
  it('refuses a secret that is not 32 bytes', () => {
    expect(() => okpPrivateKey('Ed25519', randomBytes(31))).toThrow(/must be 32 bytes/);
  });
});
