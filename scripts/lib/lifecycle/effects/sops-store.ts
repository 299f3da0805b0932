/**
 * HostSecretsStore and SopsConfigPort over the native SOPS codec
 * (scripts/lib/sops). The age identity comes from the environment
 * (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, …), never from argv.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../../config/index.js';
import { hostFilePath } from '../../config/index.js';
import { DeployKeysError } from '../../errors.js';
import { ensureDir, writeFileAtomic } from '../../fs/index.js';
import type { OperatorRuleOptions, PublicInfo, SopsConfig, SopsEditor } from '../../sops/index.js';
import { SLOT_KEY, SLOTS, emptyHostKeys, type HostKeys, type HostKeysRule, type HostSecretsStore, type ReadableFile, type SopsConfigPort } from '../core/types.js';
import { hostKeyFilePath, hostKeysDir } from './host-keys.js';
import { STATE_DIR } from './state-store.js';

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The same without escaping `/` (RE2 needs no escape there): the form the README documents for the host keys' rule. */
const escapeRegexKeepSlash = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Above the host keys' rule in .sops.yaml: why it lists fewer recipients than its neighbours. */
const HOST_KEYS_RULE_COMMENT = [
  "The hosts' ssh host keys (deploy-keys vm-fresh --new-host-key): for the operators only.",
  'A host key is also that host\'s age identity: never add a host or an automation (CI) key here.',
].join('\n');

type Sops = typeof import('../../sops/index.js');
let sopsModule: Promise<Sops> | undefined;
function loadSops(): Promise<Sops> {
  sopsModule ??= import('../../sops/index.js');
  return sopsModule;
}

/** The public metadata of an encrypted file's text; empty when it is not one (not SOPS, damaged, over an input limit). */
function publicInfoOfText(sops: Sops, text: string, file: string): PublicInfo {
  try {
    return sops.publicInfo(text, file);
  } catch {
    return { recipients: [], keys: [] };
  }
}

/** publicInfoOfText() of a file; undefined when it cannot be read. */
async function publicInfoOf(file: string): Promise<PublicInfo | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : publicInfoOfText(await loadSops(), text, file);
}

function plainString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export class SopsHostSecrets implements HostSecretsStore {
  /** Hosts whose file did not exist at load(): save() creates it, and refuses if it appeared meanwhile. */
  readonly #absent = new Set<string>();
  constructor(readonly config: Config, readonly env: NodeJS.ProcessEnv) {}

  path(host: string): string {
    return hostFilePath(this.config, host);
  }

  async exists(host: string): Promise<boolean> {
    try {
      await fs.access(this.path(host));
      return true;
    } catch {
      return false;
    }
  }

  async load(host: string): Promise<HostKeys | undefined> {
    const file = this.path(host);
    if (!(await this.exists(host))) {
      this.#absent.add(host);
      return undefined;
    }
    this.#absent.delete(host);
    const editor = await this.#open(file);
    const keys = emptyHostKeys();
    for (const slot of SLOTS) {
      const v = editor.get([SLOT_KEY[slot]]);
      if (v === undefined || v === null) continue;
      if (!(v instanceof Map)) {
        throw new DeployKeysError(`${file}: "${SLOT_KEY[slot]}" must be a mapping of repo name to private key`, { hint: 'fix the file with "deploy-keys sops edit"' });
      }
      for (const [repo, text] of v) {
        const s = plainString(text);
        if (s === undefined) throw new DeployKeysError(`${file}: ${SLOT_KEY[slot]}.${repo} is not a string`);
        keys[slot][repo] = s;
      }
    }
    return keys;
  }

  async #open(file: string): Promise<SopsEditor> {
    const sops = await loadSops();
    try {
      return await sops.openSopsFile(file, { env: this.env });
    } catch (e) {
      if (e instanceof DeployKeysError) throw e;
      // Identity problems arrive as DeployKeysErrors with their own hint; this is something else.
      throw new DeployKeysError(`${file}: cannot decrypt: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, {
        hint: 'check the file with `deploy-keys sops decrypt`',
      });
    }
  }

  async save(host: string, keys: HostKeys): Promise<void> {
    const file = this.path(host);
    const sops = await loadSops();
    const exists = await this.exists(host);
    if (exists && this.#absent.has(host)) {
      // Someone created the file since load(): never overwrite it blindly.
      throw new DeployKeysError(`${file} appeared while the command ran`, { hint: 're-run the command' });
    }
    if (!exists) {
      const plain: Record<string, Record<string, string>> = {};
      for (const slot of SLOTS) if (Object.keys(keys[slot]).length) plain[SLOT_KEY[slot]] = { ...keys[slot] };
      const text = stringify(Object.keys(plain).length ? plain : { [SLOT_KEY.current]: {} });
      await ensureDir(path.dirname(file));
      const enc = await sops.encryptText(text, { filePath: file, cwd: path.dirname(file), env: this.env });
      await writeFileAtomic(file, enc, { mode: 0o600 });
      this.#absent.delete(host);
      return;
    }
    // Re-opened for every write: an updatekeys earlier in the run changed the metadata.
    const editor = await this.#open(file);
    for (const slot of SLOTS) {
      const top = SLOT_KEY[slot];
      const want = keys[slot];
      const have = editor.get([top]);
      const haveMap = have instanceof Map ? have : new Map();
      if (Object.keys(want).length === 0) {
        if (editor.has([top])) editor.delete([top]);
        continue;
      }
      if (!(have instanceof Map)) editor.set([top], {});
      for (const repo of haveMap.keys()) if (!(String(repo) in want)) editor.delete([top, String(repo)]);
      for (const [repo, text] of Object.entries(want)) if (haveMap.get(repo) !== text) editor.set([top, repo], text);
    }
    await editor.save();
  }

  async purge(host: string): Promise<void> {
    await fs.rm(this.path(host), { force: true });
  }

  async recipients(host: string): Promise<string[] | undefined> {
    return (await publicInfoOf(this.path(host)))?.recipients;
  }
}

/** `.sops.yaml` operations. The .sops.yaml is found from the secrets dir upward (or SOPS_CONFIG). */
export class SopsConfigAdapter implements SopsConfigPort {
  constructor(readonly config: Config, readonly env: NodeJS.ProcessEnv) {}

  /** The `.sops.yaml` in effect for the secrets dir, else a new one beside the config file. */
  async configPath(): Promise<string> {
    const sops = await loadSops();
    return sops.findConfigFile(this.config.secretsDir, this.env) ?? path.join(this.config.root, '.sops.yaml');
  }

  /** `file` relative to the .sops.yaml folder, as rules match it. */
  #relative(configPath: string, file: string): string {
    return path.relative(path.dirname(configPath), file).split(path.sep).join('/');
  }

  /** path_regex of the host's own rule: its file relative to the .sops.yaml folder. */
  #hostRule(configPath: string, host: string): { pathRegex: string; filePath: string } {
    const rel = this.#relative(configPath, hostFilePath(this.config, host));
    return { pathRegex: `^${escapeRegex(rel)}$`, filePath: rel };
  }

  /** The operator-only rule for every host key file (one rule for the folder). */
  #hostKeysRule(configPath: string, host: string): OperatorRuleOptions {
    const dir = this.#relative(configPath, hostKeysDir(this.config));
    // No rule for that folder yet: the operators are whom the host's file is for, minus the hosts.
    const operatorsFrom = this.#relative(configPath, hostFilePath(this.config, host));
    return { pathRegex: `^${escapeRegexKeepSlash(dir)}/[^/]+\\.yaml$`, filePath: `${dir}/${host}.yaml`, operatorsFrom, comment: HOST_KEYS_RULE_COMMENT };
  }

  async #configText(configPath: string): Promise<string | undefined> {
    return fs.readFile(configPath, 'utf8').catch(() => undefined);
  }

  async hostRecipients(): Promise<Map<string, string>> {
    const configPath = await this.configPath();
    const text = await this.#configText(configPath);
    if (text === undefined) return new Map();
    const { hostRecipients } = await import('../../sops/index.js');
    return hostRecipients(text, configPath);
  }

  async hostRecipient(host: string): Promise<string | undefined> {
    return (await this.hostRecipients()).get(host);
  }

  async hostKeysRule(host: string): Promise<HostKeysRule> {
    const sops = await loadSops();
    const configPath = await this.configPath();
    const before = (await this.#configText(configPath)) ?? '';
    const opts = this.#hostKeysRule(configPath, host);
    const after = sops.addOperatorRule(before, opts, configPath);
    const rule = sops.matchRule(sops.parseConfig(after, configPath), hostKeyFilePath(this.config, host));
    return { present: after === before, recipients: rule ? rule.keyGroups.flatMap((g) => g.age) : [] };
  }

  async addHostKeysRule(host: string): Promise<boolean> {
    const sops = await loadSops();
    const configPath = await this.configPath();
    this.#invalidate();
    return sops.addOperatorRuleToFile(configPath, this.#hostKeysRule(configPath, host));
  }

  async addHostRecipient(host: string, recipient: string): Promise<boolean> {
    const sops = await loadSops();
    const configPath = await this.configPath();
    this.#invalidate();
    return sops.addHostRecipientToFile(configPath, { host, recipient, ...this.#hostRule(configPath, host) });
  }

  async removeHostRecipient(host: string, recipient: string | undefined): Promise<string[]> {
    const sops = await loadSops();
    const configPath = await this.configPath();
    this.#invalidate();
    const changed = await sops.removeHostRecipientFromFile(configPath, host, {
      pathRegex: this.#hostRule(configPath, host).pathRegex,
      ...(recipient ? { recipients: [recipient] } : {}),
    });
    return changed ? [recipient ?? host] : [];
  }

  readonly #configs = new Map<string, SopsConfig | undefined>();

  async expectedRecipients(file: string): Promise<string[] | undefined> {
    const sops = await loadSops();
    const dir = path.dirname(file);
    if (!this.#configs.has(dir)) {
      const p = sops.findConfigFile(dir, this.env);
      this.#configs.set(dir, p ? sops.loadConfig(p) : undefined);
    }
    const config = this.#configs.get(dir);
    if (!config) return undefined;
    const rule = sops.matchRule(config, file);
    return rule ? rule.keyGroups.flatMap((g) => g.age) : undefined;
  }

  /** Forget cached .sops.yaml contents (after this run changed it). */
  #invalidate(): void {
    this.#configs.clear();
  }

  async updateKeys(file: string, opts: { rotate?: boolean } = {}): Promise<void> {
    const sops = await loadSops();
    await sops.updateKeys(file, { cwd: path.dirname(file), env: this.env, rotate: opts.rotate ?? false });
  }

  async hasIdentity(): Promise<boolean> {
    const sops = await loadSops();
    return sops.collectIdentities({ env: this.env }).length > 0;
  }

  /** Encrypted files under the secrets dir (recursively, state dir excluded) that list `recipient`. */
  async filesReadableBy(recipient: string): Promise<ReadableFile[]> {
    const sops = await loadSops();
    const out: ReadableFile[] = [];
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (depth < 4 && !e.name.startsWith('.') && e.name !== STATE_DIR) await walk(p, depth + 1);
        } else if (/\.(ya?ml|json)$/.test(e.name) && !e.name.startsWith('.')) {
          const text = await fs.readFile(p, 'utf8').catch(() => undefined);
          if (text !== undefined && publicInfoOfText(sops, text, p).recipients.includes(recipient)) {
            out.push({ file: p, name: path.relative(this.config.root, p).split(path.sep).join('/'), values: sops.encryptedValuePaths(text, p) });
          }
        }
      }
    };
    await walk(this.config.secretsDir, 0);
    return out;
  }
}
