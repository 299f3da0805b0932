/** Key parsing and add-request checks shared by the providers; the keys module is the single source of truth. */
import { createHash } from 'node:crypto';
import type { RepoConfig } from '../config/index.js';
import { DeployKeysError } from '../errors.js';
import { escapeControls } from '../controls.js';
import { commentProblem, parsePublicKey } from '../keys/index.js';
import { ForgeFailure, InvalidKey, NotReadOnly, type ForgeErrorContext } from './errors.js';
import type { AddKeyRequest, DeployKey, ForgeProvider } from './types.js';

export interface ParsedKey {
  /** `type base64`, no comment: what forges store and compare. */
  key: string;
  fingerprint: string;
}

/** Parses a public key line (throws DeployKeysError on garbage, without quoting it). */
export function parseKey(line: string, where = 'public key'): ParsedKey {
  const k = parsePublicKey(line, where);
  return { key: k.key, fingerprint: k.fingerprint };
}

/** The fingerprint of a key the forge returned, or undefined if it does not parse. */
function fingerprintOrUndefined(line: string): string | undefined {
  try {
    return parsePublicKey(line).fingerprint;
  } catch {
    return undefined;
  }
}

/**
 * `SHA256:…` of the key blob in a `type base64 [comment]` line, computed
 * locally. Falls back to hashing the decoded second field when the key type is
 * one the keys module does not parse (e.g. an old ssh-dss key on a forge), so
 * every listed key has a fingerprint; returns `SHA256:?` for garbage.
 */
function blobFingerprint(line: string): string {
  const fp = fingerprintOrUndefined(line);
  if (fp) return fp;
  const b64 = line.trim().split(/\s+/)[1] ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return 'SHA256:?';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** A forge's boolean taken at its word only when it is exactly `true` (replies are untrusted). */
export function isTrue(v: unknown): v is true {
  return v === true;
}

/** Text from a forge, made safe for a terminal: control characters escaped, at most 255 characters. */
export function forgeText(text: string): string {
  return escapeControls(text.length > 255 ? `${text.slice(0, 255)}…` : text);
}

// ISO 8601, as the forges write times: a date-time, or a date (GitLab's expires_at).
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?))?$/;

/** A time from a forge, kept only when it is an ISO 8601 time: it goes into date arithmetic, state files and reports. */
export function forgeTime(value: unknown): string | undefined {
  return typeof value === 'string' && ISO_TIME.test(value) && Number.isFinite(Date.parse(value)) ? value : undefined;
}

/** A forge's times for a key, as it sent them (null: never used, never expires). */
export interface ForgeTimes {
  createdAt?: unknown;
  lastUsed?: unknown;
  expiresAt?: unknown;
}

/**
 * The fields every provider's listing has. The key line is reduced to
 * `type base64`; the forge's strings go through forgeText(), its times through
 * forgeTime() (one that is not a time is left out, as if the forge did not tell).
 */
export function registeredKey(repo: RepoConfig, id: number | string, title: string, keyLine: string, readOnly: boolean, times: ForgeTimes = {}): DeployKey {
  const key: DeployKey = {
    status: 'registered',
    id: forgeText(String(id)),
    repo: repo.name,
    title: forgeText(title),
    publicKey: forgeText(keyLine.trim().split(/\s+/).slice(0, 2).join(' ')),
    fingerprint: blobFingerprint(keyLine),
    readOnly,
  };
  const nullable = (v: unknown) => (v === null ? null : forgeTime(v));
  const createdAt = forgeTime(times.createdAt);
  const lastUsed = nullable(times.lastUsed);
  const expiresAt = nullable(times.expiresAt);
  if (createdAt !== undefined) key.createdAt = createdAt;
  if (lastUsed !== undefined) key.lastUsed = lastUsed;
  if (expiresAt !== undefined) key.expiresAt = expiresAt;
  return key;
}

/**
 * The checks every provider makes before registering a key: read-only only,
 * a parsable public key, a one-line title. Returns the parsed key and the
 * error context extended with its fingerprint.
 */
export function checkAddRequest(
  baseCtx: ForgeErrorContext,
  // `boolean`, not `true`: the guard below must also hold for callers that get around the types.
  req: Omit<AddKeyRequest, 'readOnly'> & { readOnly: boolean },
): { parsed: ParsedKey; ctx: ForgeErrorContext & { fingerprint: string } } {
  if (!req.readOnly) {
    throw new ForgeFailure(baseCtx, 'refusing to register a deploy key with write access', 'nix-deploy-keys only registers read-only keys');
  }
  let parsed: ParsedKey;
  try {
    parsed = parseKey(req.publicKey);
  } catch (e) {
    throw new InvalidKey(baseCtx, e instanceof DeployKeysError ? e.message : 'unparsable public key', e);
  }
  const ctx = { ...baseCtx, fingerprint: parsed.fingerprint };
  const problem = commentProblem(req.title);
  if (problem) throw new ForgeFailure(ctx, `title ${problem}`, 'use a title like "web-01-nix-config-deploy"');
  return { parsed, ctx };
}

/**
 * A key the forge holds with write access is deleted (best effort) and
 * reported: registering read-only is the whole point.
 */
export async function ensureReadOnly(
  forge: Pick<ForgeProvider, 'remove'>,
  repo: RepoConfig,
  key: DeployKey,
  ctx: ForgeErrorContext,
): Promise<DeployKey> {
  if (key.readOnly) return key;
  const deleted = await forge.remove(repo, key.id).then(() => true, () => false);
  throw new NotReadOnly(ctx, deleted);
}
