/**
 * The managed block of `~/.ssh/config` (one `Host` alias per repo) and the git
 * `insteadOf` rules that send a repo's canonical URLs through its alias.
 *
 * nix/lib.nix renders the same text from the same inputs; test/nix checks the
 * two renderers byte for byte.
 */
import type { RepoConfig } from '../config/index.js';

export const BLOCK_BEGIN = '# BEGIN nix-deploy-keys';
export const BLOCK_END = '# END nix-deploy-keys';
export const KNOWN_HOSTS_FILE = 'deploy-keys_known_hosts';

/** `github.com-nix-config`. IPv6 colons become `_` so the alias stays usable in scp-like URLs. */
export function repoAlias(repo: Pick<RepoConfig, 'name' | 'url'>): string {
  return `${repo.url.host.replace(/:/g, '_')}-${repo.name}`;
}

/** The URL clones use: scp-like through the alias, the server path unchanged. */
export function aliasUrl(repo: Pick<RepoConfig, 'name' | 'url'>): string {
  return `${repoAlias(repo)}:${repo.url.path}`;
}

export function keyFileName(repoName: string): string {
  return `${repoName}-deploy`;
}

/** The user's `~/.ssh` as the files written for the host name it (`/.ssh` for home `/`). */
export function sshDir(home: string): string {
  return `${home === '/' ? '' : home}/.ssh`;
}

/** One `Host` stanza per repo, between markers; ends with `Host *` (see below). */
export function renderSshConfigBlock(repos: readonly RepoConfig[], home: string): string {
  const dir = sshDir(home);
  const lines = [
    `${BLOCK_BEGIN} (managed by the deploy-keys activation script; edits inside are overwritten)`,
  ];
  for (const r of repos) {
    lines.push(
      `Host ${repoAlias(r)}`,
      `  HostName ${r.url.host}`,
      ...(r.url.port === 22 ? [] : [`  Port ${r.url.port}`]),
      `  User ${r.url.user}`,
      `  IdentityFile ${dir}/${keyFileName(r.name)}`,
      '  IdentitiesOnly yes',
      '  StrictHostKeyChecking yes',
      `  UserKnownHostsFile ${dir}/${KNOWN_HOSTS_FILE}`,
      // Only the pins we rendered count: a TOFU-scanned or stale key in the
      // system file (e.g. GitHub's pre-2023 RSA key) must not be accepted.
      '  GlobalKnownHostsFile /dev/null',
      // Nor SSHFP records from DNS (a later `Host *` may turn this on).
      '  VerifyHostKeyDNS no',
      '  UpdateHostKeys no',
      '  BatchMode yes',
      '  ForwardAgent no',
    );
  }
  // The block goes first in the file; without this, the user's top-level
  // options that follow would become part of our last Host stanza.
  lines.push('Host *', BLOCK_END);
  return lines.join('\n') + '\n';
}

export interface InsteadOfRule {
  /** `url.<base>.insteadOf` */
  base: string;
  value: string;
}

/**
 * `url.<alias>:<path>.insteadOf` rules for the URL forms people write for the
 * repo: scp-like, ssh:// and https://, each with and without `.git`. git
 * rewrites by longest prefix, so `…/repo` also catches `…/repo-other` when
 * that repo is not configured itself; the rewritten URL then fails with
 * "access denied" rather than reaching another repo.
 */
export function insteadOfRules(repo: RepoConfig): InsteadOfRule[] {
  const u = repo.url;
  const alias = repoAlias(repo);
  const p = u.path.replace(/\/+$/, '').replace(/\.git$/, '');
  const abs = p.startsWith('/') ? p : `/${p}`;
  const v6 = u.host.includes(':');
  const hostPart = v6 ? `[${u.host}]` : u.host;
  const forms: string[] = [];
  if (u.port === 22 && !v6) forms.push(`${u.user}@${u.host}:${p}`);
  forms.push(`ssh://${u.user}@${hostPart}${u.port === 22 ? '' : `:${u.port}`}${abs}`);
  if (u.port === 22 && !v6 && !/^\d+\.\d+\.\d+\.\d+$/.test(u.host)) forms.push(`https://${u.host}${abs}`);
  const base = `${alias}:${p}`;
  return [
    ...forms.map((value) => ({ base, value })),
    ...forms.map((value) => ({ base: `${base}.git`, value: `${value}.git` })),
  ];
}
