/**
 * Which values of an encrypted file are secret, by path, read without
 * decrypting: keys are plaintext in SOPS files, and an encrypted value is an
 * `ENC[…]` string. What `revoke` reports as the values a host could read.
 */
import { isMap, isScalar, isSeq } from 'yaml';
import { loadEncrypted } from './sops-file.js';
import { formatTreePath } from './sops-path.js';
import { formatForPath } from './stores/index.js';
import type { SopsFormat } from './stores/index.js';
import { isEncValue } from './value-cipher.js';

/**
 * The paths (`["db"]["password"]`, list items by index) of every encrypted
 * value in `text`, in file order, each once (a multi-document file lists the
 * paths of all its documents). Values left plain by the file's encryption
 * rules are not secrets and are not listed.
 */
export function encryptedValuePaths(text: string, file: string, format: SopsFormat = formatForPath(file)): string[] {
  const out = new Set<string>();
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isScalar(node)) {
      if (typeof node.value === 'string' && isEncValue(node.value)) out.add(formatTreePath(path));
    } else if (isMap(node)) {
      for (const pair of node.items) if (isScalar(pair.key)) walk(pair.value, [...path, String(pair.key.value)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        walk(item, [...path, i]);
      });
    }
  };
  for (const doc of loadEncrypted(text, format, file).docs) walk(doc.contents, []);
  return [...out];
}
