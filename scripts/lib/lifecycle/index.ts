/**
 * The life cycle (vm-fresh, rotate, revoke, status, audit): `core/` is pure
 * (plans, sidecar derivation, status/audit findings, output), `engine/` runs
 * plans through the ports of core/types.ts, `effects/` implements those ports
 * on files, the forge, SOPS and the environment. See README.md.
 */
export * from './core/types.js';
export { describeStep, isBookkeeping, needsConsent, planVmFresh, type HostResult, type Plan, type Step } from './core/plan.js';
export { auditFindings, FINDING_RULES, hostStatus, type Finding, type FindingKind, type HostStatus } from './core/report.js';
export { auditJson, hostResultJson, printFindings, printHostResult, printStatus, statusJson } from './core/present.js';
export type { LifecycleDeps } from './engine/deps.js';
export { ForgeCache } from './engine/forge-cache.js';
export { Lifecycle, type RevokeRunOptions, type VmFreshRunOptions } from './engine/lifecycle.js';
export { collectAudit, collectStatus, type AuditOptions } from './engine/queries.js';
export { readAuditLog } from './effects/audit-log.js';
export { hostKeyInfo, SopsHostKeys } from './effects/host-keys.js';
export { provisionedHosts } from './effects/hosts.js';
export { FileStateStore } from './effects/state-store.js';
export { SopsHostSecrets } from './effects/sops-store.js';
export { wire, type Io, type WireOptions } from './effects/wire.js';
