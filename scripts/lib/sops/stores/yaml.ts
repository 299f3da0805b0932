/**
 * YAML store: documents stay `yaml` Documents, so comments, key order, quoting and
 * block scalars survive an edit. Parse errors report line:column only, never the
 * source text (it may be a plaintext secret).
 */
import { parseAllDocuments } from 'yaml';
import { SopsFormatError } from '../errors.js';
import type { SopsDoc } from '../tree.js';

export const YAML_PARSE_OPTIONS = { intAsBigInt: true, uniqueKeys: true, prettyErrors: true, version: '1.2', schema: 'core' } as const;

export function parseYaml(text: string, file: string): SopsDoc[] {
  const docs = parseAllDocuments(text, YAML_PARSE_OPTIONS);
  if (!Array.isArray(docs)) return []; // an empty stream
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const at = pos ? `:${pos.line}:${pos.col}` : '';
      throw new SopsFormatError(`${file}${at}: invalid YAML (${err.code})`, { hint: 'fix the YAML syntax at that line' });
    }
  }
  return docs as SopsDoc[];
}

/** The indentation step a file uses (to keep diffs small when editing), else `fallback`. */
export function detectYamlIndent(text: string, fallback: number): number {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const prev = lines[i - 1]!;
    const m = /^( +)[^ #-]/.exec(lines[i]!);
    if (m && /^[^ #][^#]*:\s*$/.test(prev)) return m[1]!.length;
  }
  return fallback;
}

export function emitYaml(docs: readonly SopsDoc[], indent: number): string {
  return docs
    .map((doc, i) => {
      const out = doc.toString({ indent, lineWidth: 0, flowCollectionPadding: false });
      return i > 0 && !out.startsWith('---') ? `---\n${out}` : out;
    })
    .join('');
}
