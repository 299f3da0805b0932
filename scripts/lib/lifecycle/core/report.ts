/**
 * status and audit: pure functions over public data only (sidecars, forge
 * listings, host-file recipients from metadata, .sops.yaml) — no age identity.
 */
import { deployKeyTitle } from '../../names.js';
import type { DeployKey, HostState, KeyRecord, Slot } from './types.js';

const DAY = 86_400_000;

/** Fingerprint lookups over big listings (1,000s of keys per repo): indexed once per listing. */
const indexes = new WeakMap<readonly DeployKey[], Map<string, DeployKey>>();
function findByFingerprint(list: readonly DeployKey[] | undefined, fp: string): DeployKey | undefined {
  if (!list) return undefined;
  let m = indexes.get(list);
  if (m?.size !== list.length) {
    m = new Map(list.map((k) => [k.fingerprint, k]));
    indexes.set(list, m);
  }
  return m.get(fp);
}

export type RotationState = 'none' | 'in-progress' | 'awaiting-finish' | 'due';

export interface StatusRow {
  host: string;
  repo: string;
  slot: Slot;
  fingerprint: string;
  createdAt: string;
  ageDays: number;
  forgeId: string | null;
  /** registered = on the forge now; pending = manual, unconfirmed; missing = recorded but gone from the forge; stored = never registered. */
  registration: 'registered' | 'pending' | 'missing' | 'stored';
  readOnly: boolean | null;
  enabled: boolean | null;
  lastUsed: string | null;
  rotation: RotationState;
}

export interface HostStatus {
  host: string;
  revoked: boolean;
  /** A command was interrupted; re-run it. */
  interrupted: string | null;
  rows: StatusRow[];
}

export function hostStatus(
  state: HostState,
  repos: readonly string[],
  listings: ReadonlyMap<string, readonly DeployKey[]>,
  now: Date,
  maxAgeDays: number,
): HostStatus {
  const rows: StatusRow[] = [];
  for (const repo of repos) {
    const rs = state.repos[repo];
    if (!rs) continue;
    const rotation: RotationState =
      rs.next ? 'in-progress'
      : rs.previous ? 'awaiting-finish'
      : rs.current && now.getTime() - Date.parse(rs.current.createdAt) >= maxAgeDays * DAY ? 'due'
      : 'none';
    for (const slot of ['current', 'next', 'previous'] as const) {
      const r = rs[slot];
      if (!r) continue;
      const onForge = findByFingerprint(listings.get(repo), r.fingerprint);
      rows.push({
        host: state.host,
        repo,
        slot,
        fingerprint: r.fingerprint,
        createdAt: r.createdAt,
        ageDays: Math.floor((now.getTime() - Date.parse(r.createdAt)) / DAY),
        forgeId: onForge?.id ?? r.forgeId ?? null,
        registration: onForge ? 'registered' : r.pending ? 'pending' : r.forgeId ? 'missing' : 'stored',
        readOnly: onForge ? onForge.readOnly : null,
        enabled: onForge ? (onForge.enabled ?? true) : null,
        lastUsed: onForge?.lastUsed ?? null,
        rotation,
      });
    }
  }
  return {
    host: state.host,
    revoked: Boolean(state.revoked),
    interrupted: state.operation ? `${state.operation.command} (started ${state.operation.startedAt}${state.operation.step ? `, last step ${state.operation.step}` : ''})` : null,
    rows,
  };
}

export type FindingKind =
  | 'unknown-key'
  | 'shared-key'
  | 'token-bound'
  | 'revoked-host-key'
  | 'never-used'
  | 'unused'
  | 'too-old'
  | 'write-enabled'
  | 'disabled'
  | 'missing-on-forge'
  | 'unregistered'
  | 'recipients-mismatch'
  | 'no-sops-rule'
  | 'interrupted';

export interface Finding {
  kind: FindingKind;
  host?: string;
  repo?: string;
  keyId?: string;
  fingerprint?: string;
  message: string;
}

export interface AuditInput {
  repos: readonly string[];
  states: readonly HostState[];
  listings: ReadonlyMap<string, readonly DeployKey[]>;
  /** Per host: the host file's recipients (metadata) and what .sops.yaml expects; absent entries are skipped. */
  recipients: ReadonlyMap<string, { file: string; actual: string[] | undefined; expected: string[] | undefined }>;
  now: Date;
  maxAgeDays: number;
  unusedDays: number;
}

export function auditFindings(input: AuditInput): Finding[] {
  const out: Finding[] = [];
  const now = input.now.getTime();
  // fingerprint → (host, record) for every live key.
  const owners = new Map<string, { host: string; repo: string; rec: KeyRecord }>();
  const revokedFps = new Map<string, string>();
  const revokedTitles = new Map<string, string>();
  for (const st of input.states) {
    for (const fp of st.revokedFingerprints ?? []) revokedFps.set(fp, st.host);
    if (st.revoked) for (const repo of input.repos) revokedTitles.set(`${repo}\0${deployKeyTitle(st.host, repo)}`, st.host);
    // A revoked host owns no key, whatever records its state still has.
    if (!st.revoked) for (const [repo, rs] of Object.entries(st.repos)) {
      for (const rec of [rs.current, rs.next, rs.previous]) if (rec) owners.set(rec.fingerprint, { host: st.host, repo, rec });
    }
    if (st.operation) {
      out.push({ kind: 'interrupted', host: st.host, message: `${st.host}: "${st.operation.command}" was interrupted (started ${st.operation.startedAt}); re-run it` });
    }
  }

  for (const repo of input.repos) {
    for (const k of input.listings.get(repo) ?? []) {
      const where = `${repo}: key ${k.id} "${k.title}" (${k.fingerprint})`;
      const revokedBy = revokedFps.get(k.fingerprint) ?? revokedTitles.get(`${repo}\0${k.title}`);
      const owner = owners.get(k.fingerprint);
      const base = { repo, keyId: k.id, fingerprint: k.fingerprint };
      if (revokedBy && !owner) {
        out.push({ kind: 'revoked-host-key', host: revokedBy, ...base, message: `${where} belongs to revoked host ${revokedBy}; run "deploy-keys revoke ${revokedBy}"` });
        continue;
      }
      if (owner && owner.repo !== repo) {
        // GitLab and Gitea let one key be enabled on several repos; removing it from one leaves it valid on the others.
        out.push({ kind: 'shared-key', host: owner.host, ...base, message: `${where} is ${owner.host}'s key for ${owner.repo}, also enabled on ${repo}; remove it from ${repo} on the forge (one key serves one repo, so revoking per repo stays exact)` });
        continue;
      }
      if (!owner) {
        out.push({ kind: 'unknown-key', ...base, message: `${where} is not known to any host file (drift or intrusion)` });
        continue;
      }
      const host = owner.host;
      if (k.addedByUser) {
        out.push({
          kind: 'token-bound',
          host,
          ...base,
          message: `${where} was added by user ${k.addedBy ?? '?'}: if with their personal access token or OAuth token, GitHub deletes the key when that token is deleted or revoked; re-register it under a GitHub App (forge.auth, see the README), then "deploy-keys rotate ${host} --force" and later "deploy-keys rotate --finish ${host}"`,
        });
      }
      if (!k.readOnly) out.push({ kind: 'write-enabled', host, ...base, message: `${where} has write access` });
      if (k.enabled === false) out.push({ kind: 'disabled', host, ...base, message: `${where} is disabled on the forge` });
      const created = Date.parse(owner.rec.createdAt || (k.createdAt ?? ''));
      if (Number.isFinite(created) && now - created > input.maxAgeDays * DAY) {
        out.push({ kind: 'too-old', host, ...base, message: `${where} is ${Math.floor((now - created) / DAY)} days old (rotation.max_age_days ${input.maxAgeDays}); run "deploy-keys rotate ${host}"` });
      }
      if (!k.lastUsed) {
        // A key that was just created has had no chance to be used yet: flag it once it is older than unused_days.
        if (Number.isFinite(created) && now - created > input.unusedDays * DAY) {
          out.push({ kind: 'never-used', host, ...base, message: `${where} was never used (created ${new Date(created).toISOString().slice(0, 10)})` });
        }
      } else if (now - Date.parse(k.lastUsed) > input.unusedDays * DAY) {
        out.push({ kind: 'unused', host, ...base, message: `${where} was last used ${k.lastUsed.slice(0, 10)} (audit.unused_days ${input.unusedDays})` });
      }
    }
  }

  for (const st of input.states) {
    if (st.revoked) continue;
    for (const [repo, rs] of Object.entries(st.repos)) {
      if (!input.repos.includes(repo)) continue;
      for (const slot of ['current', 'next'] as const) {
        const rec = rs[slot];
        if (!rec) continue;
        if (findByFingerprint(input.listings.get(repo), rec.fingerprint)) continue;
        if (rec.forgeId) out.push({ kind: 'missing-on-forge', host: st.host, repo, keyId: rec.forgeId, fingerprint: rec.fingerprint, message: `${st.host}: ${repo} key ${rec.forgeId} (${rec.fingerprint}) is gone from the forge; run "deploy-keys vm-fresh ${st.host}"` });
        else out.push({ kind: 'unregistered', host: st.host, repo, fingerprint: rec.fingerprint, message: `${st.host}: ${repo} key ${rec.fingerprint} is ${rec.pending ? 'pending (manual registration)' : 'not registered'}; run "deploy-keys vm-fresh ${st.host}"` });
      }
    }
    const r = input.recipients.get(st.host);
    if (r?.actual === undefined) continue;
    const { actual, expected } = r;
    if (expected === undefined) {
      out.push({ kind: 'no-sops-rule', host: st.host, message: `${st.host}: no .sops.yaml creation rule matches ${r.file}` });
      continue;
    }
    const missing = expected.filter((x) => !actual.includes(x));
    const extra = actual.filter((x) => !expected.includes(x));
    if (missing.length || extra.length) {
      const parts = [missing.length ? `not encrypted for ${missing.join(', ')}` : '', extra.length ? `still encrypted for ${extra.join(', ')}` : ''].filter(Boolean);
      out.push({ kind: 'recipients-mismatch', host: st.host, message: `${st.host}: ${r.file} ${parts.join('; ')} (run "deploy-keys sops updatekeys ${r.file}")` });
    }
  }
  return out;
}
