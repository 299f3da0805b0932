/**
 * Names that reach paths, shell scripts, ssh configs and API URLs.
 *
 * Every host and repo name is checked here before anything else sees it, so the
 * rest of the code can interpolate them without quoting worries.
 */
import { ConfigError, UsageError } from './errors.js';

/** RFC 1123 label: 1–63 of [a-z0-9-], no leading or trailing hyphen. */
const HOST_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Repo names as the config contract defines them. */
const REPO_RE = /^[a-z0-9][a-z0-9._-]*$/;
const REPO_MAX = 100;

export function hostNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 63) return `is ${name.length} characters long (at most 63)`;
  if (!HOST_RE.test(name)) return 'is not an RFC 1123 label (lowercase letters, digits and inner hyphens only)';
  return undefined;
}

export function repoNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > REPO_MAX) return `is ${name.length} characters long (at most ${REPO_MAX})`;
  if (!REPO_RE.test(name)) return 'must match [a-z0-9][a-z0-9._-]*';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.endsWith('.git') || name.endsWith('.lock')) return 'must not end in .git or .lock';
  return undefined;
}

const show = (s: string) => JSON.stringify(s);

/** Validates a host name given on the command line (exit 2 on failure). */
export function assertHostName(name: string, where = 'host name'): string {
  const problem = hostNameProblem(name);
  if (problem) throw new UsageError(`${where} ${show(name)} ${problem}`, 'use a name like "web-01"');
  return name;
}

/** Validates a repo name (config or command line). */
export function assertRepoName(name: string, where = 'repo name', kind: 'usage' | 'config' = 'usage'): string {
  const problem = repoNameProblem(name);
  if (!problem) return name;
  const msg = `${where} ${show(name)} ${problem}`;
  const hint = 'use a name like "nix-config"';
  throw kind === 'usage' ? new UsageError(msg, hint) : new ConfigError(msg, { hint });
}

/** The deploy key's title and comment: `<host>-<repo>-deploy`. */
export function deployKeyTitle(host: string, repo: string): string {
  return `${host}-${repo}-deploy`;
}
