/**
 * Decrypting (MAC verified) and opening for editing.
 *
 * Typing choice (spec §7.1): YAML is read with the core schema, so unquoted
 * timestamps are strings and are written as `type:str` (consistent within the file;
 * sops reads them back as strings). Values of `type:time` written by sops 3.10+ are
 * read as their RFC 3339 text and keep `type:time` when re-encrypted unchanged.
 */
import { Document, isCollection, isScalar } from 'yaml';
import { SopsEditor } from './editor.js';
import { SopsFormatError, SopsUnsupportedError } from './errors.js';
import { readText } from './files.js';
import { scalarText } from './go-format.js';
import type { AgeIdentityInput } from './keysource/age.js';
import { collectIdentities } from './keysource/identities.js';
import { decryptLoaded, loadEncrypted, recoverDataKey } from './sops-file.js';
import { formatTreePath, getNode, getPlain } from './sops-path.js';
import type { TreePath } from './sops-path.js';
import { docToBinary } from './stores/binary.js';
import { formatForPath, onlyDoc } from './stores/index.js';
import type { SopsFormat } from './stores/index.js';
import { detectJsonIndent, emitJson } from './stores/json.js';
import { detectYamlIndent, emitYaml } from './stores/yaml.js';
import { toPlain } from './tree.js';
import { IvStash } from './value-cipher.js';
import type { PlainValue, SopsDoc } from './tree.js';

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

function identitiesOf(opts: DecryptOptions): AgeIdentityInput[] {
  return opts.identities ?? collectIdentities({ env: opts.env ?? process.env });
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
  // Plain trees only when asked for: printing the file needs none.
  let plain: { documents: PlainValue[]; tree: PlainValue } | undefined;
  const trees = (): { documents: PlainValue[]; tree: PlainValue } => {
    if (!plain) {
      const documents = docs.map((d) => toPlain(d.contents));
      plain = { documents, tree: documents[0] ?? new Map() };
    }
    return plain;
  };
  return {
    format,
    get tree() {
      return trees().tree;
    },
    get documents() {
      return trees().documents;
    },
    toYaml: () => emitYaml(docs, format === 'yaml' ? detectYamlIndent(text, 4) : 4),
    toJson: () => {
      if (docs.length > 1) throw new SopsUnsupportedError(`${file}: a multi-document file cannot be written as JSON`, { hint: 'output YAML instead' });
      return emitJson(onlyDoc(docs), format === 'yaml' ? undefined : detectJsonIndent(text));
    },
    toText: () => docToBinary(onlyDoc(docs), file),
    extract: (p) => {
      const v = getPlain(trees().tree, p);
      if (v === undefined) throw noValueAt(file, p);
      return v;
    },
    extractText: (p, outputType = format === 'json' ? 'json' : 'yaml') => {
      const node = getNode(docs[0]?.contents, p);
      if (node === undefined) throw noValueAt(file, p);
      if (!isCollection(node)) {
        return scalarText(isScalar(node) ? node.value : node);
      }
      const sub = new Document();
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
  const stash = new IvStash();
  decryptLoaded(loaded, key, opts.ignoreMac, stash);
  return new SopsEditor({
    loaded,
    key,
    stash,
    indent: { yaml: detectYamlIndent(text, 4), json: detectJsonIndent(text) },
    now: opts.now ?? (() => new Date()),
  });
}
