/**
 * The `sops:` block (spec §5): read every layout written since 3.2 (any key order,
 * empty/null/missing lists, top-level `age` or `key_groups`), write the 3.13
 * alphabetical layout.
 */
import { Scalar, YAMLMap, YAMLSeq, Pair } from 'yaml';
import { SopsFormatError, SopsUnsupportedError } from './errors.js';
import { normalizeRfc3339, scalarText } from './go-format.js';
import { RULE_KEYS, rulesFrom } from './rules.js';
import type { EncryptionRules } from './rules.js';

/** The sops version this codec writes: the format revision it implements (JSON ints as `int`). */
export const SOPS_VERSION = '3.13.2';

export interface AgeEntry {
  recipient: string;
  enc: string;
}

export interface KeyGroup {
  age: AgeEntry[];
  /** Master keys of types this codec cannot use (pgp, kms…), counted for error messages. */
  otherKeys: number;
}

export interface SopsMetadata {
  keyGroups: KeyGroup[];
  shamirThreshold: number | undefined;
  lastModified: string;
  /** `lastmodified` parsed and formatted again: the MAC's AAD (spec §3.2). */
  macAad: string;
  mac: string;
  rules: EncryptionRules;
  version: string;
}

const OTHER_KEY_TYPES = ['pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'hckms'] as const;

/** Parse the `sops` value (as plain JS, e.g. from `node.toJS()`). */
export function parseMetadata(raw: unknown, file: string): SopsMetadata {
  if (!isRecord(raw)) throw new SopsFormatError(`${file}: the "sops" metadata is not a mapping`, { hint: 'the file is damaged; restore it from version control' });
  const groupsRaw = Array.isArray(raw.key_groups) && raw.key_groups.length > 0 ? raw.key_groups : [raw];
  const keyGroups = groupsRaw.map((g, i) => parseGroup(g, `${file}: key group ${i + 1}`));
  if (keyGroups.every((g) => g.age.length === 0 && g.otherKeys === 0)) {
    throw new SopsFormatError(`${file}: no keys found in the sops metadata`, { hint: 'the file is damaged; restore it from version control' });
  }
  if (keyGroups.some((g) => g.age.length === 0)) {
    throw new SopsUnsupportedError(`${file}: a key group has no age recipient (only pgp/kms/vault keys, which this tool does not support)`, {
      hint: 'add an age recipient with `sops updatekeys`, or decrypt with the sops CLI',
    });
  }
  const lastModified = typeof raw.lastmodified === 'string' ? raw.lastmodified : raw.lastmodified instanceof Date ? raw.lastmodified.toISOString() : '';
  const macAad = normalizeRfc3339(lastModified);
  if (macAad === undefined) {
    throw new SopsFormatError(`${file}: sops.lastmodified is missing or not an RFC 3339 time`, { hint: 'the file is damaged; restore it from version control' });
  }
  const threshold = raw.shamir_threshold === undefined || raw.shamir_threshold === null ? undefined : Number(raw.shamir_threshold);
  if (threshold !== undefined && !(Number.isInteger(threshold) && threshold >= 0)) {
    throw new SopsFormatError(`${file}: sops.shamir_threshold is not a non-negative integer`, { hint: 'the file is damaged; restore it from version control' });
  }
  const version = raw.version === undefined || raw.version === null ? '' : scalarText(raw.version);
  // sops itself refuses a non-semver version (its KMS-bug check parses it); so a cut-off file fails here too.
  if (!/^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/.test(version) && !version.startsWith('1.')) {
    throw new SopsFormatError(`${file}: sops.version ${JSON.stringify(version.slice(0, 40))} is not a semantic version`, { hint: 'the file is damaged or truncated; restore it from version control' });
  }
  const ruleFields: Record<string, unknown> = { mac_only_encrypted: raw.mac_only_encrypted };
  for (const k of RULE_KEYS) ruleFields[k] = raw[k];
  return {
    keyGroups,
    shamirThreshold: threshold === 0 ? undefined : threshold,
    lastModified,
    macAad,
    mac: typeof raw.mac === 'string' ? raw.mac : '',
    rules: rulesFrom(ruleFields, file),
    version,
  };
}

function parseGroup(g: unknown, where: string): KeyGroup {
  if (!isRecord(g)) throw new SopsFormatError(`${where} is not a mapping`, { hint: 'the file is damaged; restore it from version control' });
  const ageRaw = g.age ?? [];
  if (!Array.isArray(ageRaw)) throw new SopsFormatError(`${where}: "age" is not a list`, { hint: 'the file is damaged; restore it from version control' });
  const age = ageRaw.map((e, i) => {
    if (!isRecord(e) || typeof e.recipient !== 'string' || typeof e.enc !== 'string') {
      throw new SopsFormatError(`${where}: age entry ${i + 1} lacks a recipient or enc`, { hint: 'the file is damaged; restore it from version control' });
    }
    return { recipient: e.recipient.trim(), enc: e.enc };
  });
  let otherKeys = 0;
  for (const t of OTHER_KEY_TYPES) {
    const list = g[t];
    if (Array.isArray(list)) otherKeys += list.length;
  }
  return { age, otherKeys };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An age list node, 3.13 style (`enc` first, as a `|` literal block). */
export function ageListNode(entries: readonly AgeEntry[]): YAMLSeq {
  const seq = new YAMLSeq();
  for (const e of entries) {
    const enc = new Scalar(e.enc);
    enc.type = Scalar.BLOCK_LITERAL;
    const m = new YAMLMap();
    m.items.push(new Pair(new Scalar('enc'), enc), new Pair(new Scalar('recipient'), new Scalar(e.recipient)));
    seq.items.push(m);
  }
  return seq;
}

export function lastModifiedNode(value: string): Scalar {
  const s = new Scalar(value);
  s.type = Scalar.QUOTE_DOUBLE; // yaml.v3 quotes it; keeps it a string for every reader
  return s;
}

/** A new metadata block in the 3.13 alphabetical layout, one key group. */
export function newMetadataNode(m: { age: readonly AgeEntry[]; lastModified: string; mac: string; rules: EncryptionRules }): YAMLMap {
  const fields: [string, unknown][] = [
    ['age', ageListNode(m.age)],
    ['lastmodified', lastModifiedNode(m.lastModified)],
    ['mac', new Scalar(m.mac)],
  ];
  if (m.rules.macOnlyEncrypted) fields.push(['mac_only_encrypted', new Scalar(true)]);
  fields.push([m.rules.rule, new Scalar(m.rules.value)], ['version', new Scalar(SOPS_VERSION)]);
  fields.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const node = new YAMLMap();
  for (const [k, v] of fields) node.items.push(new Pair(new Scalar(k), v));
  return node;
}
