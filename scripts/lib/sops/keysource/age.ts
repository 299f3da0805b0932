/**
 * The age key source (spec §6): the data key is wrapped once per recipient as an
 * armored single-recipient age file, and unwrapped by trying every identity on
 * every entry (no matching of recipient strings, so SSH keys work). Recipient and
 * identity strings are parsed by the age module, whose errors never repeat them.
 */
import { decryptWith, encryptTo, HybridKey, parseIdentity, parseKeysFile, parseRecipient, SshEd25519Identity } from '../../age/index.js';
import type { AgeIdentity } from '../../age/index.js';
import { DeployKeysError } from '../../errors.js';
import { SopsFormatError, SopsUnsupportedError } from '../errors.js';
import type { AgeEntry } from '../metadata.js';
import type { IdentitySpec } from './identities.js';

/** An identity: `AGE-SECRET-KEY-…` or OpenSSH private key text (or a keys file), a spec from collectIdentities, or an age Identity object. */
export type AgeIdentityInput = string | AgeIdentity | IdentitySpec;

/** Wrap the data key (or a Shamir share) for one recipient; returns the armored age file. */
export async function wrapKey(key: Uint8Array, recipient: string): Promise<string> {
  let parsed;
  try {
    parsed = parseRecipient(recipient);
  } catch (e) {
    if (!(e instanceof DeployKeysError)) throw e;
    throw new SopsUnsupportedError(e.message, { hint: e.hint ?? 'check the recipient in .sops.yaml', cause: e });
  }
  return encryptTo(key, parsed);
}

function toIdentities(inputs: readonly AgeIdentityInput[]): (AgeIdentity | HybridKey)[] {
  return inputs.flatMap((input): (AgeIdentity | HybridKey)[] => {
    if (typeof input === 'string') {
      // Strings may be whole keys files (comments, several keys): one identity each.
      return !input.includes('PRIVATE KEY-----') && /[\s#]/.test(input.trim()) ? parseKeysFile(input, 'age identities') : [parseIdentity(input)];
    }
    if (!('kind' in input)) return [input];
    if (input.kind === 'age') return [parseIdentity(input.key, `age identity from ${input.source}`)];
    try {
      return [new SshEd25519Identity(input.privateKey, `age identity from ${input.source}`)];
    } catch (e) {
      // e.g. a default ~/.ssh/id_ed25519 that is RSA or has a passphrase
      if (input.optional) return [];
      throw e;
    }
  });
}

/**
 * Try every identity on each entry in order; returns the first payload, or undefined
 * when no identity matches any entry. `file` names the file in errors.
 */
export async function unwrapKey(entries: readonly AgeEntry[], inputs: readonly AgeIdentityInput[], file: string): Promise<Uint8Array | undefined> {
  if (inputs.length === 0) return undefined;
  const identities = toIdentities(inputs);
  // A damaged entry must not hide a good one: try them all, report damage only if none opens.
  let damaged: SopsFormatError | undefined;
  for (const entry of entries) {
    try {
      const key = await decryptWith(entry.enc, identities);
      if (key) return key;
    } catch (e) {
      damaged ??= new SopsFormatError(`${file}: the age key entry for ${entry.recipient} is damaged (${e instanceof Error ? e.message : 'error'})`, {
        hint: 'restore the file from version control, or re-wrap the key with updatekeys',
        cause: e,
      });
    }
  }
  if (damaged) throw damaged;
  return undefined;
}
