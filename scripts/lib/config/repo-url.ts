/**
 * Git SSH URLs as the config accepts them: scp-like `git@host:owner/repo.git`
 * or `ssh://git@host[:port]/path/repo.git`, and ssh destinations `user@host`.
 * The parts reach ssh configs, shell scripts, argv and API paths, so each is
 * checked against a conservative alphabet (nothing can start with `-`), and
 * host names are normalised here, once: ssh compares them case-insensitively
 * (it lowercases the host before looking up known_hosts), so every comparison
 * downstream sees the lowercase form.
 */
export interface RepoUrl {
  /** The URL exactly as configured. */
  raw: string;
  user: string;
  /** DNS name or IP address (IPv6 without brackets), lowercase (normalizeHost). */
  host: string;
  port: number;
  /** Path on the server as ssh sees it: `acme/nix-config.git` or `/srv/git/x.git`. */
  path: string;
  /** The last two path segments, `.git` stripped: what forge APIs call owner and repo. */
  owner: string;
  repo: string;
  /** The whole path without leading slash and `.git`: GitLab's project path (`group/subgroup/project`). */
  fullPath: string;
}

const USER_RE = /^[a-z_][a-z0-9_.-]{0,31}$/i;
const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const IPV6_RE = /^[0-9a-f:.]+$/i;
/** An ssh config `Host` alias given as a destination. */
const ALIAS_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const PATH_RE = /^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/?$/;

/** The one normalisation of host names: lowercase, as ssh compares them. */
export function normalizeHost(host: string): string {
  return host.toLowerCase();
}

/** Why `host` is not a DNS name or an IP address (IPv6 without brackets), or undefined. */
export function hostProblem(host: string): string | undefined {
  return HOST_RE.test(host) || (host.includes(':') && IPV6_RE.test(host)) ? undefined : `has an invalid host ${JSON.stringify(host)}`;
}

/** Parses a repo URL; returns a problem description instead of throwing. */
export function parseRepoUrl(raw: string): RepoUrl | string {
  let user: string, host: string, port = 22, path: string;
  if (raw.startsWith('ssh://')) {
    const [, u, h, p, pathPart] = /^ssh:\/\/([^@/]+)@(\[[^\]]+\]|[^:/]+)(?::(\d+))?(\/.*)$/.exec(raw) ?? [];
    if (u === undefined || h === undefined || pathPart === undefined) return 'is not ssh://user@host[:port]/path';
    user = u;
    host = h.replace(/^\[|\]$/g, '');
    if (p !== undefined) {
      port = Number(p);
      if (!Number.isInteger(port) || port < 1 || port > 65535) return `has an invalid port ${p}`;
    }
    path = pathPart;
    // ssh://host/~user/x and ssh://host/abs both keep their leading slash for git.
  } else {
    const [, u, h, pathPart] = /^([^@:/]+)@([^:/]+):(.+)$/.exec(raw) ?? [];
    if (u === undefined || h === undefined || pathPart === undefined) return 'is neither scp-like user@host:owner/repo.git nor ssh://user@host[:port]/path';
    user = u;
    host = h;
    path = pathPart;
  }
  if (!USER_RE.test(user)) return `has an invalid user ${JSON.stringify(user)}`;
  const badHost = hostProblem(host);
  if (badHost) return badHost;
  if (!PATH_RE.test(path) || path.split('/').some((s) => s === '..' || s === '.')) {
    return `has an invalid path ${JSON.stringify(path)} (letters, digits, . _ ~ - and / only, no ..)`;
  }
  const segments = path.replace(/\/$/, '').split('/').filter(Boolean);
  const last = segments.at(-1);
  const owner = segments.at(-2);
  if (last === undefined || owner === undefined) return 'path must name owner/repo';
  const repo = last.replace(/\.git$/, '');
  if (!repo) return 'path has an empty repository name';
  return { raw, user, host: normalizeHost(host), port, path, owner, repo, fullPath: segments.join('/').replace(/\.git$/, '') };
}

export interface SshTarget {
  user?: string;
  /** Lowercase (normalizeHost). */
  host: string;
}

/**
 * An ssh destination `[user@]host` as it goes on ssh's command line: a DNS
 * name, an IP address or (with `alias`) an ssh config alias, which may also
 * hold `_`. Never option-like: `git@-oProxyCommand=…` is refused.
 */
export function parseSshTarget(raw: string, opts: { requireUser: boolean; alias?: boolean }): SshTarget | string {
  const at = raw.lastIndexOf('@');
  const user = at < 0 ? undefined : raw.slice(0, at);
  const host = raw.slice(at + 1);
  if (user === undefined && opts.requireUser) return 'must be user@host';
  if (user !== undefined && !USER_RE.test(user)) return `has an invalid user ${JSON.stringify(user)}`;
  if (!(opts.alias === true && ALIAS_RE.test(host))) {
    const bad = hostProblem(host);
    if (bad) return bad;
  }
  return { ...(user === undefined ? {} : { user }), host: normalizeHost(host) };
}

/** `host`, or `[host]:port` when the port is not 22: the name ssh looks up in known_hosts (lowercase). */
export function knownHostsName(host: string, port: number): string {
  const h = normalizeHost(host);
  return port === 22 ? h : `[${h}]:${port}`;
}
