/**
 * Types of the CLI's `--json` output and of state files, for tests that parse
 * them (`JSON.parse(text) as StatusJson`). They are the producers' own types, so
 * a renamed field fails the type check.
 */
import type { auditJson, HostState, hostResultJson, statusJson } from '../../scripts/lib/lifecycle/index.js';

export type HostResultJson = ReturnType<typeof hostResultJson>;
export type StatusJson = ReturnType<typeof statusJson>;
export type AuditJson = ReturnType<typeof auditJson>;
export interface RotateJson {
  results: HostResultJson[];
  failures: unknown[];
}
export type { HostState };

