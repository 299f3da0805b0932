/**
 * Plaintext serialization of typed values, byte-compatible with sops (Go):
 * these bytes are both what gets encrypted and what the MAC hashes.
 */

export type SopsType = 'str' | 'int' | 'float' | 'bool' | 'time' | 'comment' | 'bytes';

/** Go strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never exponent form. */
export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Object.is(v, -0)) return '-0';
  const s = String(v); // shortest round-trip digits, like Go's -1 precision
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign = '', lead, frac = '', expText] = m;
  const digits = `${lead}${frac}`;
  const exp = Number(expText);
  if (exp >= 0) {
    return sign + (exp >= frac.length ? digits + '0'.repeat(exp - frac.length) : `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`);
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

/** Go strconv.ParseFloat for the texts sops writes (plus the usual Inf/NaN spellings). */
export function parseGoFloat(text: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special) {
    if (special[2]?.toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** Go strconv.ParseBool. */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go strconv.Atoi on 64-bit: optional sign, decimal digits, int64 range. */
export function parseGoInt(text: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const v = BigInt(text);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

export function fitsInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

/** Go time.Time.MarshalText layout as produced by sops: RFC 3339 in UTC, whole seconds. */
export function formatRfc3339Seconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Go time.Parse(time.RFC3339, s) then Format(time.RFC3339): fractional seconds are
 * dropped, the offset is kept as written (`Z` for UTC). Undefined if not RFC 3339.
 */
export function normalizeRfc3339(text: string): string | undefined {
  const [, date, time, zone] = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(text) ?? [];
  if (date === undefined || time === undefined || zone === undefined) return undefined;
  if (Number.isNaN(Date.parse(`${date}T${time}Z`))) return undefined;
  const z = /^(Z|[+-]00:00)$/i.test(zone) ? 'Z' : zone; // Go writes a zero offset as Z
  return `${date}T${time}${z}`;
}

/**
 * A scalar read from YAML or JSON as text (`1` → "1", `true` → "true", null → "null").
 * A collection, never valid where this is used, comes out as JSON rather than "[object Object]".
 */
export function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}
