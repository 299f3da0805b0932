/**
 * The public sidecar's content, derived from what the host file holds: pure
 * (the file store is effects/state-store.ts).
 */
import { findByFingerprint } from './plan.js';
import { SLOTS, type DeployKey, type HostKeysView, type HostState, type KeyRecord, type RepoState } from './types.js';

export function newState(host: string, now: Date): HostState {
  return { version: 1, host, repos: {}, updatedAt: now.toISOString() };
}

/**
 * Rebuilds the per-repo records from what the host file holds, keeping what the
 * old state knew about each key (by fingerprint) and filling gaps from the forge.
 */
export function deriveRepos(
  view: HostKeysView,
  old: HostState | undefined,
  listings: ReadonlyMap<string, readonly DeployKey[]>,
  now: Date,
  titles: (repo: string) => string,
): Record<string, RepoState> {
  const known = new Map<string, KeyRecord>();
  for (const rs of Object.values(old?.repos ?? {})) for (const r of [rs.current, rs.next, rs.previous]) if (r) known.set(r.fingerprint, r);
  const repos: Record<string, RepoState> = {};
  for (const slot of SLOTS) {
    for (const [repo, info] of Object.entries(view[slot])) {
      const prior = known.get(info.fingerprint);
      const onForge = findByFingerprint(listings.get(repo), info.fingerprint);
      const rec: KeyRecord = prior
        ? { ...prior }
        : { fingerprint: info.fingerprint, publicKey: info.publicKey, title: titles(repo), createdAt: onForge?.createdAt ?? now.toISOString() };
      if (onForge) {
        rec.forgeId = onForge.id;
        rec.registeredAt ??= onForge.createdAt ?? now.toISOString();
        delete rec.pending;
        noteRegistrant(rec, onForge);
      }
      if (slot === 'previous') rec.retiredAt ??= now.toISOString();
      else delete rec.retiredAt;
      (repos[repo] ??= {})[slot] = rec;
    }
  }
  return repos;
}

/** Records who added a key when the forge says (only GitHub does); see KeyRecord.registeredByUser. */
export function noteRegistrant(rec: KeyRecord, key: DeployKey): void {
  if (key.addedBy === undefined) return;
  if (key.addedByUser === true && key.addedBy) rec.registeredByUser = key.addedBy;
  else delete rec.registeredByUser;
}
