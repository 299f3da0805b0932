/** Encrypting new files: keys and rules from the arguments or the matching `.sops.yaml` rule. */
import { randomBytes } from 'node:crypto';
import { Document, isMap, isScalar, Pair, Scalar } from 'yaml';
import { writeFileAtomic } from '../fs/index.js';
import { encryptDocs } from './crypt.js';
import { SopsConfigError, SopsFormatError } from './errors.js';
import { readText } from './files.js';
import { formatRfc3339Seconds } from './go-format.js';
import { wrapKey } from './keysource/age.js';
import { newMetadataNode } from './metadata.js';
import { DEFAULT_RULES, RuleMatcher } from './rules.js';
import type { EncryptionRules } from './rules.js';
import { ageRecipientsOf, loadConfigFor, matchRule, ruleForFile } from './sops-config.js';
import { attachSops } from './sops-file.js';
import { emitEncrypted, formatForPath, parsePlain } from './stores/index.js';
import type { SopsFormat } from './stores/index.js';
import { expandAliases, fromPlain } from './tree.js';
import type { PlainMap, SopsDoc } from './tree.js';
import { encryptValue, formatEncValue, IvStash } from './value-cipher.js';

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

function resolve(opts: EncryptOptions, format: SopsFormat): Resolved {
  const config = opts.recipients && opts.rules ? undefined : loadConfigFor(opts);
  // Explicit recipients replace the rule's keys, so then a missing rule is fine.
  const rule = config ? (opts.recipients !== undefined ? matchRule(config, opts.filePath) : ruleForFile(config, opts.filePath)) : undefined;
  const given = opts.recipients?.map((r) => r.trim()).filter((r) => r !== '');
  const recipients = given ? [...new Set(given)] : rule && config ? ageRecipientsOf(rule, config, opts.filePath) : undefined;
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
  return encryptDocuments(parsePlain(text, format, file), format, opts);
}

/**
 * Encrypt a plain tree (a `Map` keeps integer-like keys in order) for a NEW YAML or
 * JSON file; multi-line strings become `|` literal blocks.
 */
export async function encryptTree(tree: PlainMap | Record<string, unknown>, opts: EncryptOptions): Promise<string> {
  const format = opts.format ?? formatForPath(opts.filePath);
  if (format === 'binary') throw new SopsFormatError(`${opts.filePath}: a tree cannot be written to a binary-store file`, { hint: 'use a .yaml or .json file name' });
  const doc = new Document();
  doc.contents = fromPlain(tree);
  return encryptDocuments([doc], format, opts);
}

async function encryptDocuments(docs: SopsDoc[], format: SopsFormat, opts: EncryptOptions): Promise<string> {
  const file = opts.filePath;
  for (const doc of docs) {
    if (isMap(doc.contents) && doc.contents.items.some((p) => isScalar(p.key) && p.key.value === 'sops')) {
      throw new SopsFormatError(`${file}: the file already has a top-level "sops" key (already encrypted?)`, { hint: 'decrypt it first, or rename that key' });
    }
    expandAliases(doc, file);
  }
  const { recipients, rules, indent } = resolve(opts, format);
  const key = randomBytes(32);
  const mac = encryptDocs(docs, { key, rules: new RuleMatcher(rules), stash: new IvStash(), file });
  const age = await Promise.all(recipients.map(async (recipient) => ({ recipient, enc: await wrapKey(key, recipient) })));
  const lastModified = formatRfc3339Seconds((opts.now ?? (() => new Date()))());
  const macEnc = formatEncValue(encryptValue(key, Buffer.from(mac, 'utf8'), lastModified, 'str'));
  const sopsNode = newMetadataNode({ age, lastModified, mac: macEnc, rules });
  attachSops(docs, docs.map(() => ({ pair: new Pair(new Scalar('sops'), sopsNode), index: Infinity })));
  return emitEncrypted(docs, format, indent, file);
}

/** Encrypt a plaintext file: returns the text, and writes it over the file when `inPlace`. */
export async function encryptFile(file: string, opts: Omit<EncryptOptions, 'filePath'> & { inPlace?: boolean } = {}): Promise<string> {
  const out = await encryptText(await readText(file), { ...opts, filePath: file });
  if (opts.inPlace) await writeFileAtomic(file, out);
  return out;
}
