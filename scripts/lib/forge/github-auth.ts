/**
 * Who the GitHub provider speaks as: a token from the environment (PAT,
 * OAuth or a ready-made installation token), or a GitHub App whose
 * installation tokens are minted here.
 *
 * Why an App: GitHub deletes a deploy key when the personal access token or
 * OAuth token that created it is deleted or revoked, so keys created with a
 * person's token vanish when that person leaves. Keys created with an App
 * installation token survive uninstalling the App. The App needs the
 * repository permission "Administration: read and write" (deploy keys are
 * repository administration).
 *
 * App flow (with @octokit/auth-app): a JWT signed with the App's private key
 * (RS256, ten minutes) finds the installation for each repository owner
 * (`GET /repos/{owner}/{repo}/installation`, unless `installation_id` is
 * configured) and mints its installation token
 * (`POST /app/installations/{id}/access_tokens`, valid one hour). Tokens are
 * cached per installation and minted again when less than `refreshMarginMs`
 * is left, so a long fleet run never sends an expired one. Tokens, JWTs and
 * the private key never reach a message, a log or an error.
 */
import { createPrivateKey } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import type { Octokit } from '@octokit/rest';
import type { GithubAppAuthConfig, RepoConfig } from '../config/index.js';
import { DeployKeysError } from '../errors.js';
import { AppNotInstalled, ForgeFailure, Unauthorized, type ForgeError, type ForgeErrorContext } from './errors.js';
import type { Clock } from './types.js';

export interface GithubCredential {
  /** Names the credential in messages, never its value. */
  readonly label: string;
  /** Hint for a 401 on a request made with this credential. */
  readonly unauthorizedHint: string | undefined;
  /** The `authorization` header for requests about `repo`. */
  authorization(repo: RepoConfig): Promise<string>;
  /** Whether a deploy key's `added_by` is this credential itself (an App's bot login). */
  isSelf(addedBy: string): boolean;
}

export type TokenKind = 'app-installation' | 'classic-pat' | 'fine-grained-pat' | 'oauth' | 'app-user' | 'unknown';

function tokenKind(token: string): TokenKind {
  if (token.startsWith('ghs_')) return 'app-installation';
  if (token.startsWith('ghp_')) return 'classic-pat';
  if (token.startsWith('github_pat_')) return 'fine-grained-pat';
  if (token.startsWith('gho_')) return 'oauth';
  if (token.startsWith('ghu_')) return 'app-user';
  return 'unknown';
}

/** The warning for a token whose deletion or revocation deletes the keys it created, or undefined. */
export function tokenWarning(token: string, tokenEnv: string): string | undefined {
  const kind = tokenKind(token);
  const why =
    kind === 'classic-pat' ? 'a classic personal access token (ghp_)'
    : kind === 'fine-grained-pat' ? 'a fine-grained personal access token (github_pat_)'
    : kind === 'oauth' ? 'an OAuth token (gho_)'
    : undefined;
  if (!why) return undefined;
  return (
    `$${tokenEnv} is ${why}: GitHub deletes the deploy keys a token created when that token is deleted or revoked, ` +
    'which would cut every host off its repos. Use a GitHub App instead (forge.auth: { type: app, … }, see the README) with "Administration: read and write" on the repos.'
  );
}

/** A token from the environment, sent as is. */
export class TokenCredential implements GithubCredential {
  readonly label: string;
  readonly unauthorizedHint = undefined;
  constructor(
    private readonly token: string,
    tokenEnv: string,
  ) {
    this.label = `the token in $${tokenEnv}`;
  }
  authorization(): Promise<string> {
    return Promise.resolve(`token ${this.token}`);
  }
  isSelf(): boolean {
    return false;
  }
}

/** What createAppAuth() returns, narrowed to the two calls made here. */
export interface AppAuth {
  (o: { type: 'app' }): Promise<{ token: string }>;
  (o: { type: 'installation'; installationId: number; refresh: true }): Promise<{ token: string; expiresAt: string; permissions: Record<string, string | undefined> }>;
}

interface Minted {
  token: string;
  expiresAt: number;
  permissions: Record<string, string | undefined>;
}

export interface AppCredentialOptions {
  appId: number | string;
  installationId?: number;
  auth: AppAuth;
  /** The provider's Octokit (its retry, throttling and API-version hooks apply to these calls too). */
  octokit: Pick<Octokit, 'request'>;
  clock: Clock;
  /** Mint again when less than this is left (default 10 min of the token's hour). */
  refreshMarginMs?: number;
}

export class AppCredential implements GithubCredential {
  readonly label: string;
  readonly unauthorizedHint =
    'the App was uninstalled or suspended, or its installation token was revoked; reinstall it on the owner (a 401 is never retried)';
  private readonly installations = new Map<string, Promise<number>>();
  private readonly tokens = new Map<number, { minted: Promise<Minted>; expiresAt?: number }>();
  private readonly marginMs: number;
  private slug: string | undefined;

  constructor(private readonly o: AppCredentialOptions) {
    this.label = `GitHub App ${o.appId}`;
    this.marginMs = o.refreshMarginMs ?? 10 * 60_000;
  }

  async authorization(repo: RepoConfig): Promise<string> {
    const minted = await this.tokenFor(await this.installationFor(repo), ctxOf(repo));
    return `token ${minted.token}`;
  }

  /** Keys the App created carry its bot login (`<slug>[bot]`), known once GET /app answered. */
  isSelf(addedBy: string): boolean {
    return this.slug !== undefined && (addedBy === this.slug || addedBy === `${this.slug}[bot]`);
  }

  /** Preflight: the App's key is accepted; returns its slug and the repository permissions it asked for. */
  async checkApp(): Promise<{ slug: string; administration: string | undefined }> {
    const ctx: ForgeErrorContext = { forge: 'github' };
    const jwt = await this.jwt();
    try {
      const res = await this.o.octokit.request('GET /app', { headers: { authorization: `bearer ${jwt}` } });
      // GitHub types GET /app as nullable.
      this.slug = res.data?.slug;
      return { slug: this.slug ?? String(this.o.appId), administration: res.data?.permissions.administration };
    } catch (e) {
      throw this.appError(e, ctx);
    }
  }

  /** Preflight: the installation token's own permissions for `repo` (what GitHub granted, not what was asked for). */
  async grantedAdministration(repo: RepoConfig): Promise<string | undefined> {
    return (await this.tokenFor(await this.installationFor(repo), ctxOf(repo))).permissions.administration;
  }

  private async jwt(): Promise<string> {
    return (await this.o.auth({ type: 'app' })).token;
  }

  private installationFor(repo: RepoConfig): Promise<number> {
    if (this.o.installationId !== undefined) return Promise.resolve(this.o.installationId);
    const owner = repo.url.owner.toLowerCase();
    let p = this.installations.get(owner);
    if (!p) {
      p = this.discover(repo);
      this.installations.set(owner, p);
      p.catch(() => this.installations.delete(owner));
    }
    return p;
  }

  private async discover(repo: RepoConfig): Promise<number> {
    const jwt = await this.jwt();
    try {
      const res = await this.o.octokit.request('GET /repos/{owner}/{repo}/installation', {
        owner: repo.url.owner,
        repo: repo.url.repo,
        headers: { authorization: `bearer ${jwt}` },
      });
      return res.data.id;
    } catch (e) {
      throw this.appError(e, ctxOf(repo));
    }
  }

  /** The installation's token, minted again shortly before it expires. */
  private tokenFor(id: number, ctx: ForgeErrorContext): Promise<Minted> {
    const cached = this.tokens.get(id);
    if (cached && (cached.expiresAt === undefined || cached.expiresAt - this.o.clock.now() > this.marginMs)) return cached.minted;
    const entry: { minted: Promise<Minted>; expiresAt?: number } = { minted: this.mint(id, ctx) };
    entry.minted.then(
      (m) => (entry.expiresAt = m.expiresAt),
      () => {
        if (this.tokens.get(id) === entry) this.tokens.delete(id);
      },
    );
    this.tokens.set(id, entry);
    return entry.minted;
  }

  private async mint(id: number, ctx: ForgeErrorContext): Promise<Minted> {
    try {
      const a = await this.o.auth({ type: 'installation', installationId: id, refresh: true });
      return { token: a.token, expiresAt: Date.parse(a.expiresAt), permissions: a.permissions };
    } catch (e) {
      throw this.appError(e, ctx, id);
    }
  }

  /** Failures of the App's own requests (JWT, discovery, minting), with what to do about each. */
  private appError(e: unknown, ctx: ForgeErrorContext, installation?: number): ForgeError {
    const status = (e as { status?: unknown } | null)?.status;
    const c = { ...ctx, ...(typeof status === 'number' ? { status } : {}) };
    if (status === 401) {
      return new Unauthorized(
        c,
        `${this.label}'s JWT`,
        e,
        'check forge.auth.app_id and that private_key_file holds a current private key of that App; the JWT is time-limited, so check the system clock too',
      );
    }
    if (status === 404) return new AppNotInstalled(c, installation === undefined ? this.label : `${this.label} (installation ${installation})`, e);
    if (status === 403) {
      return new ForgeFailure(c, `${this.label}: installation ${installation ?? '?'} refused to issue a token (suspended?)`, 'unsuspend the installation in the owner\'s settings (Settings → GitHub Apps)', e);
    }
    if (e instanceof DeployKeysError) return new ForgeFailure(c, e.message, 'check forge.auth', e);
    return new ForgeFailure(c, `${this.label}: ${typeof status === 'number' ? `HTTP ${status}` : 'request failed'}`, 'see the GitHub status page, then run again', e);
  }
}

function ctxOf(repo: RepoConfig): ForgeErrorContext {
  return { forge: 'github', repo: `${repo.url.owner}/${repo.url.repo}` };
}

const MAX_KEY_BYTES = 16 * 1024;

/**
 * Reads the App's private key: a regular file (a symlink to one, as sops-nix
 * makes, is fine) owned by this user or root, with no group or other access,
 * holding one RSA private key in PEM. Errors name the file, never its content.
 */
export async function readAppPrivateKey(cfg: GithubAppAuthConfig): Promise<string> {
  const file = cfg.privateKeyFile;
  const fail = (problem: string, hint: string): never => {
    throw new DeployKeysError(`forge.auth.private_key_file ${file}: ${problem}`, { hint });
  };
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOCTTY);
  } catch (e) {
    return fail(`cannot open (${(e as NodeJS.ErrnoException).code ?? 'error'})`, 'download the key from the App settings (Private keys → Generate) and point private_key_file at it');
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) fail('is not a regular file', 'point it at the .pem file GitHub gave you');
    if ((st.mode & 0o077) !== 0) fail(`is readable by others (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${file}`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid && st.uid !== 0) fail(`is owned by uid ${st.uid}, not by this user`, `chown it to the user running deploy-keys`);
    if (st.size > MAX_KEY_BYTES) fail('is too large for a private key', 'point it at the .pem file GitHub gave you');
    const pem = await handle.readFile('utf8');
    let type: string | undefined;
    try {
      type = createPrivateKey(pem).asymmetricKeyType;
    } catch {
      fail('does not hold a PEM private key', 'use the .pem file from the App settings (-----BEGIN RSA PRIVATE KEY-----)');
    }
    if (type !== 'rsa') fail(`holds a ${type ?? 'non-RSA'} key; GitHub Apps use RSA keys`, 'use the .pem file from the App settings');
    return pem;
  } finally {
    await handle.close();
  }
}
