/**
 * What an encrypted file tells without its data key: sops leaves key names and
 * the metadata in clear, so the recipients and the top-level keys can be read
 * by anyone (status, audit and revoke need no age identity for them).
 */
import { isMap, isScalar } from 'yaml';
import { scalarText } from './go-format.js';
import { loadEncrypted } from './sops-file.js';
import { formatForPath } from './stores/index.js';

export interface PublicInfo {
  /** Age recipients the data key is encrypted for, every key group. */
  recipients: string[];
  /** Top-level keys of the (first) document, the `sops` block excluded. */
  keys: string[];
}

/** Throws like decrypt does for a file that is not SOPS, is damaged, or breaks an input limit. */
export function publicInfo(text: string, file: string): PublicInfo {
  const loaded = loadEncrypted(text, formatForPath(file), file);
  const root = loaded.docs[0]?.contents;
  return {
    recipients: loaded.meta.keyGroups.flatMap((g) => g.age.map((a) => a.recipient)),
    keys: isMap(root) ? root.items.map((p) => scalarText(isScalar(p.key) ? p.key.value : p.key)) : [],
  };
}
