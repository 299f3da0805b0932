/**
 * status and audit: pure functions over public data only (sidecars, forge
 * listings, host-file recipients from metadata, .sops.yaml) — no age identity.
 */
import { deployKeyTitle } from '../../names.js';
import type { DeployKey, HostState, KeyRecord, RepoState, Slot } from './types.js';

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
  /** false: the config no longer gives the host this repo; the next vm-fresh or rotate removes the key. */
  assigned: boolean;
}

export interface HostStatus {
  host: string;
  revoked: boolean;
  /** A command was interrupted; re-run it. */
  interrupted: string | null;
  rows: StatusRow[];
}

/** `repos`: the managed repos, config order; `assigned`: those the config gives this host. */
export function hostStatus(
  state: HostState,
  repos: readonly string[],
  assigned: readonly string[],
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
        assigned: assigned.includes(repo),
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

/**
 * Every finding kind, once: `audit --help`, the SARIF rules and the metrics
 * come from here. error: misuse, or a key that must not exist; warning:
 * maintenance that is due.
 */
export const FINDING_RULES = [
  { kind: 'used-after-revoke', level: 'error', summary: "a revoked host's key used after the host was revoked: someone still holds it" },
  { kind: 'old-key-in-use', level: 'error', summary: 'a replaced key still used a day and more after its replacement was registered, and the new key not: the host never picked up its new key, and "rotate --finish" would cut it off' },
  { kind: 'unknown-key', level: 'error', summary: "a key on a managed repo that no host's state knows (drift or intrusion)" },
  { kind: 'unassigned-key', level: 'error', summary: 'a host\'s key on a repo the config no longer gives the host (repos.<name>.hosts / except); "vm-fresh" or "rotate" of the host removes it' },
  { kind: 'revoked-host-key', level: 'error', summary: 'a key of a revoked host, still on the forge' },
  { kind: 'shared-key', level: 'error', summary: "a host's key also enabled on another managed repo (GitLab, Gitea): removing it from one repo leaves it valid on the other" },
  { kind: 'write-enabled', level: 'error', summary: 'a key with write access' },
  { kind: 'token-bound', level: 'warning', summary: "GitHub: a key added by a user, not a GitHub App: it dies with that user's personal access or OAuth token; rotate it once forge.auth names a GitHub App" },
  { kind: 'never-used', level: 'warning', summary: 'a key the forge says was never used, audit.unused_days after it was registered' },
  { kind: 'unused', level: 'warning', summary: 'a key not used for longer than audit.unused_days' },
  { kind: 'too-old', level: 'warning', summary: 'a key older than rotation.max_age_days' },
  { kind: 'disabled', level: 'warning', summary: 'a key the forge has disabled (an organization policy)' },
  { kind: 'missing-on-forge', level: 'warning', summary: 'a registered host key gone from the forge, with its likeliest cause (the deleted personal token that added it, or by hand or policy)' },
  { kind: 'unregistered', level: 'warning', summary: 'a host key never registered (or pending a manual registration)' },
  { kind: 'recipients-mismatch', level: 'warning', summary: 'a host file not encrypted for the recipients its .sops.yaml rule names (from its sops.age metadata)' },
  { kind: 'no-sops-rule', level: 'warning', summary: 'a host file no .sops.yaml creation rule matches' },
  { kind: 'interrupted', level: 'warning', summary: 'a command that did not finish; re-run it' },
] as const satisfies readonly { kind: string; level: 'error' | 'warning'; summary: string }[];

export type FindingKind = (typeof FINDING_RULES)[number]['kind'];

/** A replaced key used this long after its replacement was registered means the host did not switch. */
const PICKUP_MARGIN = DAY;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

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
  /** The repos the config gives each host (`repos.<name>.hosts`). */
  reposOf: (host: string) => readonly string[];
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
  const revokedAt = new Map<string, number>();
  for (const st of input.states) {
    if (st.revoked) revokedAt.set(st.host, Date.parse(st.revoked.at));
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
        const at = revokedAt.get(revokedBy);
        const used = k.lastUsed ? Date.parse(k.lastUsed) : NaN;
        if (at !== undefined && used > at) {
          out.push({
            kind: 'used-after-revoke',
            host: revokedBy,
            ...base,
            message: `${where} was used ${k.lastUsed ?? ''}, after ${revokedBy} was revoked (${new Date(at).toISOString()}): whoever holds its private key still reaches ${repo}; delete it on the forge now ("deploy-keys revoke ${revokedBy}"), then find out who used it (the forge's audit log)`,
          });
        }
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
      if (!input.reposOf(host).includes(repo)) {
        out.push({
          kind: 'unassigned-key',
          host,
          ...base,
          message: `${where} is ${host}'s, but the config no longer gives ${host} ${repo}: "deploy-keys vm-fresh ${host}" (or rotate) removes it from the forge and the host file`,
        });
      }
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
      if (k.lastUsed === null) {
        // Counted from registration (the forge's created_at): until then nobody could use it. A forge that
        // does not tell (lastUsed undefined: plain ssh) is no evidence either way.
        const registered = Date.parse(k.createdAt ?? owner.rec.registeredAt ?? owner.rec.createdAt);
        if (Number.isFinite(registered) && now - registered > input.unusedDays * DAY) {
          out.push({
            kind: 'never-used',
            host,
            ...base,
            message: `${where} was never used in the ${Math.floor((now - registered) / DAY)} days since it was registered (${day(registered)}; audit.unused_days ${input.unusedDays}): is ${host} running, and does it get its keys?`,
          });
        }
      } else if (k.lastUsed !== undefined && now - Date.parse(k.lastUsed) > input.unusedDays * DAY) {
        out.push({ kind: 'unused', host, ...base, message: `${where} was last used ${k.lastUsed.slice(0, 10)} (audit.unused_days ${input.unusedDays})` });
      }
    }
  }

  for (const st of input.states) {
    if (st.revoked) continue;
    const mine = input.reposOf(st.host);
    for (const [repo, rs] of Object.entries(st.repos)) {
      // A key of a repo the host no longer gets need not be on the forge: it is on its way out.
      if (!mine.includes(repo)) continue;
      const stale = oldKeyInUse(st.host, repo, rs, input.listings.get(repo));
      if (stale) out.push(stale);
      for (const slot of ['current', 'next'] as const) {
        const rec = rs[slot];
        if (!rec) continue;
        if (findByFingerprint(input.listings.get(repo), rec.fingerprint)) continue;
        if (rec.forgeId) out.push({ kind: 'missing-on-forge', host: st.host, repo, keyId: rec.forgeId, fingerprint: rec.fingerprint, message: `${st.host}: ${repo} key ${rec.forgeId} (${rec.fingerprint}) is gone from the forge, ${vanishCause(rec)}; "deploy-keys vm-fresh ${st.host}" registers the stored key again` });
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

/**
 * A rotation awaiting --finish whose old key is still used a day and more
 * after the new one was registered, while the new one is not: the host never
 * picked up its new key (it was not rebuilt, or sops-nix does not give it the
 * new secret). --finish, forced or after the grace period, would cut it off.
 */
function oldKeyInUse(host: string, repo: string, rs: RepoState, listing: readonly DeployKey[] | undefined): Finding | undefined {
  if (!rs.previous || !rs.current) return undefined;
  const old = findByFingerprint(listing, rs.previous.fingerprint);
  const fresh = findByFingerprint(listing, rs.current.fingerprint);
  if (!old?.lastUsed || !fresh) return undefined;
  const replaced = Date.parse(rs.current.registeredAt ?? fresh.createdAt ?? rs.previous.retiredAt ?? '');
  const oldUsed = Date.parse(old.lastUsed);
  const newUsed = fresh.lastUsed ? Date.parse(fresh.lastUsed) : undefined;
  if (!Number.isFinite(replaced) || oldUsed - replaced < PICKUP_MARGIN || (newUsed !== undefined && newUsed >= oldUsed)) return undefined;
  return {
    kind: 'old-key-in-use',
    host,
    repo,
    keyId: old.id,
    fingerprint: old.fingerprint,
    message: `${host}: ${repo}: the replaced key ${old.id} (${old.fingerprint}) was used ${old.lastUsed}, ${Math.floor((oldUsed - replaced) / DAY)} days after its replacement ${fresh.id} was registered (${day(replaced)}), which ${newUsed === undefined ? 'was never used' : `was last used ${day(newUsed)}`}: ${host} has not picked up its new key (rebuild it; check its sops-nix secret deploy-keys/${repo}); "deploy-keys rotate --finish ${host}" would cut it off`,
  };
}

/** The likeliest reason a registered key left the forge, from what the sidecar knows. */
function vanishCause(rec: KeyRecord): string {
  return rec.registeredByUser
    ? `most likely because the personal access or OAuth token of ${rec.registeredByUser} that added it was deleted or revoked (GitHub deletes a token's deploy keys with it; register keys with a GitHub App, see forge.auth)`
    : 'deleted by hand or by an organization policy';
}
