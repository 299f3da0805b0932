/**
 * Native SOPS codec (age recipients), compatible both ways with sops >= 3.7 and
 * sops-nix. See /work/shared/docs/sops-format.md for the format.
 *
 * Typing choice (spec §7.1): YAML is read with the core schema, so unquoted
 * timestamps are strings and are written as `type:str` (consistent within the file;
 * sops reads them back as strings). Values of `type:time` written by sops 3.10+ are
 * read as their RFC 3339 text and keep `type:time` when re-encrypted unchanged.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Document, isCollection, isMap, isScalar, Pair, Scalar } from 'yaml';
import { writeFileAtomic } from '../fs/atomic-write.js';
import { encryptDocs } from './crypt.js';
import { SopsConfigError, SopsFormatError, SopsUnsupportedError } from './errors.js';
import { SopsEditor } from './editor.js';
import { formatRfc3339Seconds } from './go-format.js';
import { wrapKey } from './keysource/age.js';
import type { AgeIdentityInput } from './keysource/age.js';
import { collectIdentities } from './keysource/identities.js';
import { ageListNode, newMetadataNode, SOPS_VERSION } from './metadata.js';
import { DEFAULT_RULES, RuleMatcher } from './rules.js';
import type { EncryptionRules } from './rules.js';
import { findConfigFile, loadConfig, matchRule, ruleForFile } from './sops-config.js';
import type { CreationRule, SopsConfig } from './sops-config.js';
import { attachSops, decryptLoaded, loadEncrypted, recoverDataKey } from './sops-file.js';
import { formatTreePath, getNode, getPlain } from './sops-path.js';
import type { TreePath } from './sops-path.js';
import { docToBinary } from './stores/binary.js';
import { emitEncrypted, formatForPath, parsePlain } from './stores/index.js';
import type { SopsFormat } from './stores/index.js';
import { emitJson } from './stores/json.js';
import { detectYamlIndent, emitYaml } from './stores/yaml.js';
import { expandAliases, toPlain } from './tree.js';
import type { PlainValue, SopsDoc } from './tree.js';
import { encryptValue, formatEncValue, IvStash } from './value-cipher.js';

export * from './errors.js';
export { SopsEditor } from './editor.js';
export { parseTreePath, formatTreePath } from './sops-path.js';
export type { TreePath } from './sops-path.js';
export type { PlainMap, PlainValue } from './tree.js';
export type { SopsFormat } from './stores/index.js';
export type { AgeIdentityInput } from './keysource/age.js';
export type { EncryptionRules } from './rules.js';
export { findConfigFile, loadConfig, matchRule, parseConfig, ruleForFile } from './sops-config.js';
export type { CreationRule, SopsConfig } from './sops-config.js';
export { addHostRecipient, removeHostRecipient, addHostRecipientToFile, removeHostRecipientFromFile } from './sops-config-edit.js';
export { SOPS_VERSION };

export interface DecryptOptions {
  /** Identities to try; default: collected from `env` like sops (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, keys.txt, ~/.ssh/id_ed25519). */
  identities?: AgeIdentityInput[];
  env?: NodeJS.ProcessEnv;
  /** Skip MAC verification. Explicit opt-in only: a mismatch means tampering. */
  ignoreMac?: boolean;
  inputType?: SopsFormat;
}

export interface DecryptedFile {
  format: SopsFormat;
  /** The first document, keys in file order. */
  tree: PlainValue;
  /** All documents (multi-document YAML). */
  documents: PlainValue[];
  toYaml(): string;
  toJson(): string;
  /** The `data` string of a binary-store file. */
  toText(): string;
  extract(path: TreePath): PlainValue;
  /** Like `sops -d --extract`: a scalar as its raw text, a mapping or list as YAML or JSON. */
  extractText(path: TreePath, outputType?: 'yaml' | 'json'): string;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SopsFormatError(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'error')}`, { hint: 'check the path' });
  }
}

function identitiesOf(opts: DecryptOptions): AgeIdentityInput[] {
  return opts.identities ?? collectIdentities({ env: opts.env ?? process.env });
}

function jsonIndentOf(text: string): number | undefined {
  const m = /^\{\r?\n( +)"/.exec(text);
  return m ? m[1]!.length : undefined;
}

/** Decrypt a file (MAC verified). */
export async function decryptFile(file: string, opts: DecryptOptions = {}): Promise<DecryptedFile> {
  return decryptText(await readText(file), file, opts);
}

/** Decrypt file text; `file` names it in errors and picks the store by extension. */
export async function decryptText(text: string, file: string, opts: DecryptOptions = {}): Promise<DecryptedFile> {
  const format = opts.inputType ?? formatForPath(file);
  const loaded = loadEncrypted(text, format, file);
  const key = await recoverDataKey(loaded.meta, identitiesOf(opts), file);
  decryptLoaded(loaded, key, opts.ignoreMac);
  const docs = loaded.docs;
  const documents = docs.map((d) => toPlain(d.contents));
  const tree = documents[0] ?? new Map();
  return {
    format,
    tree,
    documents,
    toYaml: () => emitYaml(docs, format === 'yaml' ? detectYamlIndent(text, 4) : 4),
    toJson: () => {
      if (docs.length > 1) throw new SopsUnsupportedError(`${file}: a multi-document file cannot be written as JSON`, { hint: 'output YAML instead' });
      return emitJson(docs[0]!, format === 'yaml' ? undefined : jsonIndentOf(text));
    },
    toText: () => docToBinary(docs[0]!, file),
    extract: (p) => {
      const v = getPlain(tree, p);
      if (v === undefined) throw noValueAt(file, p);
      return v;
    },
    extractText: (p, outputType = format === 'json' ? 'json' : 'yaml') => {
      const node = getNode(docs[0]?.contents, p);
      if (node === undefined) throw noValueAt(file, p);
      if (!isCollection(node)) {
        const v: unknown = isScalar(node) ? node.value : node;
        return v === null || v === undefined ? 'null' : String(v);
      }
      const sub = new Document() as SopsDoc;
      sub.contents = node.clone() as SopsDoc['contents'];
      return outputType === 'json' ? emitJson(sub, undefined) : emitYaml([sub], 4);
    },
  };
}

function noValueAt(file: string, p: TreePath): SopsFormatError {
  return new SopsFormatError(`${file}: no value at ${formatTreePath(p)}`, { hint: 'check the --extract path' });
}

export interface OpenOptions extends DecryptOptions {
  /** Clock for `lastmodified` (tests). */
  now?: () => Date;
}

/** Open an encrypted file for editing (decrypts and verifies the MAC first). */
export async function openSopsFile(file: string, opts: OpenOptions = {}): Promise<SopsEditor> {
  const text = await readText(file);
  const format = opts.inputType ?? formatForPath(file);
  const loaded = loadEncrypted(text, format, file);
  const key = await recoverDataKey(loaded.meta, identitiesOf(opts), file);
  const stash = decryptLoaded(loaded, key, opts.ignoreMac);
  return new SopsEditor({
    loaded,
    key,
    stash,
    indent: { yaml: detectYamlIndent(text, 4), json: jsonIndentOf(text) },
    now: opts.now ?? (() => new Date()),
  });
}

export interface EncryptOptions {
  /** Path of the file (for the store, the creation rule and messages). */
  filePath: string;
  format?: SopsFormat;
  /** Age recipients (replaces the config's keys, like --age). */
  recipients?: string[];
  /** Encryption rule (overrides the config's). */
  rules?: EncryptionRules;
  /** `.sops.yaml` to use instead of searching upward from `cwd`. */
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

interface Resolved {
  recipients: string[];
  rules: EncryptionRules;
  indent: { yaml: number; json: number | undefined };
}

function configFor(opts: { cwd?: string; env?: NodeJS.ProcessEnv; configPath?: string }): SopsConfig | undefined {
  const found = findConfigFile(opts.cwd ?? process.cwd(), opts.env ?? process.env, opts.configPath);
  return found === undefined ? undefined : loadConfig(found);
}

function singleGroupRecipients(rule: CreationRule, config: SopsConfig, file: string): string[] {
  if (rule.keyGroups.length > 1) {
    throw new SopsUnsupportedError(`${file}: creation rule ${rule.index + 1} of ${config.path} has ${rule.keyGroups.length} key groups (Shamir); encrypting with several groups is not supported`, {
      hint: 'use one group of age recipients, or the sops CLI',
    });
  }
  const group = rule.keyGroups[0]!;
  if (group.otherKeys > 0) {
    throw new SopsUnsupportedError(`${file}: creation rule ${rule.index + 1} of ${config.path} has pgp/kms/vault keys, which this tool cannot encrypt for`, {
      hint: 'use only age recipients in this rule',
    });
  }
  if (group.age.length === 0) {
    throw new SopsConfigError(`${file}: creation rule ${rule.index + 1} of ${config.path} has no age recipients`, { hint: 'add age: age1… to the rule' });
  }
  return group.age;
}

function resolve(opts: EncryptOptions, format: SopsFormat): Resolved {
  const config = opts.recipients && opts.rules ? undefined : configFor(opts);
  // Explicit recipients replace the rule's keys, so then a missing rule is fine.
  const rule = config ? (opts.recipients ? matchRule(config, opts.filePath) : ruleForFile(config, opts.filePath)) : undefined;
  const recipients = opts.recipients ?? (rule && config ? singleGroupRecipients(rule, config, opts.filePath) : undefined);
  if (!recipients || recipients.length === 0) {
    throw new SopsConfigError(`${opts.filePath}: no recipients: no .sops.yaml found and none given`, { hint: 'create a .sops.yaml with a creation rule, or pass recipients' });
  }
  // The binary store always encrypts its single `data` value (spec §4.5).
  const rules = format === 'binary' ? DEFAULT_RULES : (opts.rules ?? rule?.rules ?? DEFAULT_RULES);
  return { recipients, rules, indent: { yaml: config?.stores.yamlIndent ?? 4, json: config?.stores.jsonIndent } };
}

/** Encrypt plaintext for a NEW file; returns the encrypted file text. */
export async function encryptText(text: string, opts: EncryptOptions): Promise<string> {
  const file = opts.filePath;
  const format = opts.format ?? formatForPath(file);
  if (text.trim() === '') throw new SopsFormatError(`${file}: cannot encrypt an empty file`, { hint: 'add some content first' });
  const docs = parsePlain(text, format, file);
  for (const doc of docs) {
    if (isMap(doc.contents) && doc.contents.items.some((p) => isScalar(p.key) && p.key.value === 'sops')) {
      throw new SopsFormatError(`${file}: the file already has a top-level "sops" key (already encrypted?)`, { hint: 'decrypt it first, or rename that key' });
    }
    expandAliases(doc);
  }
  const { recipients, rules, indent } = resolve(opts, format);
  const key = randomBytes(32);
  const mac = encryptDocs(docs, { key, rules: new RuleMatcher(rules), stash: new IvStash(), file });
  const age = await Promise.all(recipients.map(async (recipient) => ({ recipient, enc: await wrapKey(key, recipient) })));
  const lastModified = formatRfc3339Seconds((opts.now ?? (() => new Date()))());
  const macEnc = formatEncValue(encryptValue(key, Buffer.from(mac, 'utf8'), lastModified, 'str'));
  const sopsNode = newMetadataNode({ age, lastModified, mac: macEnc, rules });
  attachSops(docs, docs.map(() => ({ pair: new Pair(new Scalar('sops'), sopsNode), index: Infinity })));
  return emitEncrypted(docs, format, indent);
}

/** Encrypt a plaintext file: returns the text, and writes it over the file when `inPlace`. */
export async function encryptFile(file: string, opts: Omit<EncryptOptions, 'filePath'> & { inPlace?: boolean } = {}): Promise<string> {
  const out = await encryptText(await readText(file), { ...opts, filePath: file });
  if (opts.inPlace) await writeFileAtomic(file, out);
  return out;
}

export interface UpdateKeysOptions {
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  identities?: AgeIdentityInput[];
  inputType?: SopsFormat;
}

export interface UpdateKeysResult {
  changed: boolean;
  added: string[];
  removed: string[];
}

/**
 * Re-wrap the same data key for the recipients of the file's creation rule.
 * Values, MAC and lastmodified are untouched; the file is rewritten only on change.
 */
export async function updateKeys(file: string, opts: UpdateKeysOptions = {}): Promise<UpdateKeysResult> {
  const text = await readText(file);
  const format = opts.inputType ?? formatForPath(file);
  const loaded = loadEncrypted(text, format, file);
  const config = configFor(opts);
  if (!config) throw new SopsConfigError(`${file}: no .sops.yaml found`, { hint: 'updatekeys needs a creation rule for the file' });
  const wanted = singleGroupRecipients(ruleForFile(config, path.resolve(file)), config, file);
  const current = loaded.meta.keyGroups.flatMap((g) => g.age.map((e) => e.recipient));
  const hasOther = loaded.meta.keyGroups.length > 1 || loaded.meta.keyGroups.some((g) => g.otherKeys > 0);
  const added = wanted.filter((r) => !current.includes(r));
  const removed = current.filter((r) => !wanted.includes(r));
  if (added.length === 0 && removed.length === 0 && !hasOther) return { changed: false, added, removed };
  const key = await recoverDataKey(loaded.meta, opts.identities ?? collectIdentities({ env: opts.env ?? process.env }), file);
  const age = await Promise.all(wanted.map(async (recipient) => ({ recipient, enc: await wrapKey(key, recipient) })));
  for (const { pair } of loaded.sopsPairs) {
    const m = pair.value;
    if (!isMap(m)) continue;
    for (const k of ['key_groups', 'shamir_threshold', 'pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'hckms']) m.delete(k);
    m.set('age', ageListNode(age));
  }
  attachSops(loaded.docs, loaded.sopsPairs);
  const indent = { yaml: detectYamlIndent(text, config.stores.yamlIndent ?? 4), json: jsonIndentOf(text) };
  await writeFileAtomic(file, emitEncrypted(loaded.docs, format, indent));
  return { changed: true, added, removed };
}
