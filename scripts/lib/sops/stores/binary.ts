/**
 * Binary store (spec §8): any other file is one string under `data`, and the
 * encrypted form is a JSON envelope `{"data": ENC…, "sops": …}`.
 */
import { Document, isMap, isScalar, Pair, Scalar, YAMLMap } from 'yaml';
import { SopsFormatError } from '../errors.js';
import type { SopsDoc } from '../tree.js';

export function binaryToDoc(text: string): SopsDoc {
  const map = new YAMLMap();
  map.items.push(new Pair(new Scalar('data'), new Scalar(text)));
  const doc = new Document();
  doc.contents = map;
  return doc;
}

export function docToBinary(doc: SopsDoc, file: string): string {
  const root = doc.contents;
  const data = isMap(root) ? root.get('data', true) : undefined;
  if (!isScalar(data) || typeof data.value !== 'string') {
    throw new SopsFormatError(`${file}: a binary-store file must hold one string under "data"`, { hint: 'decrypt it with --output-type json or yaml' });
  }
  return data.value;
}
