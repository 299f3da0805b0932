/**
 * The age key source (spec §6): the data key is wrapped once per recipient as an
 * armored single-recipient age file, and unwrapped by trying every identity on
 * every entry (no matching of recipient strings, so SSH and plugin keys work).
 */
import { armor, Decrypter, Encrypter } from 'age-encryption';
import type { Identity, Recipient } from 'age-encryption';
import { DeployKeysError } from '../../errors.js';
import { SshEd25519Identity, SshEd25519Recipient } from '../../age/ssh-ed25519.js';
import { SopsFormatError, SopsUnsupportedError } from '../errors.js';
import type { AgeEntry } from '../metadata.js';
import { parseKeysFile } from './identities.js';
import type { IdentitySpec } from './identities.js';

/** An identity: `AGE-SECRET-KEY-…` text, OpenSSH private key text, or an age-encryption Identity. */
export type AgeIdentityInput = string | Identity | IdentitySpec;

export function toRecipient(recipient: string): Recipient | string {
  const r = recipient.trim();
  // A secret pasted where a recipient belongs must not end up in an error message or log.
  if (/^AGE-SECRET-KEY-|^AGE-PLUGIN-|PRIVATE KEY/i.test(r)) {
    throw new SopsUnsupportedError('a secret key was given where an age recipient belongs (not shown)', {
      hint: 'give the public side: age-keygen -y keys.txt, or the ssh key\'s .pub file',
    });
  }
  if (r.startsWith('ssh-ed25519 ')) return new SshEd25519Recipient(r);
  if (r.startsWith('ssh-')) {
    throw new SopsUnsupportedError(`unsupported recipient type ${r.split(' ')[0]}`, { hint: 'use an age1… or ssh-ed25519 recipient' });
  }
  if (!/^age1[0-9a-z]+$/.test(r)) {
    throw new SopsUnsupportedError(`"${r.slice(0, 80)}" is not an age recipient`, { hint: 'recipients look like age1… or ssh-ed25519 AAAA…' });
  }
  return r;
}

/** Undefined for an optional source that is not usable (e.g. a default ~/.ssh/id_ed25519 that is RSA or has a passphrase). */
function toIdentity(input: AgeIdentityInput): string | Identity | undefined {
  if (typeof input === 'object' && 'kind' in input) {
    if (input.kind === 'age') return input.key;
    try {
      return new SshEd25519Identity(input.privateKey, input.source);
    } catch (e) {
      if (input.optional) return undefined;
      throw e;
    }
  }
  if (typeof input === 'string' && input.includes('PRIVATE KEY-----')) return new SshEd25519Identity(input);
  return typeof input === 'string' ? input.trim() : input;
}

/** Strings may be whole keys files (comments, several keys): expand them to one identity each. */
function expand(inputs: readonly AgeIdentityInput[]): AgeIdentityInput[] {
  return inputs.flatMap((i) => (typeof i === 'string' && !i.includes('PRIVATE KEY-----') && /[\s#]/.test(i.trim()) ? parseKeysFile(i, 'identities') : [i]));
}

/** Wrap the data key (or a Shamir share) for one recipient; returns the armored age file. */
export async function wrapKey(key: Uint8Array, recipient: string): Promise<string> {
  const e = new Encrypter();
  try {
    e.addRecipient(toRecipient(recipient));
  } catch (err) {
    if (err instanceof DeployKeysError) throw err;
    throw new SopsUnsupportedError(`invalid age recipient "${recipient.slice(0, 80)}"`, { hint: 'check the recipient in .sops.yaml', cause: err });
  }
  return armor.encode(await e.encrypt(key));
}

/**
 * Try every identity on each entry in order; returns the first payload, or undefined
 * when no identity matches any entry. `file` names the file in errors.
 */
export async function unwrapKey(entries: readonly AgeEntry[], inputs: readonly AgeIdentityInput[], file: string): Promise<Uint8Array | undefined> {
  if (inputs.length === 0) return undefined;
  const d = new Decrypter();
  for (const input of expand(inputs)) {
    const id = toIdentity(input);
    if (id === undefined) continue;
    try {
      d.addIdentity(id);
    } catch (e) {
      const where = typeof input === 'object' && 'source' in input ? ` from ${input.source}` : '';
      throw new SopsFormatError(`an age identity${where} is malformed`, { hint: 'identities look like AGE-SECRET-KEY-1…', cause: e });
    }
  }
  // A damaged entry must not hide a good one: try them all, report damage only if none opens.
  let damaged: SopsFormatError | undefined;
  for (const entry of entries) {
    try {
      return await d.decrypt(armor.decode(entry.enc));
    } catch (e) {
      if (e instanceof Error && e.message.includes('no identity matched')) continue;
      damaged ??= new SopsFormatError(`${file}: the age key entry for ${entry.recipient} is damaged (${e instanceof Error ? e.message : 'error'})`, {
        hint: 'restore the file from version control, or re-wrap the key with updatekeys',
        cause: e,
      });
    }
  }
  if (damaged) throw damaged;
  return undefined;
}
