/** KeyFactory backed by scripts/lib/keys. */
import { generateDeployKey, parsePrivateKey } from '../../keys/index.js';
import type { KeyFactory } from '../core/types.js';

export const realKeys: KeyFactory = {
  generate(comment) {
    return generateDeployKey(comment);
  },
  inspect(privateKey, where) {
    const k = parsePrivateKey(privateKey, where);
    return { fingerprint: k.fingerprint, publicKey: k.publicKey };
  },
};
