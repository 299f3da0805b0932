/**
 * age's `ssh-ed25519` recipient type (age-encryption.org/v1, agessh), which the
 * age-encryption package lacks. Files it writes open with `age -d -i id_ed25519`
 * and with sops ≥ 3.10 given the ssh key; it opens files they write.
 *
 * Stanza: `-> ssh-ed25519 <tag> <share>` + ChaCha20-Poly1305(file key), where
 *   tag    = base64(SHA-256(ssh public key blob)[:4])
 *   share  = X25519(ephemeral, basepoint)
 *   tweak  = HKDF-SHA-256(ikm = "", salt = blob, info = label)
 *   shared = X25519(tweak, X25519(ephemeral, recipient's X25519 public key))
 *   key    = HKDF-SHA-256(ikm = shared, salt = share ‖ recipient X25519 key, info = label)
 * The tweak binds the secret to the full ssh key, so an ssh-to-age identity for
 * the same key cannot open these stanzas (and vice versa).
 */
import { createHash, randomBytes } from 'node:crypto';
import { DeployKeysError } from '../errors.js';
import { decodeBase64Raw, encodeBase64Raw } from '../base64.js';
import { Ed25519PrivateKey, parsePrivateKey, ed25519KeyFromBlob, parsePublicKey } from '../keys/index.js';
import { hkdfSha256, openFileKey, sealFileKey } from './aead.js';
import { ed25519PublicToX25519 } from './curve25519.js';
import type { AgeIdentity, AgeRecipient, Stanza } from './format.js';
import { ed25519SeedToX25519, x25519, x25519Base } from './x25519.js';

const SSH_ED25519_STANZA = 'ssh-ed25519';
const SSH_ED25519_LABEL = 'age-encryption.org/v1/ssh-ed25519';
const FILE_KEY_SIZE = 16;

/** The stanza tag: lets an identity skip stanzas for other keys without any crypto. */
export function sshStanzaTag(blob: Uint8Array): string {
  return encodeBase64Raw(createHash('sha256').update(blob).digest().subarray(0, 4));
}

function sshTweak(blob: Uint8Array): Uint8Array {
  return hkdfSha256(new Uint8Array(0), blob, SSH_ED25519_LABEL);
}

export class SshEd25519Recipient implements AgeRecipient {
  /** The recipient line as given, canonicalized (`ssh-ed25519 AAAA…[ comment]`). */
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly #ed25519: Uint8Array;
  #theirX25519: Uint8Array | undefined;
  readonly #tag: string;
  readonly #tweak: Uint8Array;

  constructor(line: string) {
    const pk = parsePublicKey(line, 'age recipient');
    if (pk.type !== 'ssh-ed25519') {
      throw new DeployKeysError(`age recipient is an ${pk.type} key, not ssh-ed25519`, {
        hint: 'use an ssh-ed25519 key or an age1… recipient',
      });
    }
    this.publicKey = pk.line;
    this.fingerprint = pk.fingerprint;
    this.#ed25519 = ed25519KeyFromBlob(pk.raw);
    this.#tag = sshStanzaTag(pk.raw);
    this.#tweak = sshTweak(pk.raw);
  }

  /** Refuses (here, not in the constructor) a key that is not a usable curve point. */
  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    const theirs = (this.#theirX25519 ??= await ed25519PublicToX25519(this.#ed25519));
    const ephemeral = randomBytes(32);
    try {
      const share = x25519Base(ephemeral);
      const shared = x25519(this.#tweak, x25519(ephemeral, theirs));
      const key = hkdfSha256(shared, Buffer.concat([share, theirs]), SSH_ED25519_LABEL);
      shared.fill(0);
      const body = sealFileKey(key, fileKey);
      key.fill(0);
      return [{ args: [SSH_ED25519_STANZA, this.#tag, encodeBase64Raw(share)], body }];
    } finally {
      ephemeral.fill(0);
    }
  }
}

export class SshEd25519Identity implements AgeIdentity {
  /** `ssh-ed25519 AAAA…[ comment]` of this key. */
  readonly publicKey: string;
  readonly fingerprint: string;
  readonly #secret: Uint8Array;
  readonly #ourX25519: Uint8Array;
  readonly #tag: string;
  readonly #tweak: Uint8Array;

  /** `key`: OpenSSH private key text (unencrypted ssh-ed25519), or an already parsed key. */
  constructor(key: string | Ed25519PrivateKey, where = 'age identity (ssh key)') {
    const k = typeof key === 'string' ? parsePrivateKey(key, where) : key;
    this.publicKey = k.publicKey;
    this.fingerprint = k.fingerprint;
    const seed = k.seed;
    this.#secret = ed25519SeedToX25519(seed);
    seed.fill(0);
    this.#ourX25519 = x25519Base(this.#secret);
    this.#tag = sshStanzaTag(k.blob);
    this.#tweak = sshTweak(k.blob);
  }

  /**
   * Returns null when no stanza is for this key. Throws, like age, when a
   * stanza is malformed, or carries this key's tag but does not decrypt: that
   * file was tampered with or is corrupt, and silence would hide it.
   */
  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== SSH_ED25519_STANZA) continue;
      const [, tag, shareText] = s.args;
      if (s.args.length !== 3 || shareText === undefined) throw invalidStanza('wrong number of arguments');
      const share = decodeBase64Raw(shareText);
      if (share?.length !== 32) throw invalidStanza('bad ephemeral share');
      if (tag !== this.#tag) continue;
      if (s.body.length !== FILE_KEY_SIZE + 16) throw invalidStanza('wrapped file key has the wrong length');

      let shared: Uint8Array;
      try {
        shared = x25519(this.#secret, share);
      } catch {
        throw invalidStanza('ephemeral share is a low-order point');
      }
      shared = x25519(this.#tweak, shared);
      const key = hkdfSha256(shared, Buffer.concat([share, this.#ourX25519]), SSH_ED25519_LABEL);
      shared.fill(0);
      const fileKey = openFileKey(key, s.body);
      key.fill(0);
      if (fileKey === null) {
        throw new DeployKeysError(`age ssh-ed25519 stanza for ${this.fingerprint} does not decrypt`, {
          hint: 'the encrypted file is corrupt or was tampered with',
        });
      }
      return fileKey;
    }
    return null;
  }

  toJSON(): object {
    return { type: SSH_ED25519_STANZA, publicKey: this.publicKey, fingerprint: this.fingerprint };
  }
}

function invalidStanza(why: string): DeployKeysError {
  return new DeployKeysError(`invalid age ssh-ed25519 stanza (${why})`, {
    hint: 'the encrypted file is corrupt or was tampered with',
  });
}
