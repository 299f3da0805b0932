/**
 * `.sops.yaml` (spec §9): find it (--config / SOPS_CONFIG, else upward from a start
 * directory), and pick the creation rule for a file: `path_regex` is searched in the
 * path relative to the config's directory, first match wins, no regex matches all.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readYamlDocument, toJS } from '../bounded-yaml/index.js';
import { SopsConfigError, SopsUnsupportedError } from './errors.js';
import { scalarText } from './go-format.js';
import { compileRe2, RULE_KEYS, rulesFrom } from './rules.js';
import type { EncryptionRules } from './rules.js';

const CONFIG_NAME = '.sops.yaml';

export interface RuleKeyGroup {
  age: string[];
  /** pgp/kms/vault keys in the group, which this tool cannot wrap for. */
  otherKeys: number;
}

export interface CreationRule {
  index: number;
  pathRegex: string | undefined;
  keyGroups: RuleKeyGroup[];
  shamirThreshold: number | undefined;
  /** Undefined when the rule sets no encryption-rule field (then the default applies). */
  rules: EncryptionRules | undefined;
}

export interface SopsConfig {
  path: string;
  creationRules: CreationRule[];
  stores: { yamlIndent: number | undefined; jsonIndent: number | undefined };
}

/** The config file: `explicit`, else SOPS_CONFIG, else `.sops.yaml` in `startDir` or a parent (100 levels). */
export function findConfigFile(startDir: string, env: NodeJS.ProcessEnv = process.env, explicit?: string): string | undefined {
  const forced = explicit ?? env.SOPS_CONFIG;
  if (forced) {
    if (!existsSync(forced)) throw new SopsConfigError(`config file ${forced} does not exist`, { hint: 'fix --config or SOPS_CONFIG' });
    return path.resolve(forced);
  }
  let dir = path.resolve(startDir);
  for (let i = 0; i < 100; i++) {
    const candidate = path.join(dir, CONFIG_NAME);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

export function loadConfig(configPath: string): SopsConfig {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (e) {
    throw new SopsConfigError(`cannot read ${configPath}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { hint: 'check the file permissions' });
  }
  return parseConfig(text, configPath);
}

export function parseConfig(text: string, configPath: string): SopsConfig {
  const doc = readYamlDocument(text, configPath);
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw new SopsConfigError(`${configPath}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML (${err.code})`, { hint: 'fix the YAML syntax' });
  }
  // Not doc.toJS(): its alias budget (100) stops a .sops.yaml with one alias per host at ~99 hosts.
  const raw: unknown = toJS(doc.contents);
  const top = isRecord(raw) ? raw : {};
  const rulesRaw = Array.isArray(top.creation_rules) ? top.creation_rules : [];
  const stores = isRecord(top.stores) ? top.stores : {};
  return {
    path: configPath,
    creationRules: rulesRaw.map((r, i) => parseRule(r, i, configPath)),
    stores: { yamlIndent: indentOf(stores.yaml, configPath), jsonIndent: indentOf(stores.json, configPath) },
  };
}

function indentOf(store: unknown, where: string): number | undefined {
  if (!isRecord(store) || store.indent === undefined) return undefined;
  const n = Number(store.indent);
  if (!Number.isInteger(n) || n < 0) throw new SopsConfigError(`${where}: stores indent must be a non-negative integer`, { hint: 'e.g. stores: {yaml: {indent: 4}}' });
  return n;
}

function parseRule(r: unknown, index: number, where: string): CreationRule {
  const at = `${where}: creation rule ${index + 1}`;
  if (!isRecord(r)) throw new SopsConfigError(`${at} is not a mapping`, { hint: 'each creation rule is a mapping with path_regex and keys' });
  const pathRegex = r.path_regex === undefined || r.path_regex === null ? undefined : scalarText(r.path_regex);
  if (pathRegex !== undefined) compileRe2(pathRegex, at);
  const groupsRaw = Array.isArray(r.key_groups) && r.key_groups.length > 0 ? r.key_groups : undefined;
  const keyGroups = groupsRaw ? groupsRaw.map((g) => parseGroup(g, at)) : [parseGroup(r, at)];
  const threshold = r.shamir_threshold === undefined || r.shamir_threshold === null ? undefined : Number(r.shamir_threshold);
  const hasRule = RULE_KEYS.some((k) => r[k] !== undefined && r[k] !== null && r[k] !== '') || r.mac_only_encrypted !== undefined;
  return { index, pathRegex, keyGroups, shamirThreshold: threshold === 0 || Number.isNaN(threshold) ? undefined : threshold, rules: hasRule ? rulesFrom(r, at) : undefined };
}

/** One key group; `merge` (3.9+) folds nested groups into it; duplicates removed. */
function parseGroup(g: unknown, at: string): RuleKeyGroup {
  if (!isRecord(g)) throw new SopsConfigError(`${at}: a key group is not a mapping`, { hint: 'key_groups is a list of mappings like {age: [age1…]}' });
  const age = splitKeys(g.age, at);
  // A rule spells vault keys `hc_vault_transit_uri`, a key group `hc_vault` (sops config.go).
  let otherKeys = ['pgp', 'kms', 'gcp_kms', 'azure_keyvault', 'hc_vault_transit_uri', 'hc_vault', 'hckms'].reduce((n, k) => n + splitKeys(g[k], at).length, 0);
  if (Array.isArray(g.merge)) {
    for (const sub of g.merge) {
      const m = parseGroup(sub, at);
      age.push(...m.age);
      otherKeys += m.otherKeys;
    }
  }
  return { age: [...new Set(age)], otherKeys };
}

/** A comma-separated string, or (3.11+) a list of them; blanks trimmed and skipped. */
function splitKeys(v: unknown, at: string): string[] {
  if (v === undefined || v === null) return [];
  const items = Array.isArray(v) ? v : [v];
  return items.flatMap((item) => {
    if (typeof item !== 'string') {
      if (isRecord(item)) return [JSON.stringify(item)]; // e.g. kms entries given as maps: counted, not used
      throw new SopsConfigError(`${at}: keys must be strings`, { hint: 'write age recipients as age1… strings' });
    }
    return item.split(',').map((s) => s.trim()).filter((s) => s !== '');
  });
}

/** The path a rule sees: relative to the config's directory when the file is under it. */
function pathForMatching(configPath: string, file: string): string {
  const abs = path.resolve(file);
  const dir = path.dirname(path.resolve(configPath));
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return abs.startsWith(prefix) ? abs.slice(prefix.length) : abs;
}

export function matchRule(config: SopsConfig, file: string): CreationRule | undefined {
  const rel = pathForMatching(config.path, file);
  return config.creationRules.find((r) => r.pathRegex === undefined || compileRe2(r.pathRegex, config.path).test(rel));
}

export function ruleForFile(config: SopsConfig, file: string): CreationRule {
  const rule = matchRule(config, file);
  if (!rule) {
    throw new SopsConfigError(`${config.path}: no creation rule matches ${pathForMatching(config.path, file)}`, {
      hint: 'add a creation_rules entry whose path_regex matches this file',
    });
  }
  return rule;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The config for a command: `configPath`, else SOPS_CONFIG, else found upward from `cwd`; undefined when none. */
export function loadConfigFor(opts: { cwd?: string; env?: NodeJS.ProcessEnv; configPath?: string }): SopsConfig | undefined {
  const found = findConfigFile(opts.cwd ?? process.cwd(), opts.env ?? process.env, opts.configPath);
  return found === undefined ? undefined : loadConfig(found);
}

/** The age recipients of a rule with one key group of age keys only (all this codec can encrypt for). */
export function ageRecipientsOf(rule: CreationRule, config: SopsConfig, file: string): string[] {
  const at = `${file}: creation rule ${rule.index + 1} of ${config.path}`;
  if (rule.keyGroups.length > 1) {
    throw new SopsUnsupportedError(`${at} has ${rule.keyGroups.length} key groups (Shamir); encrypting with several groups is not supported`, {
      hint: 'use one group of age recipients, or the sops CLI',
    });
  }
  const [group] = rule.keyGroups;
  if (group === undefined) throw new SopsConfigError(`${at} has no age recipients`, { hint: 'add age: age1… to the rule' });
  if (group.otherKeys > 0) {
    throw new SopsUnsupportedError(`${at} has pgp/kms/vault keys, which this tool cannot encrypt for`, { hint: 'use only age recipients in this rule' });
  }
  if (group.age.length === 0) throw new SopsConfigError(`${at} has no age recipients`, { hint: 'add age: age1… to the rule' });
  return group.age;
}
