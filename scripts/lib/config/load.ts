/**
 * Loads and validates `deploy-keys.yaml`. Every problem is reported as one
 * line naming the file, the line and the key, and how to fix it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, type Document, type YAMLMap } from 'yaml';
import { readYamlDocument } from '../bounded-yaml/index.js';
import { ConfigError } from '../errors.js';
import { repoNameProblem } from '../names.js';
import { parseRepoUrl, parseSshTarget } from './repo-url.js';
import { GROUP_PREFIX, groupNameProblem, hostPatternProblem } from './hosts.js';
import type { Config, ForgeConfig, GithubForgeConfig, HostSelection, RepoConfig } from './types.js';

export const DEFAULT_CONFIG_NAME = 'deploy-keys.yaml';

/** `--config FILE`, else `DEPLOY_KEYS_CONFIG`, else ./deploy-keys.yaml. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(cwd, flag ?? env.DEPLOY_KEYS_CONFIG ?? DEFAULT_CONFIG_NAME);
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`${file}: ${code === 'ENOENT' ? 'not found' : `cannot read (${code})`}`, {
      hint: 'run from the directory holding deploy-keys.yaml, or pass --config FILE / set DEPLOY_KEYS_CONFIG',
    });
  }
  return parseConfig(text, file);
}

type Path = (string | number)[];

class Reader {
  readonly lines = new LineCounter();
  readonly doc: Document;
  constructor(readonly text: string, readonly file: string) {
    this.doc = readYamlDocument(text, file, { lineCounter: this.lines });
    const err = this.doc.errors[0];
    if (err) {
      const pos = this.lines.linePos(err.pos[0]);
      throw new ConfigError(`${file}:${pos.line}: invalid YAML: ${err.message.split('\n')[0]}`, {
        hint: 'fix the YAML syntax',
      });
    }
  }
  /** `FILE:LINE` of the node at `at` (`FILE` when it has no position). */
  where(at: Path): string {
    const node = at.length ? this.doc.getIn(at, true) : this.doc.contents;
    const offset = (node as { range?: [number, number] } | null)?.range?.[0];
    return offset === undefined ? this.file : `${this.file}:${this.lines.linePos(offset).line}`;
  }
  fail(at: Path, problem: string, hint?: string): never {
    const where = at.length ? `${at.join('.')}: ` : '';
    throw new ConfigError(`${this.where(at)}: ${where}${problem}`, hint ? { hint } : {});
  }
  map(at: Path, optional = false): YAMLMap | undefined {
    const node = at.length ? this.doc.getIn(at, true) : this.doc.contents;
    if (node == null || (isScalar(node) && node.value == null)) {
      if (optional) return undefined;
      this.fail(at, 'is missing');
    }
    if (!isMap(node)) this.fail(at, 'must be a mapping');
    return node;
  }
  keys(at: Path, allowed: readonly string[]): string[] {
    const node = this.map(at, true);
    if (!node) return [];
    const keys: string[] = [];
    for (const pair of node.items) {
      const k = isScalar(pair.key) ? pair.key.value : pair.key;
      if (typeof k !== 'string') this.fail(at, 'has a non-string key');
      if (allowed.length && !allowed.includes(k)) {
        this.fail([...at, k], 'unknown key', `allowed here: ${allowed.join(', ')}`);
      }
      keys.push(k);
    }
    return keys;
  }
  /** A list of strings (absent: undefined). */
  strings(at: Path, what: string): string[] | undefined {
    const node = this.doc.getIn(at, true);
    if (node == null || (isScalar(node) && node.value == null)) return undefined;
    if (!isSeq(node)) this.fail(at, `must be a list of ${what}`);
    return node.items.map((_, i) => this.string([...at, i]));
  }
  raw(at: Path): unknown {
    const v = this.doc.getIn(at);
    return v === null ? undefined : v;
  }
  string(at: Path, def?: string): string {
    const v = this.raw(at);
    if (v === undefined) {
      if (def !== undefined) return def;
      this.fail(at, 'is missing');
    }
    if (typeof v !== 'string' || v.length === 0) this.fail(at, 'must be a non-empty string');
    return v;
  }
  /** A file named in the config: resolved against the config file's directory, never the working directory. */
  path(at: Path): string {
    const v = this.string(at);
    if (/[\0\r\n]/.test(v)) this.fail(at, 'must be a file path on one line');
    return path.resolve(path.dirname(this.file), v);
  }
  int(at: Path, def: number, min: number, max: number): number {
    const v = this.raw(at);
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(at, `must be a whole number from ${min} to ${max}`);
    }
    return v;
  }
}

const TOP_KEYS = ['secrets_dir', 'forge', 'known_hosts', 'host_groups', 'repos', 'rotation', 'audit'] as const;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseConfig(text: string, file: string): Config {
  const r: Reader = new Reader(text, file);
  const root = path.dirname(file);
  r.keys([], TOP_KEYS);

  const secretsRel = r.string(['secrets_dir'], 'sops');
  const secretsDir = path.resolve(root, secretsRel);
  const rel = path.relative(root, secretsDir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    r.fail(['secrets_dir'], `${JSON.stringify(secretsRel)} is outside the config directory`, 'use a path inside the repository, e.g. sops');
  }
  // The activation scripts go beside it (<secrets_dir>/../activation): inside the repository only when it is a subdirectory.
  if (rel === '') r.fail(['secrets_dir'], `${JSON.stringify(secretsRel)} is the config directory itself`, 'use a subdirectory, e.g. sops');

  const forge = parseForge(r);

  const knownHosts: string[] = [];
  const kh = r.doc.get('known_hosts', true);
  if (kh != null && !(isScalar(kh) && kh.value == null)) {
    if (!isSeq(kh)) r.fail(['known_hosts'], 'must be a list of known_hosts lines');
    kh.items.forEach((_, i) => {
      const line = r.string(['known_hosts', i]).trim();
      if (!/^\S+ (ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*$/.test(line)) {
        r.fail(['known_hosts', i], 'is not a known_hosts line "HOST TYPE BASE64"', 'copy it from ssh-keyscan output you verified out of band');
      }
      knownHosts.push(line);
    });
  }

  const groups = parseHostGroups(r);
  const repos: RepoConfig[] = [];
  for (const name of r.keys(['repos'], [])) {
    const problem = repoNameProblem(name);
    if (problem) r.fail(['repos', name], `repo name ${problem}`, 'use a name like nix-config');
    r.keys(['repos', name], ['url', 'clone_to', 'hosts', 'except']);
    const rawUrl = r.string(['repos', name, 'url']);
    const url = parseRepoUrl(rawUrl);
    if (typeof url === 'string') r.fail(['repos', name, 'url'], `${JSON.stringify(rawUrl)} ${url}`, 'use git@github.com:owner/repo.git or ssh://git@host:port/path.git');
    const hosts = parseHostSelection(r, name, groups);
    const repo: RepoConfig = { name, url, ...(hosts ? { hosts } : {}) };
    // Absent: <home>/<name> of the user the script installs for (activation/render.ts), as in the NixOS module.
    if (r.raw(['repos', name, 'clone_to']) !== undefined) {
      const cloneTo = r.string(['repos', name, 'clone_to']);
      if (!path.isAbsolute(cloneTo) || !/^\/[A-Za-z0-9._/@+-]*$/.test(cloneTo) || cloneTo.split('/').includes('..')) {
        r.fail(['repos', name, 'clone_to'], `${JSON.stringify(cloneTo)} must be an absolute path of letters, digits and . _ - @ + /`);
      }
      repo.cloneTo = cloneTo.replace(/\/+$/, '') || '/';
    }
    repos.push(repo);
  }
  if (repos.length === 0) r.fail(['repos'], 'must name at least one repository');

  r.keys(['rotation'], ['max_age_days', 'grace_days']);
  r.keys(['audit'], ['unused_days']);
  return {
    file,
    root,
    secretsDir,
    forge,
    knownHosts,
    repos,
    rotation: {
      maxAgeDays: r.int(['rotation', 'max_age_days'], 90, 1, 3650),
      graceDays: r.int(['rotation', 'grace_days'], 7, 0, 365),
    },
    audit: { unusedDays: r.int(['audit', 'unused_days'], 30, 1, 3650) },
  };
}

/** `host_groups: { NAME: [pattern, …] }`: named lists of host names and patterns (flat: a group names no group). */
function parseHostGroups(r: Reader): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const name of r.keys(['host_groups'], [])) {
    const problem = groupNameProblem(name);
    if (problem) r.fail(['host_groups', name], `${JSON.stringify(name)} ${problem}`, 'use a name like web or db-eu');
    const items = r.strings(['host_groups', name], 'host names or patterns');
    if (!items?.length) r.fail(['host_groups', name], 'must list at least one host name or pattern', 'e.g. [web-*, edge-01]');
    items.forEach((p, i) => {
      if (p.startsWith(GROUP_PREFIX)) r.fail(['host_groups', name, i], `${JSON.stringify(p)}: a group cannot name another group`, 'list the other group\'s patterns here, or name both groups in the repo\'s hosts');
      const pp = hostPatternProblem(p);
      if (pp) r.fail(['host_groups', name, i], `${JSON.stringify(p)} ${pp}`, 'e.g. web-01, web-*, db-0?');
    });
    groups.set(name, items);
  }
  return groups;
}

/**
 * `repos.<name>.hosts` and `.except`: host names, patterns and `group:NAME`;
 * undefined when neither is given (every host gets the repo).
 */
function parseHostSelection(r: Reader, repo: string, groups: Map<string, string[]>): HostSelection | undefined {
  const list = (key: 'hosts' | 'except'): string[] | undefined => {
    const at = ['repos', repo, key];
    const items = r.strings(at, 'host names, patterns or group:NAME');
    if (items === undefined) return undefined;
    if (items.length === 0) {
      r.fail(at, 'is an empty list', key === 'hosts' ? 'name at least one host, pattern or group:NAME, or remove hosts: to give the repo to every host' : 'remove except: or name a host');
    }
    return items.flatMap((item, i) => {
      if (item.startsWith(GROUP_PREFIX)) {
        const group = groups.get(item.slice(GROUP_PREFIX.length));
        if (!group) {
          const known = [...groups.keys()];
          r.fail([...at, i], `unknown host group ${JSON.stringify(item.slice(GROUP_PREFIX.length))}`, known.length ? `defined in host_groups: ${known.join(', ')}` : 'define it under host_groups: (e.g. host_groups: { web: [web-*] })');
        }
        return group;
      }
      const problem = hostPatternProblem(item);
      if (problem) r.fail([...at, i], `${JSON.stringify(item)} ${problem}`, 'e.g. web-01, web-*, db-0?, group:web');
      return [item];
    });
  };
  const include = list('hosts');
  const exclude = list('except');
  if (include === undefined && exclude === undefined) return undefined;
  return { include: include ?? [], exclude: exclude ?? [], at: r.where(['repos', repo, include === undefined ? 'except' : 'hosts']) };
}

function parseForge(r: Reader): ForgeConfig {
  if (!r.map(['forge'], true)) return defaultGithub();
  const type = r.string(['forge', 'type'], 'github');
  const tokenEnv = (def: string) => {
    const v = r.string(['forge', 'token_env'], def);
    if (!ENV_NAME_RE.test(v)) r.fail(['forge', 'token_env'], 'must be an environment variable name');
    return v;
  };
  const apiUrl = (def?: string) => {
    const v = r.string(['forge', 'api_url'], def);
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      r.fail(['forge', 'api_url'], `${JSON.stringify(v)} is not a URL`);
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
      r.fail(['forge', 'api_url'], `${JSON.stringify(v)} must use https (http only on loopback)`);
    }
    if (u.username || u.password) r.fail(['forge', 'api_url'], 'must not contain credentials', 'put the token in the variable named by token_env');
    return v.replace(/\/+$/, '');
  };
  switch (type) {
    case 'github': {
      r.keys(['forge'], ['type', 'api_url', 'token_env', 'auth', 'writes_per_minute', 'writes_per_hour']);
      const hasAuth = r.map(['forge', 'auth'], true) !== undefined;
      if (hasAuth && r.raw(['forge', 'token_env']) !== undefined) {
        r.fail(['forge', 'token_env'], 'cannot be used together with auth', 'keep token_env for a token, or auth for a GitHub App');
      }
      return {
        type,
        apiUrl: apiUrl('https://api.github.com'),
        auth: hasAuth ? githubApp(r) : { type: 'token', tokenEnv: tokenEnv('GITHUB_TOKEN') },
        writesPerMinute: r.int(['forge', 'writes_per_minute'], 80, 0, 100_000),
        writesPerHour: r.int(['forge', 'writes_per_hour'], 500, 0, 1_000_000),
      };
    }
    case 'gitea':
      r.keys(['forge'], ['type', 'api_url', 'token_env']);
      return { type, apiUrl: apiUrl(), tokenEnv: tokenEnv('GITEA_TOKEN') };
    case 'gitlab':
      r.keys(['forge'], ['type', 'api_url', 'token_env']);
      return { type, apiUrl: apiUrl('https://gitlab.com/api/v4'), tokenEnv: tokenEnv('GITLAB_TOKEN') };
    case 'ssh': {
      r.keys(['forge'], ['type', 'authorized_keys', 'target', 'port']);
      const target = r.raw(['forge', 'target']) === undefined ? undefined : r.string(['forge', 'target']);
      const problem = target === undefined ? undefined : parseSshTarget(target, { requireUser: true });
      if (typeof problem === 'string') r.fail(['forge', 'target'], `${JSON.stringify(target)} ${problem}`, 'e.g. git@git.example.org');
      // Local: relative to this file. Remote: a path on the server (relative to the account's home), used as written.
      let authorizedKeys: string;
      if (target === undefined) authorizedKeys = r.path(['forge', 'authorized_keys']);
      else {
        authorizedKeys = r.string(['forge', 'authorized_keys']);
        if (!/^[A-Za-z0-9._/][A-Za-z0-9._~/-]*$/.test(authorizedKeys)) {
          r.fail(['forge', 'authorized_keys'], `${JSON.stringify(authorizedKeys)} must be a path of letters, digits and . _ ~ - / on the server`);
        }
      }
      const port = r.raw(['forge', 'port']) === undefined ? undefined : r.int(['forge', 'port'], 22, 1, 65535);
      return { type, authorizedKeys, ...(target ? { target } : {}), ...(port ? { port } : {}) };
    }
    case 'manual':
      r.keys(['forge'], ['type']);
      return { type };
    default:
      r.fail(['forge', 'type'], `unknown forge type ${JSON.stringify(type)}`, 'use github, gitea, gitlab, ssh or manual');
  }
}

/** `forge.auth` of a GitHub App: `{ type: app, app_id, private_key_file, installation_id? }`. */
function githubApp(r: Reader): GithubForgeConfig['auth'] {
  const at = ['forge', 'auth'];
  r.keys(at, ['type', 'app_id', 'private_key_file', 'installation_id']);
  const type = r.string([...at, 'type']);
  if (type !== 'app') r.fail([...at, 'type'], `${JSON.stringify(type)} is not an auth type`, 'use type: app (a token goes in forge.token_env)');
  const rawId = r.raw([...at, 'app_id']);
  if (rawId === undefined) r.fail([...at, 'app_id'], 'is missing', 'copy the App ID from the App settings page');
  const appId =
    typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId > 0 ? rawId
    : typeof rawId === 'string' && /^Iv[0-9A-Za-z.]{4,40}$/.test(rawId) ? rawId
    : r.fail([...at, 'app_id'], 'must be the App ID (a number) or its client ID (Iv…)');
  const privateKeyFile = r.path([...at, 'private_key_file']);
  const installationId = r.raw([...at, 'installation_id']) === undefined ? undefined : r.int([...at, 'installation_id'], 0, 1, Number.MAX_SAFE_INTEGER);
  return { type, appId, privateKeyFile, ...(installationId === undefined ? {} : { installationId }) };
}

function defaultGithub(): ForgeConfig {
  return { type: 'github', apiUrl: 'https://api.github.com', auth: { type: 'token', tokenEnv: 'GITHUB_TOKEN' }, writesPerMinute: 80, writesPerHour: 500 };
}

/** The environment variable the forge's token comes from; undefined when it needs none (GitHub App, ssh, manual). */
export function forgeTokenEnv(forge: ForgeConfig): string | undefined {
  if (forge.type === 'github') return forge.auth.type === 'token' ? forge.auth.tokenEnv : undefined;
  return forge.type === 'gitea' || forge.type === 'gitlab' ? forge.tokenEnv : undefined;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Looks a repo up by name; the error lists the configured ones. */
export function repoByName(config: Config, name: string): RepoConfig {
  const repo = config.repos.find((r) => r.name === name);
  if (!repo) {
    throw new ConfigError(`repo ${JSON.stringify(name)} is not in ${config.file}`, {
      hint: `configured repos: ${config.repos.map((r) => r.name).join(', ')}`,
    });
  }
  return repo;
}

/** `<secrets_dir>/<host>.yaml`. The host name must already be validated. */
export function hostFilePath(config: Config, host: string): string {
  return path.join(config.secretsDir, `${host}.yaml`);
}
