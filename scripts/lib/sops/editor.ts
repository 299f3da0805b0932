/**
 * Editing a decrypted file: get/set/delete on the plaintext documents, then
 * re-encrypt with the same data key and the IV stash, so untouched values keep
 * their exact ciphertext and comments, order and styles are kept (spec §6.3 edit/set).
 */
import { randomBytes } from 'node:crypto';
import { isMap, isScalar, isSeq, Pair, Scalar, YAMLMap } from 'yaml';
import { writeFileAtomic } from '../fs/index.js';
import { UsageError } from '../errors.js';
import { encryptDocs } from './crypt.js';
import { SopsUnsupportedError } from './errors.js';
import { formatRfc3339Seconds } from './go-format.js';
import { wrapKey } from './keysource/age.js';
import { ageListNode } from './metadata.js';
import { RuleMatcher } from './rules.js';
import { attachSops, stampMac } from './sops-file.js';
import type { LoadedFile } from './sops-file.js';
import { formatTreePath, getNode } from './sops-path.js';
import type { TreePath } from './sops-path.js';
import { emitEncrypted } from './stores/index.js';
import { fromPlain, toPlain } from './tree.js';
import type { PlainValue } from './tree.js';
import { IvStash } from './value-cipher.js';

export interface EditorState {
  loaded: LoadedFile;
  key: Uint8Array;
  stash: IvStash;
  indent: { yaml: number; json: number | undefined };
  now: () => Date;
}

export class SopsEditor {
  readonly #s: EditorState;

  constructor(state: EditorState) {
    this.#s = state;
  }

  get file(): string {
    return this.#s.loaded.file;
  }

  /** The plain value at `path` in the first document (undefined when absent). */
  get(path: TreePath): PlainValue | undefined {
    const node = getNode(this.#root(), path);
    return node === undefined ? undefined : toPlain(node);
  }

  has(path: TreePath): boolean {
    return getNode(this.#root(), path) !== undefined;
  }

  /** Set a value, creating intermediate mappings; a replaced scalar keeps its comments. */
  set(path: TreePath, value: PlainValue | Record<string, unknown>): void {
    if (path.length === 0) throw new UsageError('cannot replace the whole document', 'set a key path like ["a"]["b"]');
    if (path[0] === 'sops') throw new UsageError('the "sops" key is reserved for the metadata', 'use another key');
    let cur: unknown = this.#root();
    for (const [i, step] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(cur)) {
        let pair = cur.items.find((p) => isScalar(p.key) && p.key.value === String(step));
        if (!pair) {
          pair = new Pair(new Scalar(String(step)), last ? null : new YAMLMap());
          cur.items.push(pair);
        }
        if (last) pair.value = withComments(pair.value, fromPlain(value));
        else if (pair.value === null || isScalar(pair.value)) pair.value = new YAMLMap();
        cur = pair.value;
      } else if (isSeq(cur) && typeof step === 'number' && step <= cur.items.length) {
        if (last) cur.items[step] = withComments(cur.items[step], fromPlain(value));
        else if (step === cur.items.length) cur.items.push(new YAMLMap());
        cur = cur.items[step];
      } else {
        throw new UsageError(`cannot set ${formatTreePath(path)} in ${this.file}: ${formatTreePath(path.slice(0, i))} is not a mapping`, 'check the path');
      }
    }
  }

  /** Remove the value at `path`; false when there was none. */
  delete(path: TreePath): boolean {
    const parent = getNode(this.#root(), path.slice(0, -1));
    const step = path[path.length - 1];
    if (step === undefined) return false;
    if (isMap(parent)) return parent.delete(String(step));
    if (isSeq(parent) && typeof step === 'number' && step < parent.items.length) {
      parent.items.splice(step, 1);
      return true;
    }
    return false;
  }

  /** The whole decrypted tree (first document). */
  tree(): PlainValue {
    return toPlain(this.#root());
  }

  /** The age recipients the data key is wrapped for. */
  recipients(): string[] {
    return this.#s.loaded.meta.keyGroups.flatMap((g) => g.age.map((e) => e.recipient));
  }

  /**
   * `sops rotate`: a new data key, wrapped for `recipients` (default: the file's
   * own); on save every value and comment is encrypted under it with fresh IVs,
   * so a copy of the old data key opens nothing written from now on.
   */
  async rotateDataKey(recipients: readonly string[] = this.recipients()): Promise<void> {
    const { loaded } = this.#s;
    const groups = loaded.meta.keyGroups;
    if (groups.length > 1 || groups.some((g) => g.otherKeys > 0)) {
      throw new SopsUnsupportedError(`${loaded.file}: the file has ${groups.length > 1 ? 'several key groups (Shamir)' : 'pgp/kms/vault keys'}, which rotating here would drop`, {
        hint: 'run `sops rotate` with the sops CLI',
      });
    }
    const key = randomBytes(32);
    const age = await Promise.all(recipients.map(async (recipient) => ({ recipient, enc: await wrapKey(key, recipient) })));
    for (const { pair } of loaded.sopsPairs) {
      const meta = pair.value;
      if (!isMap(meta)) continue;
      meta.delete('key_groups');
      if (meta.has('age')) meta.set('age', ageListNode(age));
      else meta.items.unshift(new Pair(new Scalar('age'), ageListNode(age))); // sops' alphabetical layout
    }
    this.#s.key = key;
    this.#s.stash = new IvStash();
    loaded.meta = { ...loaded.meta, keyGroups: [{ age, otherKeys: 0 }] };
  }

  /** The file re-encrypted with the same data key, a new lastmodified and MAC. */
  toString(): Promise<string> {
    // A Promise for the callers' sake (an edit may need I/O one day); a throw becomes a rejection.
    return new Promise((resolve) => {
      resolve(this.#encrypted());
    });
  }

  #encrypted(): string {
    const { loaded, key, stash, indent, now } = this.#s;
    const docs = loaded.docs.map((d) => d.clone());
    const mac = encryptDocs(docs, { key, rules: new RuleMatcher(loaded.meta.rules), stash, file: loaded.file });
    const pairs = loaded.sopsPairs.map(({ pair, index }) => ({ pair: pair.clone(), index }));
    const lastModified = formatRfc3339Seconds(now());
    for (const { pair } of pairs) if (isMap(pair.value)) stampMac(pair.value, key, mac, lastModified);
    attachSops(docs, pairs);
    return emitEncrypted(docs, loaded.format, indent, loaded.file);
  }

  /** Write the file atomically, keeping its mode. */
  async save(): Promise<void> {
    await this.write(await this.toString());
  }

  /** Write `text` (from toString()) over the file, atomically, keeping its mode. */
  async write(text: string): Promise<void> {
    await writeFileAtomic(this.file, text);
  }

  #root(): unknown {
    return this.#s.loaded.docs[0]?.contents;
  }
}

function withComments(old: unknown, next: ReturnType<typeof fromPlain>): ReturnType<typeof fromPlain> {
  if (isScalar(old) && isScalar(next)) {
    next.commentBefore = old.commentBefore ?? null;
    next.comment = old.comment ?? null;
    next.spaceBefore = old.spaceBefore ?? false;
  }
  return next;
}
