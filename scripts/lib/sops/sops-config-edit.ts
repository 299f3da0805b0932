/**
 * Programmatic `.sops.yaml` edits that keep comments, anchors and the rest of the
 * file: each host gets an anchored key `&host_<host>` under `keys:` and its own
 * creation rule, placed before the rule that matched its file until now (first
 * match wins), listing that rule's recipients (so the operator keeps access) plus
 * the host. Rules are written as `key_groups` lists, which every sops >= 3.7 reads.
 * Files for the operators only (the hosts' ssh host keys) get a rule of their
 * own too: the matching rule's recipients without any host's.
 */
import { readFile } from 'node:fs/promises';
import { Alias, isAlias, isMap, isScalar, isSeq, Scalar, visit, YAMLMap, YAMLSeq } from 'yaml';
import type { Document, Node } from 'yaml';
import { checkInputSize, readYamlDocument } from '../bounded-yaml/index.js';
import { writeFileAtomic } from '../fs/index.js';
import { SopsConfigError, SopsUnsupportedError } from './errors.js';
import { scalarText } from './go-format.js';
import { compileRe2 } from './rules.js';
import { detectYamlIndent } from './stores/yaml.js';

export interface HostRecipientOptions {
  host: string;
  /** `age1…` (or `ssh-ed25519 …`) recipient of the host. */
  recipient: string;
  /** The host rule's path_regex; default `^sops/<host>\.yaml$`. */
  pathRegex?: string;
  /** The host's secrets file relative to the config's folder (to find the rule matching it now); default `sops/<host>.yaml`. */
  filePath?: string;
}

const HOST_ANCHOR = 'host_';
const anchorOf = (host: string): string => `${HOST_ANCHOR}${host}`;
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
export const defaultHostPathRegex = (host: string): string => `^sops/${escapeRegex(host)}\\.yaml$`;

/** Whether `n` is the host's entry of `keys:` (anchored `&host_<host>`). */
const isHostKey = (n: unknown, host: string): n is Node => (isScalar(n) || isMap(n) || isSeq(n)) && n.anchor === anchorOf(host);

function anchoredKey(keys: unknown, host: string): Node | undefined {
  return isSeq(keys) ? keys.items.find((n) => isHostKey(n, host)) : undefined;
}

function parse(text: string, where: string): Document.Parsed {
  const doc = readYamlDocument(text, where);
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new SopsConfigError(`${where}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML (${err.code})`, { hint: 'fix the YAML syntax' });
  }
  doc.contents ??= new YAMLMap() as unknown as typeof doc.contents;
  if (!isMap(doc.contents)) throw new SopsConfigError(`${where}: the top level is not a mapping`, { hint: 'a .sops.yaml is a mapping with creation_rules' });
  return doc;
}

function topSeq(doc: Document.Parsed, key: string, where: string, atStart: boolean): YAMLSeq {
  const root = doc.contents as YAMLMap;
  const existing = root.get(key, true);
  if (isSeq(existing)) return existing;
  if (existing !== undefined && !(isScalar(existing) && existing.value === null)) {
    throw new SopsConfigError(`${where}: "${key}" is not a list`, { hint: `make ${key} a YAML list` });
  }
  const seq = new YAMLSeq();
  if (existing !== undefined || !atStart) root.set(key, seq);
  else root.items.unshift(doc.createPair(key, seq));
  return seq;
}

/** The recipients of a rule as nodes to copy: aliases stay aliases, strings are split on commas. */
function ruleRecipients(rule: YAMLMap, doc: Document.Parsed, where: string): Node[] {
  const groups = rule.get('key_groups', true);
  let source: unknown = rule.get('age', true);
  if (isSeq(groups) && groups.items.length > 0) {
    if (groups.items.length > 1) throw new SopsUnsupportedError(`${where}: the rule matching this host's file has several key groups`, { hint: 'add the host rule by hand' });
    const g = groups.items[0];
    source = isMap(g) ? g.get('age', true) : undefined;
  }
  const items = isSeq(source) ? source.items : source === undefined ? [] : [source];
  return items.flatMap((item): Node[] => {
    if (isAlias(item)) return [new Alias(item.source)];
    const v = isScalar(item) ? item.value : undefined;
    if (typeof v !== 'string') return [];
    return v.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => doc.createNode(s) as Node);
  });
}

function pathRegexOf(rule: unknown): string | undefined {
  if (!isMap(rule)) return undefined;
  const v: unknown = rule.get('path_regex');
  return v === undefined || v === null ? undefined : scalarText(v);
}

function emit(doc: Document.Parsed, original: string, where: string): string {
  const out = doc.toString({ indent: detectYamlIndent(original, 2), lineWidth: 0, flowCollectionPadding: false });
  checkInputSize(out, where, 'the result'); // what is written must read back
  return out;
}

/** Add (or update) a host's anchored recipient and its creation rule. Pure text → text. */
export function addHostRecipient(configText: string, opts: HostRecipientOptions, where = '.sops.yaml'): string {
  const { host, recipient } = opts;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(host)) throw new SopsConfigError(`invalid host name ${JSON.stringify(host)}`, { hint: 'use letters, digits, ".", "_" and "-"' });
  if (!/^(age1[0-9a-z]+|ssh-ed25519 [A-Za-z0-9+/=]+( [^,\n]*)?)$/.test(recipient)) {
    throw new SopsConfigError(`invalid recipient for host ${host}`, { hint: 'use an age1… or ssh-ed25519 public key' });
  }
  const pathRegex = opts.pathRegex ?? defaultHostPathRegex(host);
  const filePath = opts.filePath ?? `sops/${host}.yaml`;
  const doc = parse(configText, where);
  const anchor = anchorOf(host);

  const keys = topSeq(doc, 'keys', where, true);
  const existing = anchoredKey(keys, host);
  if (isScalar(existing)) {
    existing.value = recipient;
  } else {
    const node = doc.createNode(recipient) as Scalar;
    node.anchor = anchor;
    keys.items.push(node);
  }

  const rules = topSeq(doc, 'creation_rules', where, false);
  if (rules.items.some((r) => pathRegexOf(r) === pathRegex)) return emit(doc, configText, where);
  const matched = matchingRule(rules, filePath, where);
  const recipients = isMap(matched.rule) ? ruleRecipients(matched.rule, doc, where) : [];
  const withoutHost = recipients.filter((n) => !(isAlias(n) && n.source === anchor));
  insertRule(doc, rules, matched, pathRegex, [...withoutHost, new Alias(anchor)]);
  return emit(doc, configText, where);
}

/** The first rule that matches `filePath` (the one sops applies), and where it sits; index -1 when none does. */
function matchingRule(rules: YAMLSeq, filePath: string, where: string): { index: number; rule: unknown } {
  const index = rules.items.findIndex((r) => {
    if (!isMap(r)) return false;
    const re = pathRegexOf(r);
    return re === undefined || compileRe2(re, where).test(filePath);
  });
  return { index, rule: rules.items[index] };
}

/** Inserts `{path_regex, key_groups: [{age: recipients}]}` before `matched` (first match wins), else at the end. */
function insertRule(doc: Document.Parsed, rules: YAMLSeq, matched: { index: number; rule: unknown }, pathRegex: string, recipients: Node[], comment?: string): void {
  const age = new YAMLSeq();
  age.items.push(...recipients);
  const group = new YAMLMap();
  group.items.push(doc.createPair('age', age));
  const groups = new YAMLSeq();
  groups.items.push(group);
  const rule = new YAMLMap();
  rule.items.push(doc.createPair('path_regex', pathRegex), doc.createPair('key_groups', groups));
  if (comment !== undefined) rule.commentBefore = comment.split('\n').map((l) => ` ${l}`).join('\n');
  // A comment heading the list describes the rule it sits on: keep it on that rule.
  if (matched.index === 0 && isMap(matched.rule) && rules.commentBefore) {
    matched.rule.commentBefore = [rules.commentBefore, matched.rule.commentBefore].filter(Boolean).join('\n');
    rules.commentBefore = null;
  }
  rules.items.splice(matched.index < 0 ? rules.items.length : matched.index, 0, rule);
}

export interface OperatorRuleOptions {
  /** The rule's path_regex, e.g. `^sops/host-keys/[^/]+\\.yaml$`. */
  pathRegex: string;
  /** A file the rule is for, relative to the config's folder (to find the rule matching it now). */
  filePath: string;
  /** When no rule matches `filePath`: a file whose rule lists the operators (a host's file), relative like it. */
  operatorsFrom?: string;
  /** Comment placed above the rule: why it exists. */
  comment: string;
}

/** Values of the `&host_<host>` anchors under `keys:`, by host. */
function hostAnchorValues(doc: Document.Parsed): Map<string, string> {
  const out = new Map<string, string>();
  const keys = (doc.contents as YAMLMap).get('keys', true);
  if (!isSeq(keys)) return out;
  for (const n of keys.items) {
    if (isScalar(n) && typeof n.value === 'string' && n.anchor?.startsWith(HOST_ANCHOR)) out.set(n.anchor.slice(HOST_ANCHOR.length), n.value);
  }
  return out;
}

/** Every host's recipient as `.sops.yaml` names it through its `&host_<host>` anchor. */
export function hostRecipients(configText: string, where = '.sops.yaml'): Map<string, string> {
  return hostAnchorValues(parse(configText, where));
}

/**
 * Adds a creation rule for files only the operators may read (the hosts' ssh
 * host keys): the recipients of the rule that matches `filePath` now (else
 * of the one `operatorsFrom` matches), minus every host's (its
 * `*host_<host>` alias, or the anchor's value written out), placed before
 * the rule that matched `filePath` (first match wins), else last. A rule with this path_regex is
 * kept as it is: the operators may have edited it. Pure text → text.
 */
export function addOperatorRule(configText: string, opts: OperatorRuleOptions, where = '.sops.yaml'): string {
  const doc = parse(configText, where);
  const rules = topSeq(doc, 'creation_rules', where, false);
  if (rules.items.some((r) => pathRegexOf(r) === opts.pathRegex)) return configText;
  const matched = matchingRule(rules, opts.filePath, where);
  const source = isMap(matched.rule) || opts.operatorsFrom === undefined ? matched.rule : matchingRule(rules, opts.operatorsFrom, where).rule;
  const hosts = new Set(hostAnchorValues(doc).values());
  const operators = (isMap(source) ? ruleRecipients(source, doc, where) : []).filter((n) =>
    isAlias(n) ? !n.source.startsWith(HOST_ANCHOR) : !(isScalar(n) && typeof n.value === 'string' && hosts.has(n.value)),
  );
  if (operators.length === 0) {
    throw new SopsConfigError(`${where}: no rule names an operator's recipient for ${opts.filePath}`, {
      hint: `add a creation rule with path_regex ${opts.pathRegex} listing the operators' age keys`,
    });
  }
  insertRule(doc, rules, matched, opts.pathRegex, operators, opts.comment);
  return emit(doc, configText, where);
}

/** Remove a host's anchor, every alias to it, and its own rule. Pure text → text. */
export interface RemoveHostOptions {
  pathRegex?: string;
  /** The host's recipients: also removed where a rule spells them out instead of using the anchor. */
  recipients?: readonly string[];
}

/** Drops `drop` from an `age:` value: a comma-separated string or a list of (comma-separated) strings. */
function dropLiteralRecipients(container: YAMLMap, drop: ReadonlySet<string>): void {
  const without = (text: string): string | undefined => {
    const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
    const kept = parts.filter((p) => !drop.has(p));
    return kept.length === parts.length ? undefined : kept.join(',');
  };
  const age = container.get('age', true);
  if (isScalar(age) && typeof age.value === 'string') {
    const kept = without(age.value);
    if (kept === '') container.delete('age');
    else if (kept !== undefined) age.value = kept;
  } else if (isSeq(age)) {
    age.items = age.items.flatMap((item) => {
      if (!isScalar(item) || typeof item.value !== 'string') return [item];
      const kept = without(item.value);
      if (kept === undefined) return [item];
      if (kept === '') return [];
      item.value = kept;
      return [item];
    });
  }
}

export function removeHostRecipient(configText: string, host: string, opts: RemoveHostOptions = {}, where = '.sops.yaml'): string {
  const doc = parse(configText, where);
  const anchor = anchorOf(host);
  const pathRegex = opts.pathRegex ?? defaultHostPathRegex(host);
  const root = doc.contents as YAMLMap;

  const rules = root.get('creation_rules', true);
  if (isSeq(rules)) rules.items = rules.items.filter((r) => pathRegexOf(r) !== pathRegex);
  const drop = new Set(opts.recipients ?? []);
  if (drop.size && isSeq(rules)) {
    for (const rule of rules.items) {
      if (!isMap(rule)) continue;
      dropLiteralRecipients(rule, drop);
      const groups = rule.get('key_groups', true);
      if (isSeq(groups)) for (const g of groups.items) if (isMap(g)) dropLiteralRecipients(g, drop);
    }
  }
  visit(doc, {
    Alias(_key, node) {
      if (node.source === anchor) return visit.REMOVE;
      return undefined;
    },
  });
  const keys = root.get('keys', true);
  if (isSeq(keys)) {
    keys.items = keys.items.filter((n) => !isHostKey(n, host));
    if (keys.items.length === 0) root.delete('keys');
  }
  if (isSeq(rules) && rules.items.length === 0) root.delete('creation_rules');
  return emit(doc, configText, where);
}

async function readOrEmpty(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new SopsConfigError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { hint: 'check the file permissions' });
  }
}

/** File wrappers: atomic write, only when the text changes. Return whether it changed. */
export async function addHostRecipientToFile(configPath: string, opts: HostRecipientOptions): Promise<boolean> {
  const before = await readOrEmpty(configPath);
  const after = addHostRecipient(before, opts, configPath);
  if (after !== before) await writeFileAtomic(configPath, after);
  return after !== before;
}

export async function addOperatorRuleToFile(configPath: string, opts: OperatorRuleOptions): Promise<boolean> {
  const before = await readOrEmpty(configPath);
  const after = addOperatorRule(before, opts, configPath);
  if (after !== before) await writeFileAtomic(configPath, after);
  return after !== before;
}

export async function removeHostRecipientFromFile(configPath: string, host: string, opts: RemoveHostOptions = {}): Promise<boolean> {
  const before = await readOrEmpty(configPath);
  const after = removeHostRecipient(before, host, opts, configPath);
  if (after !== before) await writeFileAtomic(configPath, after);
  return after !== before;
}
