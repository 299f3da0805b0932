/**
 * What the `ssh-to-age` tool (and so sops-nix) computes from a host's ssh
 * ed25519 key: a plain X25519 age key pair. The recipient is the Montgomery
 * form of the ed25519 public key; the identity is the unclamped first half of
 * SHA-512(seed). These open `X25519` stanzas only, never `ssh-ed25519` ones.
 */
import { bech32 } from '@scure/base';
import { DeployKeysError } from '../errors.js';
import { Ed25519PrivateKey, parsePrivateKey, ed25519KeyFromBlob, parsePublicKey } from '../keys/index.js';
import { ed25519PublicToX25519 } from './curve25519.js';
import { ed25519SeedToX25519 } from './x25519.js';

/** `ssh-ed25519 AAAA… [comment]` → `age1…`. */
export async function sshPublicKeyToAgeRecipient(line: string): Promise<string> {
  const pk = parsePublicKey(line, 'ssh public key');
  if (pk.type !== 'ssh-ed25519') {
    throw new DeployKeysError(`ssh public key is an ${pk.type} key; ssh-to-age converts only ssh-ed25519 keys`, {
      hint: 'use the host\'s /etc/ssh/ssh_host_ed25519_key.pub',
    });
  }
  return bech32.encodeFromBytes('age', await ed25519PublicToX25519(ed25519KeyFromBlob(pk.raw)));
}

/** OpenSSH ed25519 private key text → `AGE-SECRET-KEY-1…` (byte-identical to `ssh-to-age -private-key`). */
export function sshPrivateKeyToAgeIdentity(key: string | Ed25519PrivateKey): string {
  const k = typeof key === 'string' ? parsePrivateKey(key, 'ssh private key') : key;
  const seed = k.seed;
  const scalar = ed25519SeedToX25519(seed);
  seed.fill(0);
  try {
    return bech32.encodeFromBytes('AGE-SECRET-KEY-', scalar).toUpperCase();
  } finally {
    scalar.fill(0);
  }
}
