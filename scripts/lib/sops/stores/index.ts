/** Store selection: by explicit type, else by file extension, as sops does. */
import path from 'node:path';
import { checkWritable } from '../../bounded-yaml/index.js';
import { SopsFormatError } from '../errors.js';
import type { SopsDoc } from '../tree.js';
import { binaryToDoc } from './binary.js';
import { emitJson, parseJson } from './json.js';
import { emitYaml, parseYaml } from './yaml.js';

export type SopsFormat = 'yaml' | 'json' | 'binary';

export function formatForPath(file: string): SopsFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.json') return 'json';
  if (ext === '.env' || ext === '.ini') {
    throw new SopsFormatError(`${file}: dotenv and INI files are not supported`, { hint: 'use YAML or JSON' });
  }
  return 'binary';
}

/** Parse a plaintext file for encryption. */
export function parsePlain(text: string, format: SopsFormat, file: string): SopsDoc[] {
  if (format === 'binary') return [binaryToDoc(text)];
  if (format === 'json') return [parseJson(text, file)];
  return parseYaml(text, file);
}

/** Parse an encrypted file: binary-store files are JSON envelopes. */
export function parseEncrypted(text: string, format: SopsFormat, file: string): SopsDoc[] {
  return format === 'yaml' ? parseYaml(text, file) : [parseJson(text, file)];
}

/**
 * Emit an encrypted tree (binary files are written as their JSON envelope),
 * refusing what the readers would refuse (size, depth): whatever is written reads back.
 */
export function emitEncrypted(docs: readonly SopsDoc[], format: SopsFormat, indent: { yaml: number; json: number | undefined }, file: string): string {
  const out = format === 'yaml' ? emitYaml(docs, indent.yaml) : emitJson(onlyDoc(docs), indent.json);
  checkWritable(out, docs.map((d) => d.contents), file);
  return out;
}

/** The document of a JSON or binary file (their parser makes exactly one). */
export function onlyDoc(docs: readonly SopsDoc[]): SopsDoc {
  const [doc] = docs;
  if (doc === undefined) throw new Error('internal error: a SOPS file without a document');
  return doc;
}
