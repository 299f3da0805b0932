/**
 * Machine formats of `deploy-keys audit`: node_exporter textfile metrics
 * (Prometheus text format) and SARIF 2.1.0. Pure: data in, text out; the CLI
 * gathers the data and writes the file.
 */
export { prometheusTextfile } from './prometheus.js';
export { sarifLog, type SarifInput, type SarifLog } from './sarif.js';
export type { AuditReport, FindingRow, FindingRule, KeyRow } from './types.js';
