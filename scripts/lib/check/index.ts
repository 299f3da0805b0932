/** `deploy-keys check`: each host's keys tried read-only, the way the host uses them. */
export { classifyProbe, type ProbeOutcome, type ProbeRun, type ProbeStatus } from './classify.js';
export { probeHost, PROBE_RETRIES, PROBE_RETRY_DELAY_MS, type ProbeOptions, type RepoCheck } from './probe.js';
export { checkJson, checkLines, explain, hostOk, type CheckJson, type HostCheck } from './report.js';
