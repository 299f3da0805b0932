/**
 * YAML store: documents stay `yaml` Documents, so comments, key order, quoting and
 * block scalars survive an edit. Read through the bounded reader (size, depth,
 * alias expansion). Parse errors report line:column only, never the source text
 * (it may be a plaintext secret).
 */
import { Scalar, visit } from 'yaml';
import { readYamlDocuments } from '../../bounded-yaml/index.js';
import { SopsFormatError } from '../errors.js';
import { GO_TIME_VALUES } from '../tree.js';
import type { SopsDoc } from '../tree.js';

const YAML_PARSE_OPTIONS = { intAsBigInt: true, version: '1.2', schema: 'core' } as const;

export function parseYaml(text: string, file: string): SopsDoc[] {
  const docs = readYamlDocuments(text, file, YAML_PARSE_OPTIONS);
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      const at = pos ? `:${pos.line}:${pos.col}` : '';
      throw new SopsFormatError(`${file}${at}: invalid YAML (${err.code})`, { hint: 'fix the YAML syntax at that line' });
    }
  }
  return docs;
}

/** The indentation step a file uses (to keep diffs small when editing), else `fallback`. */
export function detectYamlIndent(text: string, fallback: number): number {
  let prev: string | undefined;
  for (const line of text.split('\n')) {
    const [, indent] = /^( +)[^ #-]/.exec(line) ?? [];
    if (prev !== undefined && indent !== undefined && /^[^ #][^#]*:\s*$/.test(prev)) return indent.length;
    prev = line;
  }
  return fallback;
}

/**
 * Would Go's yaml.v3 (sops) resolve this plain scalar to something other than a
 * string, where the YAML 1.2 core schema (ours) keeps a string? Timestamps (a time
 * since sops 3.10), numbers with `_` separators, `0b` binaries, signed `0x`/`0o`,
 * and the `<<` merge key. Over-approximating is harmless: it only adds quotes.
 */
function goYamlReadsAsNonString(s: string): boolean {
  if (s === '<<' || /^\d{4}-\d{1,2}-\d{1,2}(?:$|[Tt ])/.test(s)) return true;
  const n = s.replace(/_/g, '');
  return /^[-+]?(?:0b[01]+|0o[0-7]+|0x[0-9a-f]+|\d+)$/i.test(n) || /^[-+]?(?:\.\d+|\d+(?:\.\d*)?)(?:e[-+]?\d+)?$/i.test(n);
}

/**
 * Quote the strings sops would otherwise read as another type (keys too: sops
 * refuses non-string keys), so the MAC bytes and the tree sops sees are ours.
 */
function quoteAmbiguousStrings(doc: SopsDoc): void {
  visit(doc, {
    Scalar(_key, node) {
      const plain = (node.type === undefined || node.type === Scalar.PLAIN) && !GO_TIME_VALUES.has(node);
      if (plain && typeof node.value === 'string' && goYamlReadsAsNonString(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
}

export function emitYaml(docs: readonly SopsDoc[], indent: number): string {
  for (const doc of docs) quoteAmbiguousStrings(doc);
  return docs
    .map((doc, i) => {
      const out = doc.toString({ indent, lineWidth: 0, flowCollectionPadding: false });
      return i > 0 && !out.startsWith('---') ? `---\n${out}` : out;
    })
    .join('');
}
