/** The validated configuration (`deploy-keys.yaml`), with absolute paths. */
import type { RepoUrl } from './repo-url.js';

/** A token from the environment: a personal access token, an OAuth token or a ready-made installation token. */
export interface TokenAuthConfig {
  type: 'token';
  /** Name of the environment variable that holds the token. */
  tokenEnv: string;
}

/** A GitHub App: installation tokens are minted with its private key (see scripts/lib/forge/github-auth.ts). */
export interface GithubAppAuthConfig {
  type: 'app';
  /** The App ID (or its client ID, `Iv…`): the JWT's issuer. */
  appId: number | string;
  /** Absolute path of the App's private key (PEM), a secret: mode 0600. */
  privateKeyFile: string;
  /** Absent: found per repository owner (`GET /repos/{owner}/{repo}/installation`). */
  installationId?: number;
}

export interface GithubForgeConfig {
  type: 'github';
  /** API base, e.g. https://api.github.com or https://ghe.example.com/api/v3. */
  apiUrl: string;
  auth: TokenAuthConfig | GithubAppAuthConfig;
  /** Content-creating requests allowed per minute / hour (GitHub's secondary limits). 0 = unlimited. */
  writesPerMinute: number;
  writesPerHour: number;
}

export interface GiteaForgeConfig {
  type: 'gitea';
  apiUrl: string;
  tokenEnv: string;
}

/** gitlab.com or a self-managed GitLab (`api_url` ending in /api/v4). */
export interface GitlabForgeConfig {
  type: 'gitlab';
  apiUrl: string;
  /** Sent as PRIVATE-TOKEN: a personal, group or project access token with the Maintainer role and `api` scope. */
  tokenEnv: string;
}

export interface SshForgeConfig {
  type: 'ssh';
  /**
   * authorized_keys file of the git server's account: a local absolute path
   * (configured relative to the config file), or, with `target`, the path on
   * the server as configured (relative to the account's home).
   */
  authorizedKeys: string;
  /** `user@host` to reach the git server over ssh when the file is remote; absent = local file. */
  target?: string;
  port?: number;
}

export interface ManualForgeConfig {
  type: 'manual';
}

export type ForgeConfig = GithubForgeConfig | GiteaForgeConfig | GitlabForgeConfig | SshForgeConfig | ManualForgeConfig;

/** `forge.type`: which provider registers the keys. */
export type ForgeType = ForgeConfig['type'];

/**
 * Which hosts get a repo (`repos.<name>.hosts` / `except`): lower-case host
 * names and patterns (`*`, `?`), `group:NAME` references already expanded.
 * A host is selected when it matches `include` (or `include` is empty) and
 * does not match `exclude`.
 */
export interface HostSelection {
  include: string[];
  exclude: string[];
  /** `FILE:LINE` of the repo's `hosts` (else `except`) entry, for messages. */
  at: string;
}

export interface RepoConfig {
  /** The config key, validated: `[a-z0-9][a-z0-9._-]*`. */
  name: string;
  url: RepoUrl;
  /** Absolute path on the host where the repo is cloned; absent: `<home>/<name>` of the user installed for. */
  cloneTo?: string;
  /** Absent: every host gets the repo. */
  hosts?: HostSelection;
}

export interface Config {
  /** Absolute path of the config file. */
  file: string;
  /** Directory of the config file; relative paths are resolved against it. */
  root: string;
  /** Absolute directory of the host files `<host>.yaml`. */
  secretsDir: string;
  forge: ForgeConfig;
  /** Extra pinned host keys, known_hosts lines. github.com's keys are built in. */
  knownHosts: string[];
  /** In config order. */
  repos: RepoConfig[];
  rotation: { maxAgeDays: number; graceDays: number };
  audit: { unusedDays: number };
}
