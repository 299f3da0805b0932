/** The SOPS interop vectors in test/fixtures/sops-vectors (origin and licences: its README). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const VECTORS_DIR = fileURLToPath(new URL('../fixtures/sops-vectors/', import.meta.url));

export interface Vector {
  file: string;
  format: 'yaml' | 'json';
  identity: string;
  expected: string | null;
  outcome: string;
  sopsVersion: string;
  dataKeyHex: string;
}

export const vectors: Vector[] = (JSON.parse(readFileSync(`${VECTORS_DIR}manifest.json`, 'utf8')) as { vectors: Vector[] }).vectors;

export function vectorPath(rel: string): string {
  return VECTORS_DIR + rel;
}

export function identityText(v: Vector): string {
  return readFileSync(vectorPath(v.identity), 'utf8');
}

/**
 * A tree as nested entry lists so comparisons see key order: Maps (our trees) and
 * plain objects (JSON.parse of expected files, which have no integer-like keys) alike.
 */
export function entries(x: unknown): unknown {
  if (x instanceof Map) return [...x].map(([k, v]: [unknown, unknown]) => [k, entries(v)]);
  if (Array.isArray(x)) return { list: x.map(entries) };
  if (typeof x === 'bigint') return Number(x);
  if (x !== null && typeof x === 'object') return Object.entries(x).map(([k, v]) => [k, entries(v)]);
  return x;
}
