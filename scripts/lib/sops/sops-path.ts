/**
 * Tree paths: the `--extract '["a"]["b"][0]'` syntax of sops, and navigation of
 * plain and node trees by a path (strings index mappings, numbers index lists).
 */
import { isMap, isScalar, isSeq } from 'yaml';
import { UsageError } from '../errors.js';
import type { PlainValue } from './tree.js';

export type TreePath = readonly (string | number)[];

const STEP = /\[(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\d+))\]/y;

export function parseTreePath(text: string): (string | number)[] {
  const out: (string | number)[] = [];
  const s = text.trim();
  STEP.lastIndex = 0;
  while (STEP.lastIndex < s.length) {
    const at = STEP.lastIndex;
    const m = STEP.exec(s);
    if (!m) throw new UsageError(`invalid path ${JSON.stringify(text)} at character ${at + 1}`, 'write paths like ["key"]["sub"][0]');
    if (m[1] !== undefined) out.push(JSON.parse(`"${m[1]}"`) as string);
    else if (m[2] !== undefined) out.push(m[2]);
    else out.push(Number(m[3]));
  }
  if (out.length === 0) throw new UsageError(`empty path ${JSON.stringify(text)}`, 'write paths like ["key"]["sub"][0]');
  return out;
}

export function formatTreePath(path: TreePath): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `[${JSON.stringify(p)}]`)).join('');
}

/** Follow a path in a plain tree; undefined when absent. */
export function getPlain(tree: PlainValue, path: TreePath): PlainValue | undefined {
  let cur: PlainValue | undefined = tree;
  for (const step of path) {
    if (cur instanceof Map) cur = cur.get(String(step));
    else if (Array.isArray(cur) && typeof step === 'number') cur = cur[step];
    else return undefined;
  }
  return cur;
}

/** Follow a path in yaml nodes; undefined when absent. */
export function getNode(root: unknown, path: TreePath): unknown {
  let cur = root;
  for (const step of path) {
    if (isMap(cur)) {
      const pair = cur.items.find((p) => isScalar(p.key) && p.key.value === String(step));
      if (!pair) return undefined;
      cur = pair.value;
    } else if (isSeq(cur) && typeof step === 'number') {
      if (step >= cur.items.length) return undefined;
      cur = cur.items[step];
    } else {
      return undefined;
    }
  }
  return cur;
}
