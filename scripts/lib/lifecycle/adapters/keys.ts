/** KeyFactory and Clock backed by scripts/lib/keys and the system clock. */
import { generateDeployKey, parsePrivateKey } from '../../keys/index.js';
import type { Clock, KeyFactory } from '../types.js';

export const realKeys: KeyFactory = {
  generate(comment) {
    return generateDeployKey(comment);
  },
  inspect(privateKey, where) {
    const k = parsePrivateKey(privateKey, where);
    return { fingerprint: k.fingerprint, publicKey: k.publicKey };
  },
};

export const systemClock: Clock = { now: () => new Date() };
