/** What the audit formats render: plain data, gathered by the life cycle's status and audit queries. */

/** One stored key of a host (a status row). */
export interface KeyRow {
  host: string;
  repo: string;
  slot: 'current' | 'next' | 'previous';
  createdAt: string;
  lastUsed: string | null;
  registration: 'registered' | 'pending' | 'missing' | 'stored';
}

export interface FindingRow {
  kind: string;
  host?: string;
  repo?: string;
  keyId?: string;
  fingerprint?: string;
  message: string;
}

/** One finding kind: what it means and how bad it is. */
export interface FindingRule {
  kind: string;
  summary: string;
  /** error: points at misuse or a key that must not exist; warning: maintenance due. */
  level: 'error' | 'warning';
}

export interface AuditReport {
  now: Date;
  /** Every kind the audit knows, so that none is left out of the metrics. */
  kinds: readonly string[];
  findings: readonly FindingRow[];
  keys: readonly KeyRow[];
  hosts: number;
  forgeKeys: number;
}
