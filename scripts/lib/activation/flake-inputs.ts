/**
 * Flake inputs that name a managed repo in a form the deploy keys cannot
 * serve. `github:owner/repo` (and `gitlab:`, `sourcehut:`) inputs are fetched
 * as tarballs over the forge's HTTPS API, `git+https://` ones over HTTPS: no
 * ssh, so no deploy key; for a private repo they fail (or need an access
 * token). The fix is the same repo as `git+ssh://`, which git fetches
 * through git's ssh command for the keys.
 *
 * Pure: the caller reads flake.lock / flake.nix (bounded) and prints.
 */
import { normalizeHost, type RepoConfig } from '../config/index.js';
import { repoPathKey } from './git-ssh.js';

export interface FlakeInputFinding {
  /** Where it was seen, e.g. `flake.lock input "nix-secrets"` or `flake.nix`. */
  where: string;
  /** The input as written: `github:acme/nix-secrets`. */
  ref: string;
  repo: string;
  /** What to write instead: `git+ssh://git@github.com/acme/nix-secrets`. */
  suggestion: string;
}

/** Files larger than this are not scanned (a flake.lock of thousands of inputs is still far below). */
export const MAX_FLAKE_FILE_BYTES = 4 * 1024 * 1024;

const SHORTHAND_HOSTS = new Map([
  ['github', 'github.com'],
  ['gitlab', 'gitlab.com'],
  ['sourcehut', 'git.sr.ht'],
]);
const NAME = /^[A-Za-z0-9_.~-]{1,100}$/;

interface Target {
  host: string;
  path: string;
  /** The extra query of the suggested URL: `ref=…&rev=…`. */
  query: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length <= 1000 ? v : undefined;
}

const HTTPS_URL = /^(?:git\+)?https?:\/\/([A-Za-z0-9.-]+)(?::\d+)?\/([A-Za-z0-9_.~/-]+)$/;

/** How a lock node's `original` is written, and the host and path it fetches without ssh; or undefined. */
function lockTarget(original: Record<string, unknown>): (Target & { ref: string }) | undefined {
  const type = str(original.type);
  const refName = str(original.ref);
  const rev = str(original.rev);
  const query = [refName && `ref=${refName}`, rev && `rev=${rev}`].filter(Boolean).join('&');
  const shorthandHost = type === undefined ? undefined : SHORTHAND_HOSTS.get(type);
  if (type && shorthandHost) {
    const owner = str(original.owner);
    const repo = str(original.repo);
    if (!owner || !repo || !NAME.test(owner) || !NAME.test(repo)) return undefined;
    const host = str(original.host) ?? shorthandHost;
    return { host, path: `${owner}/${repo}`, ref: `${type}:${owner}/${repo}${refName ? `/${refName}` : ''}`, query };
  }
  if (type === 'git' || type === 'tarball') {
    const url = str(original.url);
    const [, host, path] = (url && HTTPS_URL.exec(url)) ?? [];
    if (!url || !host || !path) return undefined;
    return { host, path, ref: url.startsWith('git+') || type === 'tarball' ? url : `git+${url}`, query };
  }
  return undefined;
}

function managedRepo(repos: readonly RepoConfig[], host: string, path: string): RepoConfig | undefined {
  const key = repoPathKey(path).toLowerCase();
  const h = normalizeHost(host);
  return repos.find((r) => r.url.host === h && repoPathKey(r.url.path).toLowerCase() === key);
}

/** `git+ssh://git@github.com/acme/nix-secrets[?ref=…]`: the managed repo's own ssh URL, as a flake reference. */
export function sshFlakeRef(repo: RepoConfig, query = ''): string {
  const u = repo.url;
  const host = u.host.includes(':') ? `[${u.host}]` : u.host;
  const port = u.port === 22 ? '' : `:${u.port}`;
  const path = u.path.startsWith('/') ? u.path.replace(/\/+$/, '') : `/${repoPathKey(u.path)}`;
  return `git+ssh://${u.user}@${host}${port}${path}${query ? `?${query}` : ''}`;
}

/** Findings in a flake.lock's nodes (inputs of inputs included). Throws on text that is not a flake.lock. */
export function flakeLockFindings(lockText: string, repos: readonly RepoConfig[]): FlakeInputFinding[] {
  const lock: unknown = JSON.parse(lockText);
  if (!isRecord(lock) || !isRecord(lock.nodes)) throw new Error('not a flake.lock (no "nodes" object)');
  const out: FlakeInputFinding[] = [];
  for (const [name, node] of Object.entries(lock.nodes)) {
    if (!isRecord(node) || !isRecord(node.original)) continue;
    const target = lockTarget(node.original);
    const repo = target && managedRepo(repos, target.host, target.path);
    if (!target || !repo) continue;
    out.push({ where: `flake.lock input ${JSON.stringify(name)}`, ref: target.ref, repo: repo.name, suggestion: sshFlakeRef(repo, target.query) });
  }
  return out;
}

/**
 * Findings in a flake.nix's text: `github:owner/repo[/ref]` references and
 * https URLs of managed repos, wherever they appear (inputs not locked yet
 * included). A scan, not a Nix parser: it reads each reference once.
 */
export function flakeNixFindings(nixText: string, repos: readonly RepoConfig[]): FlakeInputFinding[] {
  const out: FlakeInputFinding[] = [];
  const seen = new Set<string>();
  const add = (ref: string, target: Target | undefined) => {
    const repo = target && managedRepo(repos, target.host, target.path);
    if (!target || !repo || seen.has(ref)) return;
    seen.add(ref);
    out.push({ where: 'flake.nix', ref, repo: repo.name, suggestion: sshFlakeRef(repo, target.query) });
  };
  for (const [quoted, type, owner, name, refName] of nixText.matchAll(/"(github|gitlab|sourcehut):([A-Za-z0-9_.~-]{1,100})\/([A-Za-z0-9_.~-]{1,100})(?:\/([A-Za-z0-9_./-]{1,200}))?(?:\?[^"]*)?"/g)) {
    const host = type === undefined ? undefined : SHORTHAND_HOSTS.get(type);
    if (host) add(quoted.slice(1, -1), { host, path: `${owner ?? ''}/${name ?? ''}`, query: refName ? `ref=${refName}` : '' });
  }
  for (const [, url, host, path] of nixText.matchAll(/"((?:git\+)?https?:\/\/([A-Za-z0-9.-]+)(?::\d+)?\/([A-Za-z0-9_.~/-]+?))(?:\?[^"]*)?"/g)) {
    if (url && host && path) add(url, { host, path, query: '' });
  }
  return out;
}

/** One line per finding, for a warning. */
export function describeFinding(f: FlakeInputFinding): string {
  return `${f.where}: ${f.ref} (managed repo ${f.repo}) is fetched over HTTPS, where the deploy keys cannot serve it; write ${f.suggestion} instead`;
}
