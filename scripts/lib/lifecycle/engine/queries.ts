/** status and audit: public data only (sidecars, forge listings, file metadata, .sops.yaml), each repo listed once per run. */
import { auditFindings, hostStatus, type Finding, type HostStatus } from '../core/report.js';
import type { HostState } from '../core/types.js';
import type { LifecycleDeps } from './deps.js';
import type { ForgeCache } from './forge-cache.js';

type QueryDeps = Pick<LifecycleDeps, 'repos' | 'reposFor' | 'states' | 'clock' | 'secrets' | 'sops'>;

export async function collectStatus(deps: QueryDeps, cache: ForgeCache, hosts: readonly string[] | undefined, maxAgeDays: number): Promise<{ hosts: HostStatus[]; missing: string[] }> {
  const names = hosts?.length ? [...hosts] : await deps.states.hosts();
  const [states, listings] = await Promise.all([Promise.all(names.map((h) => deps.states.load(h))), cache.listAll(deps.repos)]);
  const now = new Date(deps.clock.now());
  const out: HostStatus[] = [];
  const missing: string[] = [];
  names.forEach((h, i) => {
    const st = states[i];
    if (!st) missing.push(h);
    else out.push(hostStatus(st, deps.repos, deps.reposFor(h), listings, now, maxAgeDays));
  });
  return { hosts: out, missing };
}

export interface AuditOptions {
  maxAgeDays: number;
  unusedDays: number;
}

export async function collectAudit(deps: QueryDeps, cache: ForgeCache, opts: AuditOptions): Promise<{ findings: Finding[]; hosts: number; keys: number }> {
  const names = await deps.states.hosts();
  const [states, listings] = await Promise.all([Promise.all(names.map((h) => deps.states.load(h))), cache.listAll(deps.repos)]);
  const live = states.filter((s): s is HostState => s !== undefined);
  const recipients = new Map<string, { file: string; actual: string[] | undefined; expected: string[] | undefined }>();
  for (const st of live) {
    if (st.revoked) continue;
    const file = deps.secrets.path(st.host);
    const actual = await deps.secrets.recipients(st.host);
    const expected = actual === undefined ? undefined : await deps.sops.expectedRecipients(file);
    recipients.set(st.host, { file, actual, expected });
  }
  const findings = auditFindings({ repos: deps.repos, reposOf: (h) => deps.reposFor(h), states: live, listings, recipients, now: new Date(deps.clock.now()), ...opts });
  return { findings, hosts: live.length, keys: [...listings.values()].reduce((n, l) => n + l.length, 0) };
}
