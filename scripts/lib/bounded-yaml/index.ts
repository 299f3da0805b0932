/**
 * Bounded YAML reading, shared by every reader of the project (SOPS files,
 * `.sops.yaml`, `deploy-keys.yaml`): input size, nesting depth and the size a
 * document has once its aliases are expanded are checked before anything is
 * built from it, so a few hundred hostile bytes cannot cost minutes or
 * gigabytes ("billion laughs"). Aliases are resolved here once, in document
 * order, so readers never pay the yaml library's per-alias search, and
 * duplicate keys are found in one pass (the library's own check is quadratic
 * in the size of a mapping).
 *
 * Syntax problems stay in `doc.errors` (each with `linePos`), so every reader
 * keeps reporting them its own way; a broken limit throws `InputLimitError`.
 */
import { Composer, isAlias, isCollection, isMap, isNode, isPair, isScalar, isSeq, Lexer, LineCounter, Parser, YAMLParseError } from 'yaml';
import type { Alias, CST, Document, DocumentOptions, Node, ParseOptions, SchemaOptions } from 'yaml';
import { DeployKeysError } from '../errors.js';

export const INPUT_LIMITS = {
  /** Largest input, in bytes (UTF-8). Writers refuse to write more. */
  maxBytes: 16 * 1024 * 1024,
  /** Deepest nesting of mappings and lists, aliases expanded. */
  maxDepth: 100,
  /** Nodes that aliases may add to a document: this many, or as many as the document has, if more. */
  aliasNodes: 100_000,
} as const;

/** Input over one of INPUT_LIMITS: one line naming the file and the limit. */
export class InputLimitError extends DeployKeysError {
  override name = 'InputLimitError';
}

const MIB = 1024 * 1024;

/** Refuses more than INPUT_LIMITS.maxBytes; `what` says what it is ("the file", "the result"). */
export function checkInputSize(text: string | number, where: string, what = 'the file'): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: count only when it could matter.
  const bytes = typeof text === 'number' ? text : text.length * 3 <= INPUT_LIMITS.maxBytes ? 0 : Buffer.byteLength(text, 'utf8');
  if (bytes > INPUT_LIMITS.maxBytes) {
    throw new InputLimitError(`${where}: ${what} is ${(bytes / MIB).toFixed(1)} MiB, over the ${INPUT_LIMITS.maxBytes / MIB} MiB limit`, {
      hint: 'keep large data out of YAML/JSON files (e.g. a separate binary SOPS file)',
    });
  }
}

export function depthError(where: string, at?: { line: number }): InputLimitError {
  return new InputLimitError(`${where}${at ? `:${at.line}` : ''}: nested deeper than ${INPUT_LIMITS.maxDepth} levels`, {
    hint: 'flatten the structure',
  });
}

/**
 * For writers, so that what they write reads back: the text within maxBytes and
 * the documents (alias-free, as written) within maxDepth.
 */
export function checkWritable(text: string, roots: readonly unknown[], where: string): void {
  checkInputSize(text, where, 'the result');
  const stack: [unknown, number][] = roots.map((r) => [r, 0]);
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [node, depth] = top;
    if (!isCollection(node)) continue;
    if (depth + 1 > INPUT_LIMITS.maxDepth) throw depthError(where);
    for (const item of node.items as unknown[]) stack.push([isPair(item) ? item.value : item, depth + 1]);
  }
}

export type ReadOptions = ParseOptions & DocumentOptions & SchemaOptions;

/** Every document of a YAML stream (none for an empty one). */
export function readYamlDocuments(text: string, where: string, options: ReadOptions = {}): Document.Parsed[] {
  return read(text, where, options, false);
}

/** A single-document YAML file; a second document is a MULTIPLE_DOCS error, as in `parseDocument`. */
export function readYamlDocument(text: string, where: string, options: ReadOptions = {}): Document.Parsed {
  const [doc] = read(text, where, options, true);
  // compose(…, forceDoc) makes a document even of an empty text.
  if (doc === undefined) throw new Error(`internal error: no YAML document made of ${where}`);
  return doc;
}

function read(text: string, where: string, options: ReadOptions, single: boolean): Document.Parsed[] {
  checkInputSize(text, where);
  const lines = options.lineCounter ?? new LineCounter();
  // The library's duplicate-key check is quadratic; ours runs in check() below.
  const composer = new Composer({ ...options, uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  const docs: Document.Parsed[] = [];
  for (const doc of composer.compose(tokens(text, lines, where), single, text.length)) {
    const [firstDoc] = docs;
    if (single && firstDoc !== undefined) {
      firstDoc.errors.push(new YAMLParseError([doc.range[0], doc.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'));
      break;
    }
    docs.push(doc);
  }
  for (const doc of docs) {
    check(doc, text.length, where, lines);
    for (const e of [...doc.errors, ...doc.warnings]) e.linePos ??= [lines.linePos(e.pos[0]), lines.linePos(e.pos[1])];
  }
  return docs;
}

/**
 * The library's lexer and CST parser, with the parser's stack (one entry per open
 * collection) watched after every token: a nesting bomb stops within a few
 * hundred tokens, long before the recursive composer could exhaust the stack.
 */
function* tokens(text: string, lines: LineCounter, where: string): Generator<CST.Token> {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0); // as Parser.parse() does
  for (const lexeme of new Lexer().lex(text)) {
    yield* parser.next(lexeme);
    // The stack also holds the document and the token being built.
    if (parser.stack.length > INPUT_LIMITS.maxDepth + 2) throw depthError(where, lines.linePos(parser.offset));
  }
  yield* parser.end();
}

const TARGETS = new WeakMap<Alias, Node>();
const WITH_ANCHORS = new WeakSet<Document.Parsed>();

/** The node an alias of a document read here stands for (the last anchor of that name before it). */
export function aliasTarget(alias: Alias): Node | undefined {
  return TARGETS.get(alias);
}

/** Whether a document read here has anchors or aliases (most have neither: nothing to expand). */
export function hasAnchors(doc: Document.Parsed): boolean {
  return WITH_ANCHORS.has(doc);
}

interface Measure {
  size: number;
  depth: number;
}

/**
 * One iterative pass in document order: resolve aliases, find duplicate keys,
 * and measure the document as if every alias were expanded (memoized per
 * anchored node, so the pass costs what the text costs, whatever the expansion).
 */
function check(doc: Document.Parsed, textLength: number, where: string, lines: LineCounter): void {
  const anchors = new Map<string, Node>();
  const measured = new WeakMap<Node, Measure>();
  const open = new Set<Node>();
  let written = 0;
  // Early exit: a document cannot have more nodes than its text has characters.
  const hardCap = 2 * textLength + INPUT_LIMITS.aliasNodes;
  const tooBig = (): InputLimitError =>
    new InputLimitError(`${where}: YAML aliases expand the document past ${INPUT_LIMITS.aliasNodes.toLocaleString('en')} extra nodes (an alias bomb?)`, {
      hint: 'write the repeated parts out, or use fewer nested aliases',
    });

  interface Frame {
    node: Node;
    size: number;
    depth: number;
    children: Node[];
    next: number;
  }
  const measureOf = (node: Node): Measure | Frame => {
    if (isAlias(node)) {
      WITH_ANCHORS.add(doc);
      const target = anchors.get(node.source);
      if (target === undefined) return { size: 1, depth: 0 }; // the composer reported it
      if (open.has(target)) throw new InputLimitError(`${where}: a YAML alias (*${node.source}) refers to a node that contains it`, { hint: 'remove the recursive alias' });
      TARGETS.set(node, target);
      written++;
      return measured.get(target) ?? { size: 1, depth: 0 };
    }
    written++;
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) {
      anchors.set(anchor, node);
      WITH_ANCHORS.add(doc);
    }
    if (!isCollection(node)) return { size: 1, depth: 0 };
    const children: Node[] = [];
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key: unknown = pair.key;
        if (isScalar(key)) {
          if (seen.has(key.value)) duplicate(doc, key, lines);
          seen.add(key.value);
        }
        if (isNode(key)) children.push(key);
        if (isNode(pair.value)) children.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) if (item !== null && item !== undefined && !isPair(item)) children.push(item as Node);
    }
    open.add(node);
    return { node, size: 1, depth: 1, children, next: 0 };
  };

  const root = doc.contents;
  if (!isNode(root)) return;
  const first = measureOf(root);
  if (!('node' in first)) return;
  const stack: Frame[] = [first];
  for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
    const child = top.children[top.next];
    if (child !== undefined) {
      top.next++;
      const m = measureOf(child);
      if ('node' in m) {
        if (stack.length >= INPUT_LIMITS.maxDepth) throw depthError(where, lines.linePos(m.node.range?.[0] ?? 0));
        stack.push(m);
      } else {
        top.size += m.size;
        top.depth = Math.max(top.depth, m.depth + 1);
        if (top.size > hardCap) throw tooBig();
      }
      continue;
    }
    stack.pop();
    open.delete(top.node);
    measured.set(top.node, { size: top.size, depth: top.depth });
    const parent = stack.at(-1);
    if (!parent) break;
    parent.size += top.size;
    parent.depth = Math.max(parent.depth, top.depth + 1);
    if (parent.size > hardCap) throw tooBig();
  }
  const total = measured.get(root);
  if (total === undefined) throw new Error(`internal error: ${where} was not measured`);
  if (total.size - written > Math.max(INPUT_LIMITS.aliasNodes, written)) throw tooBig();
  if (total.depth > INPUT_LIMITS.maxDepth) throw depthError(where);
}

function duplicate(doc: Document.Parsed, key: Node, lines: LineCounter): void {
  const range = key.range ?? [0, 0, 0];
  const err = new YAMLParseError([range[0], range[1]], 'DUPLICATE_KEY', 'Map keys must be unique');
  err.linePos = [lines.linePos(range[0]), lines.linePos(range[1])];
  doc.errors.push(err);
}

/**
 * A plain JS value, like `doc.toJS()` (mappings as objects, aliases as the value
 * of their anchor, shared), for documents read here: no alias budget to hit and
 * no per-alias search.
 */
export function toJS(node: unknown): unknown {
  const done = new Map<Node, unknown>();
  const conv = (n: unknown): unknown => {
    if (n === null || n === undefined) return null;
    if (isAlias(n)) {
      const target = aliasTarget(n);
      if (target === undefined) throw new InputLimitError(`unresolved YAML alias *${n.source}`, { hint: 'define the anchor before the alias' });
      return conv(target);
    }
    if (isScalar(n)) return n.value;
    if (!isCollection(n)) return n;
    const memo = done.get(n);
    if (memo !== undefined) return memo;
    let out: unknown;
    if (isMap(n)) {
      const obj: Record<string, unknown> = {};
      for (const p of n.items) {
        const k = conv(p.key);
        obj[typeof k === 'object' && k !== null ? JSON.stringify(k) : String(k)] = conv(p.value);
      }
      out = obj;
    } else {
      out = (n as { items: unknown[] }).items.map(conv);
    }
    done.set(n, out);
    return out;
  };
  return conv(node);
}
