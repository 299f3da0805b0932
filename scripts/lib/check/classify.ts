/**
 * What a failed `git ls-remote` through the deploy-key alias means, from
 * ssh's and the server's messages (run with LC_ALL=C). Pure.
 *
 * Only a connection that never got as far as authentication is transient
 * (retried); an authentication failure, a changed host key or a repo the key
 * cannot read would fail the same way again, and a changed host key must
 * never be retried into acceptance.
 */
import { escapeControls } from '../controls.js';

export type ProbeStatus = 'ok' | 'auth' | 'host-key' | 'repo' | 'unreachable' | 'error';

export interface ProbeRun {
  exitCode: number;
  stderr: string;
  /** Killed after the probe's time limit. */
  timedOut: boolean;
}

export interface ProbeOutcome {
  status: ProbeStatus;
  /** Worth another attempt. */
  transient: boolean;
  /** The message that decided, printable (from ssh or the server). */
  detail: string;
}

const RULES: readonly { status: Exclude<ProbeStatus, 'ok'>; re: RegExp }[] = [
  // Before anything else: ssh also prints "Could not read from remote repository".
  { status: 'host-key', re: /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed|host key is known for|host key for .* has changed/i },
  { status: 'auth', re: /Permission denied \(|Too many authentication failures|no mutual signature algorithm/i },
  {
    status: 'unreachable',
    re: /Connection refused|Connection timed out|timed out during banner exchange|Operation timed out|No route to host|Network is unreachable|Temporary failure in name resolution|Connection reset|Connection closed by|kex_exchange_identification|Broken pipe/i,
  },
  // GitHub: "Repository not found"; GitLab: "could not be found"; git-shell and
  // plain sshd: "does not appear to be a git repository"; the ssh provider's
  // forced command: "may only fetch".
  { status: 'repo', re: /does not appear to be a git repository|Repository not found|could not be found|may only fetch|access denied|not allowed to/i },
];

/** git's closing lines, which say nothing about the cause. */
const BOILERPLATE = /^(fatal: Could not read from remote repository\.|Please make sure you have the correct access rights|and the repository exists\.)$/;

const MAX_DETAIL = 300;

function printable(line: string): string {
  const t = escapeControls(line.trim());
  return t.length > MAX_DETAIL ? `${t.slice(0, MAX_DETAIL)}…` : t;
}

export function classifyProbe(run: ProbeRun): ProbeOutcome {
  if (run.exitCode === 0 && !run.timedOut) return { status: 'ok', transient: false, detail: '' };
  if (run.timedOut) return { status: 'unreachable', transient: true, detail: 'no answer in time' };
  const lines = run.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('@@@'));
  for (const rule of RULES) {
    const line = lines.find((l) => rule.re.test(l));
    if (line !== undefined) return { status: rule.status, transient: rule.status === 'unreachable', detail: printable(line) };
  }
  const telling = lines.filter((l) => !BOILERPLATE.test(l));
  return { status: 'error', transient: false, detail: printable(telling[0] ?? lines[0] ?? `exit status ${run.exitCode}`) };
}
