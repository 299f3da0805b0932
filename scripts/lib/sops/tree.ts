/**
 * The tree: every store (YAML, JSON, binary) is held as `yaml` Documents, so one
 * walker serves all of them and YAML edits keep comments, order and styles.
 * Ints are bigint (parsed with `intAsBigInt`), floats are number: that is how the
 * `int`/`float` distinction of sops survives a JS round trip.
 */
import { Document, isAlias, isCollection, isMap, isNode, isPair, isScalar, isSeq, Pair, Scalar, visit, YAMLMap, YAMLSeq } from 'yaml';
import type { Node, ParsedNode } from 'yaml';
import { aliasTarget, hasAnchors } from '../bounded-yaml/index.js';
import { SopsFormatError } from './errors.js';
import { fitsInt64, formatGoFloat, parseGoBool, parseGoFloat, parseGoInt } from './go-format.js';
import type { SopsType } from './go-format.js';

export type SopsDoc = Document<Node | ParsedNode>;

/** A plain decrypted value. Maps are `Map`s so key order (integer-like keys too) is kept. */
export type PlainValue = string | number | bigint | boolean | null | Uint8Array | PlainMap | PlainValue[];
export type PlainMap = Map<string, PlainValue>;

/** Values decrypted from `type:time`: written plain (a YAML timestamp), like sops -d does. */
export const GO_TIME_VALUES = new WeakSet<Scalar>();

export interface LeafBytes {
  type: SopsType;
  bytes: Buffer;
}

/** Typed plaintext bytes of a scalar (spec §1.2), or null for a null (never encrypted or hashed). */
export function leafBytes(node: Scalar, where: string): LeafBytes | null {
  const v: unknown = node.value;
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return { type: 'str', bytes: Buffer.from(v, 'utf8') };
  if (typeof v === 'boolean') return { type: 'bool', bytes: Buffer.from(v ? 'True' : 'False') };
  if (typeof v === 'bigint') {
    if (!fitsInt64(v)) throw new SopsFormatError(`${where}: integer does not fit in 64 bits`, { hint: 'quote it to store it as a string' });
    return { type: 'int', bytes: Buffer.from(v.toString()) };
  }
  if (typeof v === 'number') return { type: 'float', bytes: Buffer.from(formatGoFloat(v)) };
  if (v instanceof Uint8Array) return { type: 'bytes', bytes: Buffer.from(v) };
  throw new SopsFormatError(`${where}: unsupported value type`, { hint: 'use strings, numbers, booleans or null' });
}

/** Decode decrypted bytes by their sops type. `time` stays a string (its RFC 3339 text). */
export function scalarValueFrom(type: string, bytes: Buffer): string | bigint | number | boolean | Uint8Array | undefined {
  const text = bytes.toString('utf8');
  switch (type) {
    case 'str':
    case 'time':
    case 'comment':
      return text;
    case 'int':
      return parseGoInt(text);
    case 'float':
      return parseGoFloat(text);
    case 'bool':
      return parseGoBool(text);
    case 'bytes':
      return new Uint8Array(bytes);
    default:
      return undefined;
  }
}

/** The AAD for a path: components joined by `:` plus a trailing `:` (spec §2). */
export function aadOf(path: readonly string[]): string {
  return `${path.join(':')}:`;
}

/** Where a comment lives: the object holding it and which of its two comment properties. */
export interface CommentSlot {
  holder: { commentBefore?: string | null; comment?: string | null };
  prop: 'commentBefore' | 'comment';
  /** Path of the container the comment belongs to (its AAD, spec §2). */
  path: readonly string[];
  /**
   * For a comment trailing a nested collection: that collection's path. Writers
   * disagree on whether it belongs there or to the parent, so readers try both.
   */
  innerPath?: readonly string[];
}

export interface TreeVisitor {
  leaf(node: Scalar, path: readonly string[], comments: readonly string[]): void;
  /** Handle one comment slot; returns its lines as they were before (what sops' comment stack holds). */
  comment(slot: CommentSlot, comments: readonly string[]): string[];
}

/**
 * Walk all documents depth first in file order (the MAC order). Comments are
 * reported with their container path; `comments` is the stack of comment lines
 * heading the current item and its ancestors (for the comment-regex rules).
 */
export function walkTree(docs: readonly SopsDoc[], visitor: TreeVisitor, file: string): void {
  for (const doc of docs) {
    const root = doc.contents;
    slot(doc, 'commentBefore', [], []);
    if (isNode(root)) {
      if (!isMap(root)) throw new SopsFormatError(`${file}: the top level must be a mapping`, { hint: 'sops supports only mappings at the top level of a document' });
      walkNode(root, [], [], true);
    }
    slot(doc, 'comment', [], []);
  }

  function slot(holder: CommentSlot['holder'], prop: CommentSlot['prop'], path: readonly string[], stack: readonly string[], innerPath?: readonly string[]): string[] {
    return holder[prop] ? visitor.comment(innerPath ? { holder, prop, path, innerPath } : { holder, prop, path }, stack) : [];
  }

  /**
   * `lead`: comment lines held by the collection itself, which head its first item.
   * Placement follows sops' YAML store (3.9 through 3.13): a key's comments and a
   * scalar's comments, its inline `# …` included, go *before* the item, so a
   * comment-regex marker on `a: 1 # keep` applies to `a` itself; the inline comment
   * of a flow collection (`a: [1, 2] # c`) heads the collection's first item; the
   * comment trailing a block collection comes after its items.
   */
  function walkNode(node: unknown, path: readonly string[], stack: readonly string[], own: boolean, lead: readonly string[] = []): void {
    if (isScalar(node)) {
      visitor.leaf(node, path, stack);
    } else if (isMap(node)) {
      if (own) lead = slot(node, 'commentBefore', path, stack);
      for (const [i, pair] of node.items.entries()) {
        const key = pair.key;
        if (!isScalar(key) || typeof key.value !== 'string') {
          throw nonStringKey(key, path, file);
        }
        const head = [...stack, ...(i === 0 ? lead : [])];
        head.push(...slot(key, 'commentBefore', path, head));
        head.push(...slot(key, 'comment', path, head));
        const childPath = [...path, key.value];
        const value = pair.value;
        if (isCollection(value)) {
          const inner = slot(value, 'commentBefore', childPath, head);
          if (value.flow) inner.push(...slot(value, 'comment', childPath, [...head, ...inner]));
          walkNode(value, childPath, head, false, inner);
          if (!value.flow) slot(value, 'comment', path, head, childPath);
        } else {
          if (isScalar(value)) {
            head.push(...slot(value, 'commentBefore', path, head));
            head.push(...slot(value, 'comment', path, head));
          }
          walkNode(value, childPath, head, false);
        }
      }
      if (own) slot(node, 'comment', path, stack);
    } else if (isSeq(node)) {
      if (own) lead = slot(node, 'commentBefore', path, stack);
      for (const [i, item] of node.items.entries()) {
        const head = [...stack, ...(i === 0 ? lead : [])];
        if (isScalar(item) || isCollection(item)) {
          head.push(...slot(item, 'commentBefore', path, head));
          // yaml.v3 gives a scalar or flow item its inline comment, which sops puts before the item
          const inline = isScalar(item) || item.flow === true;
          if (inline) head.push(...slot(item, 'comment', path, head));
          walkNode(item, path, head, false);
          if (!inline) slot(item, 'comment', path, head);
        } else {
          walkNode(item, path, head, false);
        }
      }
      if (own) slot(node, 'comment', path, stack);
    } else if (isAlias(node)) {
      throw new SopsFormatError(`${file}: unresolved YAML alias under ${path.join(':') || 'the top level'}`, { hint: 'aliases must be expanded before walking; this is a bug' });
    }
    // null pair values (`key:`) are nothing to walk
  }
}

/** sops refuses ("Tree contains a non-string key"); say which key and how to fix it. Keys are plaintext in SOPS files anyway. */
function nonStringKey(key: unknown, path: readonly string[], file: string): SopsFormatError {
  const where = path.length ? `under ${path.join(':')}` : 'at the top level';
  if (!isScalar(key)) return new SopsFormatError(`${file}: a complex (non-scalar) mapping key ${where} is not supported`, { hint: 'use plain string keys, as sops requires' });
  const v: unknown = key.value;
  const text = (key.source ?? String(v)).slice(0, 40);
  const kind = v === null || v === undefined ? 'null' : typeof v === 'bigint' ? 'integer' : typeof v === 'number' ? 'number' : typeof v;
  return new SopsFormatError(`${file}: mapping key ${text === '' ? '(empty)' : text} ${where} is a ${kind}, and sops only supports string keys`, {
    hint: `quote it: "${text}": …`,
  });
}

/**
 * Replace every alias by a copy of its target and drop anchors, as sops does.
 * Documents come from the bounded reader, which resolved the aliases and checked
 * what they expand to; in document order each target is already expanded.
 */
export function expandAliases(doc: SopsDoc, file: string): void {
  if (!hasAnchors(doc as Document.Parsed)) return;
  const expand = (node: unknown): unknown => {
    if (isAlias(node)) {
      const target = aliasTarget(node);
      if (!target) throw new SopsFormatError(`${file}: YAML alias *${node.source} has no anchor`, { hint: 'define the anchor before using it' });
      return target.clone();
    }
    if (isMap(node)) for (const p of node.items) p.value = expand(p.value);
    if (isSeq(node)) node.items = node.items.map(expand);
    return node;
  };
  doc.contents = expand(doc.contents) as typeof doc.contents;
  // Anchors go only after every alias was resolved against them.
  const dropAnchor = (_key: unknown, node: { anchor?: string }): void => {
    delete node.anchor;
  };
  visit(doc, { Scalar: dropAnchor, Map: dropAnchor, Seq: dropAnchor });
}

/** Convert a (decrypted) node to a plain value with ordered maps. */
export function toPlain(node: unknown): PlainValue {
  if (node === null || node === undefined) return null;
  if (isScalar(node)) {
    const v: unknown = node.value;
    if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v;
    if (v === undefined) return null;
    return v as PlainValue;
  }
  if (isMap(node)) {
    const m: PlainMap = new Map();
    for (const p of node.items) m.set(String(isScalar(p.key) ? p.key.value : p.key), toPlain(p.value));
    return m;
  }
  if (isSeq(node)) return node.items.map(toPlain);
  if (isPair(node)) return toPlain(node.value);
  return null;
}

/** A plain value as a yaml node: integers become bigint so they encrypt as `int`. */
export function fromPlain(value: unknown): Node {
  if (isScalar(value) || isCollection(value)) return value;
  if (value instanceof Map) {
    const m = new YAMLMap();
    for (const [k, v] of value) m.items.push(new Pair(new Scalar(String(k)), fromPlain(v)));
    return m;
  }
  if (Array.isArray(value)) {
    const s = new YAMLSeq();
    s.items = value.map(fromPlain);
    return s;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return fromPlain(new Map(Object.entries(value)));
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return new Scalar(BigInt(value));
  const s = new Scalar(value);
  if (typeof value === 'string' && value.includes('\n')) s.type = Scalar.BLOCK_LITERAL;
  return s;
}
