/** `check`'s results per host, their one-line explanations, text and JSON. Pure. */
import { deployKeyTitle } from '../names.js';
import type { RepoCheck } from './probe.js';

export interface HostCheck {
  host: string;
  /** Why no repo could be probed (the host file could not be decrypted…). */
  error?: string;
  repos: RepoCheck[];
}

export function hostOk(h: HostCheck): boolean {
  return h.error === undefined && h.repos.every((r) => r.status === 'ok');
}

/** What a result means and what to do, naming the key and the repo. */
export function explain(host: string, r: RepoCheck): string {
  const key = `key ${r.fingerprint} (${deployKeyTitle(host, r.repo)})`;
  const why = r.detail ? ` [${r.detail}]` : '';
  switch (r.status) {
    case 'ok':
      return `${key} reads ${r.url} through ${r.alias}`;
    case 'auth':
      return `authentication failed: ${r.endpoint} refused ${key} for ${r.url}${why}; not retried. The key is not registered there (revoked, rotated out, or never added): see deploy-keys status ${host}`;
    case 'host-key':
      return `${r.endpoint} presented a host key that matches none pinned for it${why}; not accepted. Verify the server's key out of band; if it really changed, update known_hosts in deploy-keys.yaml`;
    case 'repo':
      return `${r.endpoint} accepted ${key} but it cannot read ${r.url}${why}. Check the repo's URL and that the key is registered on that repo`;
    case 'unreachable':
      return `${r.endpoint} unreachable after ${r.attempts} attempts${why}; ${key} was not tried`;
    case 'error':
      return `git ls-remote ${r.url} with ${key} failed${why}`;
  }
}

export interface CheckJson {
  ok: boolean;
  hosts: {
    host: string;
    ok: boolean;
    error?: string;
    repos: (RepoCheck & { ok: boolean; message: string })[];
  }[];
}

export function checkJson(hosts: readonly HostCheck[]): CheckJson {
  return {
    ok: hosts.every(hostOk),
    hosts: hosts.map((h) => ({
      host: h.host,
      ok: hostOk(h),
      ...(h.error === undefined ? {} : { error: h.error }),
      repos: h.repos.map((r) => ({ ...r, ok: r.status === 'ok', message: explain(h.host, r) })),
    })),
  };
}

/** One line per repo (`ok` / `FAIL`), one per host that could not be probed. */
export function checkLines(h: HostCheck): string[] {
  if (h.error !== undefined) return [`FAIL ${h.host}: ${h.error}`];
  return h.repos.map((r) => `${r.status === 'ok' ? 'ok  ' : 'FAIL'} ${h.host} ${r.repo}: ${explain(h.host, r)}`);
}
