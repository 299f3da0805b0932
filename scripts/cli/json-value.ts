/** Ordered SOPS trees (Maps) to plain JSON values, for printing. */
import type { PlainValue } from '../lib/sops/index.js';

export function toJsonValue(v: PlainValue): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toJsonValue(x)]));
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return v;
}
