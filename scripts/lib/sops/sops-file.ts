/**
 * An encrypted file in memory: its documents with the `sops` block split off (and
 * remembered, to be put back at the same place), its metadata, and the steps that
 * recover the data key and decrypt it with MAC verification.
 */
import { isMap, isNode, isScalar, Pair, Scalar, YAMLMap } from 'yaml';
import { decryptDocs } from './crypt.js';
import { SopsFormatError, SopsMacMismatchError, SopsNoIdentityError } from './errors.js';
import { unwrapKey } from './keysource/age.js';
import type { AgeIdentityInput } from './keysource/age.js';
import { IDENTITY_HINT } from './keysource/identities.js';
import { macEquals } from './mac.js';
import { lastModifiedNode, parseMetadata } from './metadata.js';
import type { SopsMetadata } from './metadata.js';
import { RuleMatcher } from './rules.js';
import { combineShares } from './shamir.js';
import { parseEncrypted } from './stores/index.js';
import type { SopsFormat } from './stores/index.js';
import { expandAliases } from './tree.js';
import type { SopsDoc } from './tree.js';
import { decryptValue, encryptValue, formatEncValue, parseEncValue } from './value-cipher.js';
import type { IvStash } from './value-cipher.js';

export interface LoadedFile {
  file: string;
  format: SopsFormat;
  docs: SopsDoc[];
  /** Per document: the `sops` pair and its index in the root mapping. */
  sopsPairs: { pair: Pair; index: number }[];
  meta: SopsMetadata;
}

export function loadEncrypted(text: string, format: SopsFormat, file: string): LoadedFile {
  if (text.trim() === '') throw new SopsFormatError(`${file}: the file is empty`, { hint: 'not a SOPS file' });
  const docs = parseEncrypted(text, format, file);
  for (const doc of docs) expandAliases(doc, file); // as sops does: a hand-written alias decrypts at its own path
  const sopsPairs = docs.map((doc) => {
    const root = doc.contents;
    const index = isMap(root) ? root.items.findIndex((p) => isScalar(p.key) && p.key.value === 'sops') : -1;
    if (index < 0 || !isMap(root)) return undefined;
    // A trailing `sops:` (the usual layout) stays last even when keys are added.
    const at = index === root.items.length - 1 ? Infinity : index;
    const [pair] = root.items.splice(index, 1);
    return pair === undefined ? undefined : { pair, index: at };
  });
  const [firstDoc] = docs;
  const first = sopsPairs[0];
  if (!first || !firstDoc) throw new SopsFormatError(`${file}: not a SOPS file (no top-level "sops" metadata)`, { hint: 'encrypt it first, or check the file name' });
  const value = first.pair.value;
  const meta = parseMetadata(isNode(value) ? value.toJS(firstDoc) : value, file);
  // Documents of a multi-document file each carry a copy; the first one is authoritative.
  const pairs = sopsPairs.map((p) => p ?? { pair: first.pair.clone(), index: Infinity });
  return { file, format, docs, sopsPairs: pairs, meta };
}

/** Recover the data key from the age entries (with Shamir when there are several groups). */
export async function recoverDataKey(meta: SopsMetadata, identities: readonly AgeIdentityInput[], file: string): Promise<Uint8Array> {
  const payloads: Uint8Array[] = [];
  for (const group of meta.keyGroups) {
    const p = await unwrapKey(group.age, identities, file);
    if (p) payloads.push(p);
  }
  const recipients = meta.keyGroups.flatMap((g) => g.age.map((e) => e.recipient));
  const noIdentity = (): SopsNoIdentityError =>
    new SopsNoIdentityError(
      `${file}: none of ${identities.length} age identities opens the data key (recipients: ${recipients.join(', ')})`,
      { hint: identities.length === 0 ? `no age identity found; ${IDENTITY_HINT}` : IDENTITY_HINT },
    );
  if (meta.keyGroups.length === 1) {
    const key = payloads[0];
    if (!key) throw noIdentity();
    if (key.length !== 32) throw new SopsFormatError(`${file}: the data key is ${key.length} bytes, not 32`, { hint: 'the file is damaged' });
    return key;
  }
  const threshold = meta.shamirThreshold ?? meta.keyGroups.length;
  if (payloads.length < threshold) {
    if (payloads.length === 0) throw noIdentity();
    throw new SopsNoIdentityError(`${file}: only ${payloads.length} of the ${threshold} key groups needed could be opened`, { hint: IDENTITY_HINT });
  }
  let key: Uint8Array;
  try {
    key = combineShares(payloads.slice(0, threshold));
  } catch (e) {
    throw new SopsFormatError(`${file}: the key-group shares cannot be combined (${e instanceof Error ? e.message : 'error'})`, { hint: 'the file is damaged', cause: e });
  }
  if (key.length !== 32) throw new SopsFormatError(`${file}: the combined data key is ${key.length} bytes, not 32`, { hint: 'the file is damaged' });
  return key;
}

/**
 * Decrypt the documents in place and verify the MAC. `stash`, for a file that will
 * be re-encrypted, collects the IVs so unchanged values keep their ciphertext.
 */
export function decryptLoaded(loaded: LoadedFile, key: Uint8Array, ignoreMac = false, stash?: IvStash): void {
  const { file, meta } = loaded;
  const computed = decryptDocs(loaded.docs, { key, rules: new RuleMatcher(meta.rules), file, ...(stash ? { stash } : {}) });
  if (ignoreMac) return;
  let stored = '';
  if (meta.mac !== '') {
    const enc = parseEncValue(meta.mac);
    if (!enc) throw new SopsFormatError(`${file}: sops.mac is not a valid ENC[…] string`, { hint: 'the file is damaged; restore it from version control' });
    try {
      stored = decryptValue(key, enc, meta.macAad).toString('utf8');
    } catch (e) {
      throw new SopsMacMismatchError(`${file}: the MAC cannot be authenticated: sops.mac or sops.lastmodified was altered`, { hint: 'restore the file from version control', cause: e });
    }
  }
  if (!macEquals(stored, computed)) {
    throw new SopsMacMismatchError(`${file}: MAC mismatch: values were added, removed, reordered or altered outside sops`, {
      hint: 'restore the file from version control (or pass ignoreMac / --ignore-mac if you really trust it)',
    });
  }
}

/** Put the `sops` block back into every document (at its original position). */
export function attachSops(docs: readonly SopsDoc[], pairs: readonly { pair: Pair; index: number }[]): void {
  docs.forEach((doc, i) => {
    const p = pairs[i] ?? pairs[0];
    if (p === undefined) throw new Error('internal error: no sops metadata to attach');
    if (!isMap(doc.contents)) doc.contents = new YAMLMap();
    const root = doc.contents as YAMLMap;
    root.items.splice(Math.min(p.index, root.items.length), 0, i === 0 ? p.pair : (p.pair.clone()));
  });
}

/** New lastmodified (RFC 3339 UTC seconds) and the encrypted MAC, set on a `sops` mapping. */
export function stampMac(sopsMap: YAMLMap, key: Uint8Array, macHex: string, lastModified: string): void {
  sopsMap.set('lastmodified', lastModifiedNode(lastModified));
  sopsMap.set('mac', new Scalar(formatEncValue(encryptValue(key, Buffer.from(macHex, 'utf8'), lastModified, 'str'))));
}
