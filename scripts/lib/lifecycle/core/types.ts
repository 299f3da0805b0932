/**
 * The life cycle's data and the small ports through which the engine reaches
 * the outside world. The real ports live in `../effects/`, the tests use
 * in-memory fakes.
 */
import type { Clock } from '../../clock.js';
import type { DeployKey } from '../../forge/index.js';

/** Where a private key sits in the host file. */
export type Slot = 'current' | 'next' | 'previous';
export const SLOTS: readonly Slot[] = ['current', 'next', 'previous'];

/** Top-level key of the host file for each slot. */
export const SLOT_KEY: Record<Slot, string> = {
  current: 'deploy-keys',
  next: 'deploy-keys-next',
  previous: 'deploy-keys-previous',
};

/** The deploy-key part of a decrypted host file: slot → repo → OpenSSH private key text. */
export type HostKeys = Record<Slot, Record<string, string>>;

export function emptyHostKeys(): HostKeys {
  return { current: {}, next: {}, previous: {} };
}

/** `record` without `key` (a copy: the records here are plain data, not maps). */
export function withoutKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  const { [key]: _dropped, ...rest } = record;
  return rest;
}

/** Public half of a stored key (what the planner needs; never the private key). */
export interface PublicKeyInfo {
  fingerprint: string;
  publicKey: string;
}

/** Public view of a host file's deploy keys. */
export type HostKeysView = Record<Slot, Record<string, PublicKeyInfo>>;

/** A deploy key as the forge lists it: the forge module owns its shape. */
export type { DeployKey };

/** Result of adding a key: the forge's record, or "pending" (manual provider, nobody confirmed). */
export type AddResult = { pending: false; key: DeployKey } | { pending: true };

/** The forge, by repo name (the adapter maps names to RepoConfig). */
export interface ForgePort {
  readonly kind: string;
  /**
   * Token, admin rights, deploy-key policy; throws a clear error before
   * anything is generated. Returns the listings it made on the way (a repo
   * it did not list is absent), so they need not be requested again.
   */
  preflight(repos: readonly string[]): Promise<ReadonlyMap<string, DeployKey[]>>;
  /** All keys of the repo (all pages). */
  list(repo: string): Promise<DeployKey[]>;
  add(repo: string, key: { title: string; publicKey: string; readOnly: true }): Promise<AddResult>;
  /** 404 counts as success. */
  remove(repo: string, id: string): Promise<void>;
}

/** The encrypted host files `sops/<host>.yaml`. */
export interface HostSecretsStore {
  /** Path of the host file (for messages and plans). */
  path(host: string): string;
  exists(host: string): Promise<boolean>;
  /** Decrypts; `undefined` when there is no file. Throws a clear error when the operator cannot decrypt it. */
  load(host: string): Promise<HostKeys | undefined>;
  /**
   * Writes the deploy-key slots into the host file in one atomic write, keeping
   * every other top-level key. A new file is encrypted for the `.sops.yaml` rule
   * matching its path.
   */
  save(host: string, keys: HostKeys): Promise<void>;
  /** Deletes the host file (revoke --purge). */
  purge(host: string): Promise<void>;
  /** The file's age recipients from its public metadata, without decrypting; undefined if no file. */
  recipients(host: string): Promise<string[] | undefined>;
}

/** The public half of a host's ssh host key, and the age recipient sops-nix derives from it (ssh-to-age). */
export interface HostKeyInfo {
  publicKey: string;
  fingerprint: string;
  recipient: string;
}

/**
 * The hosts' ssh host keys made by `vm-fresh --new-host-key`:
 * `<secrets_dir>/host-keys/<host>.yaml`, encrypted for the operators only
 * (their own `.sops.yaml` rule). The engine sees public halves only.
 */
export interface HostKeyStore {
  path(host: string): string;
  /** The stored key's public half (decrypts: operators only); undefined when there is none. */
  load(host: string): Promise<HostKeyInfo | undefined>;
  /**
   * Generates a new ssh-ed25519 host key and stores it in one atomic write.
   * Refuses to replace a stored key unless `replace`.
   */
  create(host: string, replace: boolean): Promise<HostKeyInfo>;
}

/** The operator-only creation rule for host key files. */
export interface HostKeysRule {
  /** `.sops.yaml` has it already. */
  present: boolean;
  /** Whom the host's key file is (or, once the rule is added, would be) encrypted for. */
  recipients: string[];
}

/** `.sops.yaml` and files encrypted through it. */
export interface SopsConfigPort {
  /** Adds (or replaces) the host's recipient in a creation rule for its file; returns false if already there. */
  addHostRecipient(host: string, recipient: string): Promise<boolean>;
  /** Removes the host's recipient everywhere in `.sops.yaml`; returns the removed recipients. */
  removeHostRecipient(host: string, recipient: string | undefined): Promise<string[]>;
  /**
   * Re-encrypts the data key of `file` for the recipients `.sops.yaml` now names
   * for it; with `rotate`, a new data key, every value re-encrypted, in one write.
   */
  updateKeys(file: string, opts?: { rotate?: boolean }): Promise<void>;
  /** Files whose metadata lists `recipient`, with the paths of their encrypted values. */
  filesReadableBy(recipient: string): Promise<ReadableFile[]>;
  /** Whether the operator has an age identity at all (SOPS_AGE_KEY_FILE, …); re-encrypting needs one. */
  hasIdentity(): Promise<boolean>;
  /** The host's recipient as `.sops.yaml` names it (the `&host_<host>` anchor), if any. */
  hostRecipient(host: string): Promise<string | undefined>;
  /** Recipients the current `.sops.yaml` would encrypt `file` for; undefined when no rule matches. */
  expectedRecipients(file: string): Promise<string[] | undefined>;
  /** Every host's recipient as `.sops.yaml` names it (`&host_<host>` anchors), by host. */
  hostRecipients(): Promise<Map<string, string>>;
  /** The operator-only rule for `host`'s key file (see HostKeyStore). */
  hostKeysRule(host: string): Promise<HostKeysRule>;
  /** Adds that rule; false if `.sops.yaml` has it already. */
  addHostKeysRule(host: string): Promise<boolean>;
}

/** Secret values a host could read: a file and the SOPS paths of its encrypted values (never contents). */
export interface ExposedFile {
  /** Relative to the config file's folder (as git names it). */
  file: string;
  /** `["db"]["password"]` */
  values: string[];
}

/** An encrypted file a recipient can open: `file` absolute (to re-encrypt it), `name` as reported. */
export interface ReadableFile {
  file: string;
  name: string;
  values: string[];
}

export interface KeyFactory {
  generate(comment: string): { privateKey: string; publicKey: string; fingerprint: string };
  /** Public half of a stored private key. */
  inspect(privateKey: string, where: string): PublicKeyInfo;
}

export type { Clock };

export interface AuditEntry {
  time: string;
  action: string;
  host: string;
  repo?: string;
  keyId?: string;
  fingerprint?: string;
  actor: string;
  detail?: string;
}

export interface AuditLog {
  /** Appends the entries of one step, in one write (one fsync). */
  append(...entries: Omit<AuditEntry, 'time' | 'actor'>[]): Promise<void>;
}

/** Public per-key record in the sidecar. */
export interface KeyRecord {
  fingerprint: string;
  publicKey: string;
  title: string;
  createdAt: string;
  /** Forge id once registered. */
  forgeId?: string;
  registeredAt?: string;
  /** Added through the manual provider and not confirmed yet. */
  pending?: boolean;
  /** previous slot: when the key was replaced by the current one. */
  retiredAt?: string;
  /**
   * GitHub: the person (login) the forge says added the key, when not an App.
   * Kept so that a key gone later can be blamed on the likely cause: GitHub
   * deletes the keys a personal access or OAuth token created with the token.
   */
  registeredByUser?: string;
}

export interface RepoState {
  current?: KeyRecord;
  next?: KeyRecord;
  previous?: KeyRecord;
}

/**
 * The public sidecar `<secrets_dir>/deploy-keys-state/<host>.json`: everything
 * status and audit need, readable without the age identity.
 */
export interface HostState {
  version: 1;
  host: string;
  /** The host's age recipient, if vm-fresh was given --host-key or --new-host-key. */
  ageRecipient?: string;
  /** The ssh host key vm-fresh --new-host-key made (its private half is in host-keys/<host>.yaml). */
  hostKey?: { publicKey: string; fingerprint: string; createdAt: string };
  /**
   * Age recipients the host had before its host key was replaced. vm-fresh
   * re-keys every file still encrypted for one, and forgets them once none is.
   */
  retiredRecipients?: string[];
  repos: Record<string, RepoState>;
  /** Journal: the command in progress. Set before the first change, cleared when it completes. */
  operation?: { command: string; startedAt: string; pid: number; step?: string };
  /** Set by revoke; cleared when the name is provisioned again by vm-fresh. */
  revoked?: { at: string; purged: boolean };
  /** Every fingerprint this host ever had revoked; audit flags them wherever they show up. */
  revokedFingerprints?: string[];
  /**
   * Every age recipient this host had when it was revoked. Recorded before the
   * first change, so a re-run of an interrupted revoke still finds (and re-keys)
   * the files they can read after `.sops.yaml` no longer names them.
   */
  revokedRecipients?: string[];
  /**
   * The secret values the host could read when it was revoked (paths, no
   * contents), per file. Recorded before the first change, so every re-run
   * still reports them after the files were re-encrypted.
   */
  revokedSecrets?: ExposedFile[];
  updatedAt: string;
}

/** Public sidecar storage. */
export interface StateStore {
  load(host: string): Promise<HostState | undefined>;
  save(state: HostState): Promise<void>;
  /** Hosts with a sidecar. */
  hosts(): Promise<string[]>;
}

/** Named points where `DEPLOY_KEYS_FAULT=after:<step>` stops the process abruptly. */
export type FaultHook = (step: string) => void | Promise<void>;

/** The host's activation script (no secrets; embeds the expected public key per repo). */
export interface ActivationPort {
  path(host: string): string;
  /** Whether the file exists and equals what would be written for these public keys. */
  isCurrent(host: string, publicKeys: Record<string, string>): Promise<boolean>;
  write(host: string, publicKeys: Record<string, string>): Promise<void>;
}

/** Mutual exclusion between commands (lock files next to the state). */
export interface LockPort {
  /** Runs `fn` holding the host's lock; a lock held by another command is an error at once. */
  withHost<T>(host: string, command: string, fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` holding the lock of `.sops.yaml` (shared by all hosts; held only for one small edit, so waited for). */
  withSopsConfig<T>(fn: () => Promise<T>): Promise<T>;
}

export interface KeySummary {
  repo: string;
  slot: Slot;
  fingerprint: string;
  publicKey: string;
  forgeId?: string;
  status: 'registered' | 'pending' | 'stored';
}
