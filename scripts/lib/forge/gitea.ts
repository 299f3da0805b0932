/**
 * Gitea and Forgejo deploy keys over `/api/v1/repos/{owner}/{repo}/keys`
 * with plain fetch. Same guarantees as the GitHub provider where the API
 * allows: read_only sent and checked, fingerprints computed locally,
 * transient failures retried with backoff (never 401), 429 waited out, a
 * create whose reply was lost is never blindly repeated (http-forge.ts).
 *
 * Gitea answers 422 for a duplicate title in the repo (TitleInUse), for a key
 * already in this repo (adopted when the fingerprint matches), and for a key
 * used as a user key (KeyInUse). Unlike GitHub, Gitea lets one deploy key be
 * attached to several repos. Gitea has no documented secondary write limits;
 * writes are not throttled.
 */
import type { RepoConfig } from '../config/index.js';
import { isTrue, registeredKey, type ParsedKey } from './fingerprint.js';
import { ForgeFailure, InvalidKey, KeyInUse, TitleInUse, type ForgeError, type ForgeErrorContext } from './errors.js';
import type { HttpError } from './http.js';
import { HttpForge, type HttpForgeOptions } from './http-forge.js';
import type { AddKeyRequest, DeployKey } from './types.js';

export type GiteaForgeOptions = HttpForgeOptions;

interface GiteaKey {
  id: number;
  key: string;
  title: string;
  /** Optional here whatever the API says: a key without it must not count as read-only. */
  read_only?: boolean;
  created_at?: string;
}

export class GiteaForge extends HttpForge<GiteaKey> {
  readonly kind = 'gitea' as const;

  constructor(opts: GiteaForgeOptions) {
    super(opts, {
      suffix: '/api/v1',
      authHeader: (token) => ({ authorization: `token ${token}` }),
      // Gitea caps pages at its MAX_RESPONSE_ITEMS (default 50).
      sizeParam: 'limit',
      maxPageSize: 50,
      listingProves: 'each repo is reachable and the token may manage its deploy keys (keys listed)',
      notChecked: ['whether a key is already used as a user key elsewhere on the server (only visible on create)'],
    });
  }

  protected repoLabel(repo: RepoConfig): string {
    return `${repo.url.owner}/${repo.url.repo}`;
  }

  protected keysPath(repo: RepoConfig): string {
    return `/repos/${encodeURIComponent(repo.url.owner)}/${encodeURIComponent(repo.url.repo)}/keys`;
  }

  protected createBody(req: AddKeyRequest, key: ParsedKey): Record<string, unknown> {
    return { title: req.title, key: key.key, read_only: true };
  }

  protected toDeployKey(repo: RepoConfig, k: GiteaKey): DeployKey {
    return registeredKey(repo, k.id, k.title, k.key, isTrue(k.read_only), { createdAt: k.created_at });
  }

  /** Gitea's 422 messages (routers/api/v1/repo/key.go HandleAddKeyError). */
  protected validationError(e: HttpError, c: ForgeErrorContext, title: string): ForgeError {
    const message = e.serverMessage();
    if (/title (has been|already) used|name.*already/i.test(message)) return new TitleInUse(c, title, e);
    if (/already been added|already exist|has been used|already in use/i.test(message)) return new KeyInUse(c, e);
    if (/invalid|content/i.test(message)) return new InvalidKey(c, message, e);
    return new ForgeFailure(c, `validation failed: ${message}`, 'see the message; nothing was registered', e);
  }
}
