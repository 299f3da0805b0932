/**
 * GitLab (gitlab.com and self-managed) project deploy keys over
 * `/api/v4/projects/:id/deploy_keys`, with a token sent as PRIVATE-TOKEN
 * (personal, group or project access token; the Maintainer role on each
 * project and the `api` scope).
 *
 * Same guarantees as the other providers: `can_push: false` sent and checked
 * in the reply (a key the forge made writable is deleted again: NotReadOnly),
 * fingerprints computed locally (GitLab's `fingerprint_sha256` is not
 * trusted), transient failures retried with backoff, 401/403 never, rate
 * limits honoured (`RateLimit-*`, `Retry-After`; http.ts), a create whose reply
 * was lost never blindly repeated (http-forge.ts). Every key gets `expires_at`
 * (creation + `keyLifetimeDays`: rotation.max_age_days + grace_days), so a
 * key nobody rotates stops working instead of living forever.
 *
 * GitLab lets one deploy key be enabled on several projects
 * (`POST /projects/:id/deploy_keys/:key_id/enable`, or a create of a key that
 * exists in another project the token can see), and DELETE only unlinks the
 * key from that one project. This provider never enables a key elsewhere: one
 * key per host and repo keeps revocation per repo exact. A key that shows up
 * on several configured repos is reported by `audit` (shared-key) and
 * `revoke` unlinks it from every configured repo; projects outside the config
 * are visible only to an instance administrator (`GET /deploy_keys`).
 */
import type { RepoConfig } from '../config/index.js';
import { registeredKey, type ParsedKey } from './fingerprint.js';
import { ForgeFailure, InvalidKey, KeyInUse, type ForgeError, type ForgeErrorContext } from './errors.js';
import type { HttpError } from './http.js';
import { HttpForge, type HttpForgeOptions } from './http-forge.js';
import type { AddKeyRequest, DeployKey } from './types.js';

export interface GitlabForgeOptions extends HttpForgeOptions {
  /** Days until a new key expires on GitLab (`expires_at`); 0 = never. */
  keyLifetimeDays: number;
}

/** GitLab's DeployKeysProject entity (test/fixtures/gitlab-api/ has the documented shape). */
interface GitlabKey {
  id: number;
  title: string;
  key: string;
  created_at?: string;
  expires_at?: string | null;
  last_used_at?: string | null;
  /** Untrusted: only `false` itself means read-only. */
  can_push?: unknown;
}

const DAY = 86_400_000;

export class GitlabForge extends HttpForge<GitlabKey> {
  readonly kind = 'gitlab' as const;
  private readonly keyLifetimeDays: number;

  constructor(opts: GitlabForgeOptions) {
    super(opts, {
      suffix: '/api/v4',
      authHeader: (token) => ({ 'private-token': token }),
      sizeParam: 'per_page',
      maxPageSize: 100,
      listingProves: 'each project is reachable and the token has the Maintainer role on it (deploy keys listed)',
      notChecked: [
        'whether a public key is already used as a user key on the server (only visible on create)',
        'whether a key is also enabled on projects outside the config (only an instance administrator sees that: GET /deploy_keys)',
      ],
    });
    this.keyLifetimeDays = opts.keyLifetimeDays;
  }

  protected repoLabel(repo: RepoConfig): string {
    return repo.url.fullPath;
  }

  /** `:id` is the URL-encoded full project path (`group/subgroup/project`). */
  protected keysPath(repo: RepoConfig): string {
    return `/projects/${encodeURIComponent(repo.url.fullPath)}/deploy_keys`;
  }

  protected createBody(req: AddKeyRequest, key: ParsedKey): Record<string, unknown> {
    const days = this.keyLifetimeDays;
    const expires = days > 0 ? { expires_at: new Date(this.clock.now() + days * DAY).toISOString().replace(/\.\d{3}Z$/, 'Z') } : {};
    return { title: req.title, key: key.key, can_push: false, ...expires };
  }

  protected toDeployKey(repo: RepoConfig, k: GitlabKey): DeployKey {
    // Only an explicit `can_push: false` is read-only: a reply without it proves nothing.
    return registeredKey(repo, k.id, k.title, k.key, k.can_push === false, { createdAt: k.created_at, lastUsed: k.last_used_at, expiresAt: k.expires_at });
  }

  /** GitLab's 400 bodies: `{"message": {"<field>": ["has already been taken", …]}}`. */
  protected validationError(e: HttpError, c: ForgeErrorContext): ForgeError {
    const message = e.serverMessage();
    if (/has already been taken|already exists/i.test(message)) return new KeyInUse(c, e);
    if (/key|fingerprint/i.test(message)) return new InvalidKey(c, message, e);
    return new ForgeFailure(c, `validation failed: ${message}`, 'see the message; nothing was registered', e);
  }
}
