/**
 * One interface over the places a deploy key can be registered: GitHub,
 * Gitea/Forgejo, a plain-SSH git server's authorized_keys, or a human
 * (manual checklist).
 *
 * A registration is identified by (repo, SHA256 fingerprint), never by title:
 * the title (`<host>-<repo>-deploy`) is for people. Fingerprints are always
 * computed locally from the public key, never taken from the forge.
 */
import type { ForgeType, RepoConfig } from '../config/index.js';
import type { ForgeError } from './errors.js';

export { systemClock, type Clock } from '../clock.js';

/** A key registered on the forge. */
export interface DeployKey {
  status: 'registered';
  /** Forge id; numeric ids are stringified. Stable across list() calls. */
  id: string;
  /** Config name of the repo (RepoConfig.name). */
  repo: string;
  title: string;
  /** `type base64` without comment, as the forge returned it. */
  publicKey: string;
  /** `SHA256:…`, computed locally from `publicKey`. */
  fingerprint: string;
  readOnly: boolean;
  /** false when an org/enterprise policy disabled deploy keys (GitHub). */
  enabled?: boolean;
  createdAt?: string;
  /** When the forge stops accepting the key (GitLab `expires_at`); null = never. */
  expiresAt?: string | null;
  /** ISO time of last use; null = never used; undefined = forge does not tell. */
  lastUsed?: string | null;
  /** Login of whoever added it (GitHub). */
  addedBy?: string | null;
  /**
   * GitHub: `addedBy` is a person, not an App. Such a key may have been created
   * with that person's personal access token or OAuth token, and GitHub deletes
   * it when that token is deleted or revoked.
   */
  addedByUser?: boolean;
  verified?: boolean;
}

/** A key a human still has to register (manual provider, non-interactive). */
export interface PendingKey {
  status: 'pending';
  repo: string;
  title: string;
  publicKey: string;
  fingerprint: string;
  /** Where to add it, e.g. https://github.com/acme/app/settings/keys/new */
  settingsUrl: string;
  /** A person pressed Enter to say it was added (TTY). Still unverified until a status run with a token. */
  userConfirmed: boolean;
}

export interface AddKeyRequest {
  /** For people: `<host>-<repo>-deploy`. Single line. */
  title: string;
  /** OpenSSH public key line; a trailing comment is dropped before sending. */
  publicKey: string;
  /** Always true: nix-deploy-keys never registers a key with write access. */
  readOnly: true;
  /** Host the key belongs to, for messages only. */
  host?: string;
}

/** Context for messages of remove(). */
export interface KeyContext {
  host?: string;
  fingerprint?: string;
}

export interface RepoPreflight {
  repo: string;
  ok: boolean;
  /** The deploy keys registered now (when listing worked), so a caller need not list the repo again. */
  keys?: DeployKey[];
  /** Keys the forge reports as disabled by policy. */
  disabledKeys?: number;
  error?: ForgeError;
}

export interface PreflightReport {
  kind: ForgeType;
  ok: boolean;
  /** Token or account problems that stop everything (e.g. 401). */
  error?: ForgeError;
  /** Things the operator should know but that do not stop the run. */
  warnings: string[];
  repos: RepoPreflight[];
  /** What was verified. */
  checked: string[];
  /** What cannot be verified without creating a key. */
  notChecked: string[];
  /** Primary rate-limit budget, when the forge tells. */
  rateLimit?: { limit: number; remaining: number; resetAt: string };
}

export interface ForgeProvider {
  readonly kind: ForgeType;
  /** Checks the credential and every repo before any key is generated. Never throws for repo problems: see the report. */
  preflight(repos: RepoConfig[]): Promise<PreflightReport>;
  /** All keys of the repo (every page). */
  list(repo: RepoConfig): Promise<DeployKey[]>;
  /**
   * Registers a read-only key. Idempotent by fingerprint: when the repo
   * already holds this key (e.g. a reply was lost), that registration is
   * returned. Throws a ForgeError subclass.
   */
  add(repo: RepoConfig, req: AddKeyRequest): Promise<DeployKey | PendingKey>;
  /** Removes a registration; an id that is already gone succeeds. */
  remove(repo: RepoConfig, id: string, ctx?: KeyContext): Promise<void>;
}

/** Streams for the manual provider and warnings. */
export interface ForgeIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
}

