/**
 * Which hosts get which repos: `repos.<name>.hosts` and `.except`, lists of
 * host-name patterns (`*` any run of characters, `?` one) and `group:NAME`
 * references to `host_groups`. A repo without `hosts` goes to every host.
 * Pure: the selection is plain data in the config (groups already expanded);
 * the matchers are compiled once per selection.
 */
import { ConfigError } from '../errors.js';
import { hostNameProblem } from '../names.js';
import type { Config, HostSelection, RepoConfig } from './types.js';

/** A pattern: the characters of a host name plus the wildcards, 1–63 long. */
const PATTERN_RE = /^[a-z0-9*?-]{1,63}$/;
/** A group name in `host_groups` (and after `group:`). */
const GROUP_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const GROUP_PREFIX = 'group:';

/** Why `text` is not a host pattern, or undefined. */
export function hostPatternProblem(text: string): string | undefined {
  if (!PATTERN_RE.test(text)) {
    return /[A-Z]/.test(text)
      ? 'has upper-case letters (host names are compared in lower case; write them so)'
      : 'is not a host name or pattern (letters a-z, digits, -, and the wildcards * and ?)';
  }
  if (!/[*?]/.test(text)) {
    const p = hostNameProblem(text);
    if (p) return p;
  }
  return undefined;
}

export function groupNameProblem(name: string): string | undefined {
  return GROUP_RE.test(name) ? undefined : 'is not a group name ([a-z0-9][a-z0-9_-]*, at most 63)';
}

const compiled = new WeakMap<readonly string[], RegExp>();

/** One anchored regular expression for a list of patterns. */
function matcher(patterns: readonly string[]): RegExp {
  let re = compiled.get(patterns);
  if (!re) {
    const alternatives = patterns.map((p) => p.replace(/[*?]/g, (w) => (w === '*' ? '[a-z0-9-]*' : '[a-z0-9-]')));
    re = new RegExp(`^(?:${alternatives.join('|')})$`);
    compiled.set(patterns, re);
  }
  return re;
}

/** Whether the selection gives its repo to `host` (a validated, lower-case host name). */
export function selects(selection: HostSelection | undefined, host: string): boolean {
  if (!selection) return true;
  const included = selection.include.length === 0 || matcher(selection.include).test(host);
  return included && !(selection.exclude.length > 0 && matcher(selection.exclude).test(host));
}

/** Whether `repo` goes to `host`. */
export function repoServesHost(repo: RepoConfig, host: string): boolean {
  return selects(repo.hosts, host);
}

/** The repos `host` gets, in config order (possibly none). */
export function reposForHost(config: Config, host: string): RepoConfig[] {
  return config.repos.filter((r) => repoServesHost(r, host));
}

/** Where the config selects hosts, for hints: `nix-secrets (deploy-keys.yaml:12)`. */
function selectionSites(config: Config): string {
  const sites = config.repos.filter((r) => r.hosts).map((r) => `${r.name} (${r.hosts?.at ?? ''})`);
  return sites.join(', ');
}

/**
 * The repos `host` gets; a ConfigError when it gets none: a typo in the name
 * or in a pattern, or a host the config gave up (revoke it to remove its keys).
 */
export function assertHostRepos(config: Config, host: string): RepoConfig[] {
  const repos = reposForHost(config, host);
  if (repos.length === 0) {
    throw new ConfigError(`host ${host} gets no repo: no repo's hosts/except in ${config.file} selects it`, {
      hint: `check the name, or add it to the hosts of a repo: ${selectionSites(config)}; a host that should lose every repo is removed with "deploy-keys revoke ${host}"`,
    });
  }
  return repos;
}

/** `name` must be one of the host's repos (`--repo`): a ConfigError naming where its hosts are chosen otherwise. */
export function assertRepoForHost(config: Config, host: string, name: string): RepoConfig {
  const repo = config.repos.find((r) => r.name === name);
  if (!repo) {
    throw new ConfigError(`repo ${JSON.stringify(name)} is not in ${config.file}`, { hint: `configured repos: ${config.repos.map((r) => r.name).join(', ')}` });
  }
  if (!repoServesHost(repo, host)) {
    throw new ConfigError(`repo ${name} is not for host ${host}: ${repo.hosts?.at ?? config.file} does not select it`, {
      hint: `add ${host} (or a pattern or group matching it) to repos.${name}.hosts there, then run "deploy-keys vm-fresh ${host}"`,
    });
  }
  return repo;
}
