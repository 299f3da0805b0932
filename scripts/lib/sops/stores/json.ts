/**
 * JSON store. `JSON.parse` reorders integer-like keys, which would break the MAC
 * order, so this is a small order-preserving parser into `yaml` nodes (ints as
 * bigint, like the YAML store), and an emitter in the layout of Go's json.Indent.
 */
import { Document, isMap, isScalar, isSeq, Pair, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import type { Node } from 'yaml';
import { checkInputSize, depthError, INPUT_LIMITS } from '../../bounded-yaml/index.js';
import { SopsFormatError } from '../errors.js';
import type { SopsDoc } from '../tree.js';

// Sticky: matches at `pos` without copying the rest of the text.
const LITERAL = /(?:true|false|null|-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/y;

export function parseJson(text: string, file: string): SopsDoc {
  checkInputSize(text, file);
  let pos = 0;
  let depth = 0;
  const fail = (what: string): never => {
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    throw new SopsFormatError(`${file}:${line}:${col}: invalid JSON (${what})`, { hint: 'fix the JSON syntax at that line' });
  };
  const ws = (): void => {
    while (pos < text.length && ' \t\r\n'.includes(text.charAt(pos))) pos++;
  };
  // A scan for the closing quote, then JSON.parse checks escapes and control
  // characters: a regex here runs out of backtracking stack on a long string.
  const str = (): string => {
    let end = pos + 1;
    for (let c = text.charCodeAt(end); c !== 0x22; c = text.charCodeAt(++end)) {
      if (Number.isNaN(c)) return fail('unterminated string');
      if (c === 0x5c) end++;
    }
    let s: unknown;
    try {
      s = JSON.parse(text.slice(pos, end + 1));
    } catch {
      return fail('bad string');
    }
    pos = end + 1;
    return s as string;
  };
  const value = (): Node => {
    ws();
    const c = text[pos];
    if ((c === '{' || c === '[') && ++depth > INPUT_LIMITS.maxDepth) throw depthError(file, { line: text.slice(0, pos).split('\n').length });
    const node = collectionOrScalar(c);
    if (c === '{' || c === '[') depth--;
    return node;
  };
  const collectionOrScalar = (c: string | undefined): Node => {
    if (c === '{') {
      pos++;
      const map = new YAMLMap();
      const seen = new Set<string>();
      ws();
      if (text[pos] === '}') {
        pos++;
        return map;
      }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail('expected a key');
        const k = str();
        if (seen.has(k)) fail('duplicate key');
        seen.add(k);
        ws();
        if (text[pos++] !== ':') fail('expected ":"');
        map.items.push(new Pair(new Scalar(k), value()));
        ws();
        const sep = text[pos++];
        if (sep === '}') return map;
        if (sep !== ',') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const seq = new YAMLSeq();
      ws();
      if (text[pos] === ']') {
        pos++;
        return seq;
      }
      for (;;) {
        seq.items.push(value());
        ws();
        const sep = text[pos++];
        if (sep === ']') return seq;
        if (sep !== ',') fail('expected "," or "]"');
      }
    }
    if (c === '"') return new Scalar(str());
    LITERAL.lastIndex = pos;
    const lit = LITERAL.exec(text);
    if (!lit) return fail('unexpected character');
    pos += lit[0].length;
    const t = lit[0];
    if (t === 'true' || t === 'false') return new Scalar(t === 'true');
    if (t === 'null') return new Scalar(null);
    // 3.13.2 rule: an integer (no fraction, no exponent) is an int, anything else a float
    return new Scalar(lit[1] === undefined && lit[2] === undefined ? BigInt(t) : Number(t));
  };
  const root = value();
  ws();
  if (pos < text.length) fail('trailing data');
  if (!isMap(root)) fail('the top level must be an object');
  const doc = new Document();
  doc.contents = root;
  return doc;
}

/** The indent of an existing JSON file (undefined = tab, Go's default), to keep diffs small. */
export function detectJsonIndent(text: string): number | undefined {
  const [, indent] = /^\{\r?\n( +)"/.exec(text) ?? [];
  return indent?.length;
}

/** Go json.Indent layout: `"key": value`, one item per line, `{}`/`[]` compact, final newline. */
export function emitJson(doc: SopsDoc, indent: number | undefined): string {
  const step = indent === undefined ? '\t' : ' '.repeat(indent);
  const emit = (node: unknown, pad: string): string => {
    const inner = pad + step;
    if (isMap(node)) {
      if (node.items.length === 0) return '{}';
      const items = node.items.map((p) => `${inner}${jsonString(String(isScalar(p.key) ? p.key.value : p.key))}: ${emit(p.value, inner)}`);
      return `{\n${items.join(',\n')}\n${pad}}`;
    }
    if (isSeq(node)) {
      if (node.items.length === 0) return '[]';
      return `[\n${node.items.map((n) => inner + emit(n, inner)).join(',\n')}\n${pad}]`;
    }
    const v: unknown = isScalar(node) ? node.value : node;
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'string') return jsonString(v);
    if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new SopsFormatError('cannot write NaN or Infinity in JSON', { hint: 'store it as a string' });
      return String(v);
    }
    throw new SopsFormatError('cannot write this value type in JSON', { hint: 'use strings, numbers, booleans or null' });
  };
  return `${emit(doc.contents, '')}\n`;
}

/** JSON string with Go's extra escapes (<, >, &, U+2028, U+2029). */
function jsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
