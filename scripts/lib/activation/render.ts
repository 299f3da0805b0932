/**
 * Renders the activation script: a rendered header and data section spliced
 * into the static shell logic of template.sh. nix/lib.nix splices the same
 * template with the same data, so the NixOS module runs this exact logic.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertHostRepos, assertRepoForHost, type Config, type RepoConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { hostNameProblem, repoNameProblem } from '../names.js';
import { publicKeyProblem, renderKnownHostsFile, type Endpoint } from './known-hosts.js';
import { shQuote, shQuoteText } from './shell-quote.js';
import { assertDistinctRepos, gitSshCommand, gitSshPath, renderGitSshScript } from './git-ssh.js';
import { aliasUrl, insteadOfRules, renderSshConfigBlock, repoAlias } from './ssh-config-block.js';

export interface ActivationOptions {
  /** The user whose `~/.ssh` receives the keys. Default root. */
  user?: string;
  /** That user's home. Default `/root` for root, else `/home/<user>`. */
  home?: string;
  /** Write git insteadOf rules unless the script is run with --no-insteadof. Default false. */
  insteadOf?: boolean;
  /** Fast-forward existing checkouts unless run with --no-pull. Default false. */
  pull?: boolean;
  /**
   * Install git's ssh command for the deploy keys (git-ssh.sh) and point
   * core.sshCommand at it, unless run with --no-git-ssh. Default true.
   */
  gitSsh?: boolean;
  /**
   * Expected public key (`type base64 [comment]`) per repo name. Embedded so
   * the script refuses a private key that does not match; without it the
   * script derives the .pub with ssh-keygen and can only catch unreadable keys.
   */
  publicKeys?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Only these repos, each one the config gives the host (default: every repo it gives the host). */
  repos?: readonly string[];
}

const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const PATH_RE = /^\/[A-Za-z0-9._/@+-]*$/;

function fail(msg: string, hint?: string): never {
  throw new ConfigError(msg, hint ? { hint } : {});
}

function lookup(keys: ActivationOptions['publicKeys'], name: string): string | undefined {
  if (!keys) return undefined;
  if (keys instanceof Map) return (keys as ReadonlyMap<string, string>).get(name);
  return Object.prototype.hasOwnProperty.call(keys, name) ? (keys as Record<string, string>)[name] : undefined;
}

/** Checks a `type base64 [comment]` public key line; returns it trimmed. */
export function checkPublicKey(line: string, repo: string): string {
  const t = line.trim();
  const [, type, blob] = /^(\S+) (\S+)(?: ([A-Za-z0-9._@+-]{1,200}))?$/.exec(t) ?? [];
  if (type === undefined || blob === undefined) fail(`public key for repo ${repo} is not "TYPE BASE64 [COMMENT]" (comment: letters, digits, . _ @ + -)`);
  const problem = publicKeyProblem(type, blob);
  if (problem) fail(`public key for repo ${repo} ${problem}`);
  return t;
}

/** A repo as installed for one user: its clone path resolved. */
export type InstalledRepo = RepoConfig & { cloneTo: string };

export interface RenderInput {
  host: string;
  user: string;
  home: string;
  insteadOf: boolean;
  pull: boolean;
  gitSsh: boolean;
  repos: { repo: InstalledRepo; publicKey: string | undefined }[];
  knownHosts: readonly string[];
}

/** Validates everything that reaches the script; throws ConfigError with a hint. */
export function activationInput(config: Config, host: string, opts: ActivationOptions = {}): RenderInput {
  const hp = hostNameProblem(host);
  if (hp) fail(`host name ${JSON.stringify(host)} ${hp}`);
  const user = opts.user ?? 'root';
  if (!USER_RE.test(user)) fail(`user ${JSON.stringify(user)} is not a valid user name`);
  const home = (opts.home ?? (user === 'root' ? '/root' : `/home/${user}`)).replace(/(.)\/+$/, '$1');
  if (!PATH_RE.test(home) || home.split('/').includes('..')) {
    fail(`home ${JSON.stringify(home)} must be an absolute path of letters, digits and . _ - @ + /`);
  }
  // Only the repos the config gives this host (repos.<name>.hosts): least privilege.
  let repos = assertHostRepos(config, host);
  if (opts.repos) {
    const want = new Set(opts.repos);
    for (const n of want) assertRepoForHost(config, host, n);
    repos = repos.filter((r) => want.has(r.name));
  }
  if (repos.length === 0) fail('no repos to install');
  assertDistinctRepos(repos);
  const aliases = new Map<string, string>();
  const out: RenderInput['repos'] = [];
  for (const repo of repos) {
    const rp = repoNameProblem(repo.name);
    if (rp) fail(`repo name ${JSON.stringify(repo.name)} ${rp}`);
    // Default: in the home of the user installed for (the NixOS module's default too).
    const cloneTo = repo.cloneTo ?? (home === '/' ? `/${repo.name}` : `${home}/${repo.name}`);
    if (!PATH_RE.test(cloneTo) || cloneTo.split('/').includes('..')) fail(`clone_to of ${repo.name} is not a safe absolute path`);
    const alias = repoAlias(repo);
    const other = aliases.get(alias);
    if (other) fail(`repos ${other} and ${repo.name} get the same ssh alias ${alias}`);
    aliases.set(alias, repo.name);
    const pub = lookup(opts.publicKeys, repo.name);
    out.push({ repo: { ...repo, cloneTo }, publicKey: pub === undefined ? undefined : checkPublicKey(pub, repo.name) });
  }
  // Checked in config order (messages name repos as the file lists them), then
  // one canonical order, by name: the NixOS module lists its repos attribute
  // set (by name) and nix/lib.nix sorts a description, so the script does not
  // depend on the order deploy-keys.yaml happens to use.
  out.sort((a, b) => compareNames(a.repo.name, b.repo.name));
  return { host, user, home, insteadOf: !!opts.insteadOf, pull: !!opts.pull, gitSsh: opts.gitSsh ?? true, repos: out, knownHosts: config.knownHosts };
}

/** Byte order of repo names ([a-z0-9._-]: code units are bytes), as Nix compares strings. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const templates = new Map<string, string>();

/**
 * A shell template, read once from beside this module: the source tree when
 * run from source, dist/ when compiled (the build copies it there).
 */
function template(name: 'template.sh' | 'git-ssh.sh'): string {
  let text = templates.get(name);
  if (text === undefined) {
    text = readAsset(name);
    templates.set(name, text);
  }
  return text;
}

export function activationTemplate(): string {
  return template('template.sh');
}

function readAsset(name: string): string {
  const file = new URL(name, import.meta.url);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${fileURLToPath(file)} is missing (${(e as NodeJS.ErrnoException).code ?? 'unreadable'}); rebuild the package (npm run build copies it)`, { cause: e });
  }
}

/** The header comment lines naming the host, the user and each repo. */
function renderHeader(input: RenderInput): string {
  const lines = [
    `# deploy-keys activation script for host ${input.host}, user ${input.user} (home ${input.home}).`,
    '# Generated by nix-deploy-keys from deploy-keys.yaml: edit that, not this file.',
    '# Reads <keys-dir>/<repo> (or the stdin stream) for each repo:',
    ...input.repos.map(
      ({ repo }) => `#   ${repo.name}: ${repo.url.raw} -> ${repo.cloneTo} via ssh alias ${repoAlias(repo)}`,
    ),
  ];
  return lines.join('\n') + '\n';
}

/**
 * What the script puts in `~/.ssh` beside the keys: the pins file and the
 * config block of aliases. `check` probes through the same two texts.
 */
export function sshFiles(input: RenderInput): { knownHosts: string; configBlock: string } {
  const endpoints: Endpoint[] = input.repos.map(({ repo }) => ({ host: repo.url.host, port: repo.url.port, repo: repo.name }));
  return {
    knownHosts: renderKnownHostsFile(endpoints, input.knownHosts),
    configBlock: renderSshConfigBlock(
      input.repos.map((r) => r.repo),
      input.home,
    ),
  };
}

export function renderData(input: RenderInput): string {
  const { knownHosts, configBlock: block } = sshFiles(input);
  const repos = input.repos.map((r) => r.repo);
  const gitSsh = renderGitSshScript(template('git-ssh.sh'), input.host, input.user, input.home, repos);
  const repoLines = input.repos.map(
    ({ repo, publicKey }) =>
      `  "$@" ${[repo.name, repoAlias(repo), aliasUrl(repo), repo.cloneTo, publicKey ?? ''].map((v) => shQuote(v)).join(' ')}`,
  );
  const rules = input.repos.flatMap(({ repo }) => insteadOfRules(repo));
  const ruleLines = rules.map((r) => `  "$@" ${shQuote(r.base)} ${shQuote(r.value)}`);
  return [
    '# ---- data for this host (rendered) ----',
    `DK_HOST=${shQuote(input.host)}`,
    `DK_USER=${shQuote(input.user)}`,
    `DK_HOME=${shQuote(input.home)}`,
    `DK_INSTEADOF=${input.insteadOf ? 1 : 0}`,
    `DK_PULL=${input.pull ? 1 : 0}`,
    `DK_KNOWN_HOSTS=${shQuoteText(knownHosts)}`,
    `DK_SSH_BLOCK=${shQuoteText(block)}`,
    `DK_GIT_SSH=${input.gitSsh ? 1 : 0}`,
    `DK_GIT_SSH_FILE=${shQuote(gitSshPath(input.home))}`,
    '# shellcheck disable=SC2016 # literal: expanded by the shell git starts',
    `DK_GIT_SSH_COMMAND=${shQuote(gitSshCommand(input.home))}`,
    '# shellcheck disable=SC1003,SC2016 # the text of another script',
    `DK_GIT_SSH_SCRIPT=${shQuoteText(gitSsh)}`,
    '# dk_repos FUNCTION: calls FUNCTION name alias clone-url clone-to expected-public-key, per repo.',
    'dk_repos() {',
    ...repoLines,
    '}',
    '# dk_insteadof_rules FUNCTION: calls FUNCTION base value, per git url.<base>.insteadOf rule.',
    'dk_insteadof_rules() {',
    ...(ruleLines.length ? ruleLines : ['  :']),
    '}',
    '',
  ].join('\n');
}

export function renderFromInput(input: RenderInput): string {
  const text = activationTemplate();
  if (!text.includes('# @HEADER@\n') || !text.includes('# @DATA@\n')) throw new Error('template.sh lost its placeholders');
  return text.replace('# @HEADER@\n', () => renderHeader(input)).replace('# @DATA@\n', () => renderData(input));
}

/**
 * The same inputs as plain JSON: what nix/lib.nix's renderScript takes and
 * what the module's `descriptionFile` option reads, so the module need not
 * repeat deploy-keys.yaml. Validated like the script itself.
 */
export interface ActivationDescription extends Omit<RenderInput, 'repos' | 'knownHosts'> {
  repos: { name: string; url: string; cloneTo: string; publicKey: string | null }[];
  knownHosts: string[];
}

export function activationDescription(config: Config, host: string, opts: ActivationOptions = {}): ActivationDescription {
  const input = activationInput(config, host, opts);
  renderData(input); // throws on unpinned hosts and bad known_hosts lines, like the renderer
  return {
    host: input.host,
    user: input.user,
    home: input.home,
    insteadOf: input.insteadOf,
    pull: input.pull,
    gitSsh: input.gitSsh,
    repos: input.repos.map(({ repo, publicKey }) => ({ name: repo.name, url: repo.url.raw, cloneTo: repo.cloneTo, publicKey: publicKey ?? null })),
    knownHosts: [...input.knownHosts],
  };
}

/**
 * The activation script for `host`: a POSIX sh script holding no secret.
 * Pure apart from reading the packaged template once. Throws ConfigError
 * (e.g. a repo's host has no pinned key) with a hint.
 */
export function renderActivationScript(config: Config, host: string, opts: ActivationOptions = {}): string {
  return renderFromInput(activationInput(config, host, opts));
}
