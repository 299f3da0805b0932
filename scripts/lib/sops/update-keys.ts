/**
 * `sops updatekeys`: re-wrap the same data key for the recipients of the file's
 * creation rule; with `rotate`, under a new data key, in the same single write
 * (what `revoke` does, so a removed recipient's copy of the old key opens nothing new).
 */
import path from 'node:path';
import { isMap } from 'yaml';
import { writeFileAtomic } from '../fs/index.js';
import { SopsConfigError, SopsUnsupportedError } from './errors.js';
import { readText } from './files.js';
import { wrapKey } from './keysource/age.js';
import type { AgeIdentityInput } from './keysource/age.js';
import { collectIdentities } from './keysource/identities.js';
import { openSopsFile } from './decrypt.js';
import { ageListNode } from './metadata.js';
import { ageRecipientsOf, loadConfigFor, ruleForFile } from './sops-config.js';
import { attachSops, decryptLoaded, loadEncrypted, recoverDataKey } from './sops-file.js';
import { emitEncrypted, formatForPath } from './stores/index.js';
import type { SopsFormat } from './stores/index.js';
import { detectJsonIndent } from './stores/json.js';
import { detectYamlIndent } from './stores/yaml.js';

export interface UpdateKeysOptions {
  configPath?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  identities?: AgeIdentityInput[];
  inputType?: SopsFormat;
  /** Also draw a new data key and re-encrypt every value under it (as `sops rotate`), written once. */
  rotate?: boolean;
  /** Clock for `lastmodified` with `rotate` (tests). */
  now?: () => Date;
}

export interface UpdateKeysResult {
  /** The file was rewritten (always, with `rotate`). */
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
  const config = loadConfigFor(opts);
  if (!config) throw new SopsConfigError(`${file}: no .sops.yaml found`, { hint: 'updatekeys needs a creation rule for the file' });
  const wanted = ageRecipientsOf(ruleForFile(config, path.resolve(file)), config, file);
  // The rule holds one group of age keys only; re-wrapping would drop the file's other
  // groups (Shamir shares) or pgp/kms/vault keys without anyone being asked.
  const { keyGroups } = loaded.meta;
  const other = keyGroups.reduce((n, g) => n + g.otherKeys, 0);
  if (keyGroups.length > 1 || other > 0) {
    const what = keyGroups.length > 1 ? `${keyGroups.length} key groups (Shamir)` : `${other} pgp/kms/vault key(s)`;
    throw new SopsUnsupportedError(`${file}: the file has ${what}, which updating its keys here would drop`, {
      hint: 'run `sops updatekeys` with the sops CLI, which can re-wrap them',
    });
  }
  const current = keyGroups.flatMap((g) => g.age.map((e) => e.recipient));
  const added = wanted.filter((r) => !current.includes(r));
  const removed = current.filter((r) => !wanted.includes(r));
  const identities = opts.identities ?? collectIdentities({ env: opts.env ?? process.env });
  if (opts.rotate) {
    const editor = await openSopsFile(file, { identities, inputType: format, ...(opts.now ? { now: opts.now } : {}) });
    await editor.rotateDataKey(wanted);
    await editor.save();
    return { changed: true, added, removed };
  }
  if (added.length === 0 && removed.length === 0) return { changed: false, added, removed };
  const key = await recoverDataKey(loaded.meta, identities, file);
  // Prove it is the file's data key (values and MAC check out) before handing it to new recipients.
  decryptLoaded(loadEncrypted(text, format, file), key);
  const age = await Promise.all(wanted.map(async (recipient) => ({ recipient, enc: await wrapKey(key, recipient) })));
  for (const { pair } of loaded.sopsPairs) {
    const m = pair.value;
    if (!isMap(m)) continue;
    for (const k of ['key_groups', 'shamir_threshold', 'pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'hckms']) m.delete(k);
    m.set('age', ageListNode(age));
  }
  attachSops(loaded.docs, loaded.sopsPairs);
  const indent = { yaml: detectYamlIndent(text, config.stores.yamlIndent ?? 4), json: detectJsonIndent(text) };
  await writeFileAtomic(file, emitEncrypted(loaded.docs, format, indent, file));
  return { changed: true, added, removed };
}
