/**
 * A GitHub REST API double for deploy keys, on 127.0.0.1 (port 0).
 *
 *   const gh = await startGithubApiDouble();
 *   gh.addRepo('acme/app');                       // token 'good-token' (an App's bot) has admin on every repo
 *   // forge config: { type: 'github', apiUrl: gh.url, tokenEnv: 'T' } with T=gh.token
 *   ...
 *   await gh.close();
 *
 * Serves what the project uses, with GitHub's shapes (checked against GitHub's
 * OpenAPI extract in test/doubles/openapi.ts; `gh.responses` records every
 * reply for that):
 * - GET/POST /repos/{owner}/{repo}/keys (page size 30 default, per_page ≤ 100,
 *   `page`, RFC 5988 Link rel="next"/"prev"/"first"/"last"),
 *   GET/DELETE /repos/{owner}/{repo}/keys/{id}, GET /rate_limit, GET /meta.
 * - GitHub Apps: `addApp()` makes an App with a fresh RSA key, `addInstallation()`
 *   installs it on an owner. GET /app and GET /repos/{owner}/{repo}/installation
 *   take a JWT the double verifies (RS256 with the App's public key, `iss`,
 *   `iat`, `exp` at most ten minutes later, as GitHub documents);
 *   POST /app/installations/{id}/access_tokens mints `ghs_…` tokens that
 *   expire after `installationTokenTtlMs` and die with their installation
 *   (`revokeInstallation()`); keys they create are `added_by` the App's bot
 *   login `<slug>[bot]` (GitHub does not document that value; it is the login
 *   GitHub gives App actors elsewhere).
 * - 401 for an unknown or expired token, 404 for a missing repo or a token without admin,
 *   403 "Resource not accessible by integration" for an App without Administration: write.
 * - 422 bodies exactly as GitHub sends them: "key is already in use" (public
 *   keys are unique ACROSS ALL repos), "key is invalid…", "Deploy keys are
 *   disabled for this repository".
 * - x-ratelimit-* headers on every reply; primary limit per token; secondary
 *   write limit (403 or 429 with retry-after) on a configurable "minute"/"hour".
 * - Fault injection: next N requests → 5xx; cut the socket after performing
 *   the action; force a secondary limit; reply read_only:false.
 * - Accounting: `requests` (every request), `responses`, `writes` (performed
 *   writes with timestamps), `limitViolations`.
 */
import { createHash, generateKeyPairSync, verify, type KeyObject } from 'node:crypto';
import type http from 'node:http';
import { countRequests, FaultQueue, readBody, startLoopback, stopLoopback, type RecordedResponse } from './http-double.js';

export interface DeployKeyJson {
  id: number;
  key: string;
  url: string;
  title: string;
  verified: boolean;
  created_at: string;
  read_only: boolean;
  added_by: string | null;
  last_used: string | null;
  enabled: boolean;
}

interface StoredKey extends DeployKeyJson {
  fingerprint: string;
  repo: string;
}

interface RepoState {
  fullName: string;
  deployKeysDisabled: boolean;
  keys: StoredKey[];
}

export interface TokenSpec {
  login: string;
  /** Repos (owner/repo, lowercase) the token administers; 'all' = every repo. */
  adminRepos: string[] | 'all';
  /** Installation tokens: the installation, and when the token stops working (epoch ms). */
  installationId?: number;
  expiresAt?: number;
}

export interface AppSpec {
  id: number;
  slug: string;
  /** PKCS#1 PEM, as GitHub hands it out. */
  privateKeyPem: string;
  publicKey: KeyObject;
  /** Repository permissions the App asks for. */
  permissions: Record<string, 'read' | 'write'>;
}

export interface InstallationSpec {
  id: number;
  appId: number;
  /** Lowercase owner login. */
  account: string;
  /** 'all' or the lowercase owner/repo names selected. */
  repos: 'all' | string[];
  /** Repository permissions granted to the installation. */
  permissions: Record<string, 'read' | 'write'>;
  suspended: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Route template, e.g. `/repos/{owner}/{repo}/keys`. */
  route: string;
  at: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}


export interface GithubApiDoubleOptions {
  /** Token with admin on every repo (default 'good-token'). */
  token?: string;
  /** Length of the secondary-limit "minute" in ms (default 60 000). */
  minuteMs?: number;
  /** Length of the secondary-limit "hour" in ms (default 3 600 000). */
  hourMs?: number;
  /** Writes per minute/hour before a secondary limit reply (default 80/500; 0 = off). */
  writesPerMinute?: number;
  writesPerHour?: number;
  /** Status of secondary-limit replies (default 403; GitHub sends 403 or 429). */
  secondaryStatus?: 403 | 429;
  /** Primary limit per token per window (default 5000). */
  primaryLimit?: number;
  /** Primary window length in ms (default 3 600 000). */
  primaryWindowMs?: number;
  /** Max per_page (default 100). */
  maxPerPage?: number;
  /** Artificial latency per request in ms (default 0). */
  latencyMs?: number;
  /** Lifetime of minted installation tokens (default one hour, as on GitHub). */
  installationTokenTtlMs?: number;
  /** The double's clock for token expiry (tests move it; JWTs are always checked against the real time they carry). */
  tokenClock?: () => number;
}

const DOCS = 'https://docs.github.com/rest';
const GITHUB_HOST_KEYS = [
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=',
];
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

interface GithubFault {
  kind: 'status' | 'cut' | 'secondary' | 'writable' | 'reply';
  status: number;
  retryAfter: number;
  method?: string;
  left: number;
  message?: string;
  headers?: Record<string, string>;
}

export class GithubApiDouble {
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  readonly responses: RecordedResponse[] = [];
  /** Performed writes (create/delete), with their time. */
  readonly writes: { at: number; method: string; path: string }[] = [];
  /** Secondary-limit replies the double had to give because a client wrote too fast. */
  limitViolations = 0;
  readonly opts: Required<GithubApiDoubleOptions>;

  /** Minted installation tokens, in order. */
  readonly mints: { installationId: number; at: number; expiresAt: number }[] = [];
  private readonly repos = new Map<string, RepoState>();
  private readonly tokens = new Map<string, TokenSpec>();
  private readonly apps = new Map<number, AppSpec>();
  private readonly installations = new Map<number, InstallationSpec>();
  /** fingerprint → stored key: GitHub public keys are unique across all repos. */
  private readonly byFingerprint = new Map<string, StoredKey>();
  private nextId = 1000;
  private primary = new Map<string, { used: number; resetAt: number }>();
  private readonly faults = new FaultQueue<GithubFault>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    opts: Required<GithubApiDoubleOptions>,
  ) {
    this.opts = opts;
    this.token = opts.token;
    // The default token acts like an App installation token: the keys it adds are `added_by` a bot.
    this.tokens.set(opts.token, { login: 'octo-app[bot]', adminRepos: 'all' });
  }

  static async start(options: GithubApiDoubleOptions = {}): Promise<GithubApiDouble> {
    const opts: Required<GithubApiDoubleOptions> = {
      token: 'good-token',
      minuteMs: 60_000,
      hourMs: 3_600_000,
      writesPerMinute: 80,
      writesPerHour: 500,
      secondaryStatus: 403,
      primaryLimit: 5000,
      primaryWindowMs: 3_600_000,
      maxPerPage: 100,
      latencyMs: 0,
      installationTokenTtlMs: 3_600_000,
      tokenClock: () => Date.now(),
      ...options,
    };
    return startLoopback((server, url) => new GithubApiDouble(server, url, opts), (d, req, res) => d.handle(req, res));
  }

  close(): Promise<void> {
    return stopLoopback(this.server);
  }

  // ----- set-up -----

  addRepo(fullName: string, opts: { deployKeysDisabled?: boolean } = {}): void {
    const k = fullName.toLowerCase();
    this.repos.set(k, { fullName, deployKeysDisabled: opts.deployKeysDisabled ?? false, keys: [] });
  }

  setDeployKeysDisabled(fullName: string, disabled: boolean): void {
    const r = this.mustRepo(fullName);
    r.deployKeysDisabled = disabled;
    for (const k of r.keys) k.enabled = !disabled;
  }

  addToken(token: string, spec: TokenSpec): void {
    this.tokens.set(token, { ...spec, adminRepos: spec.adminRepos === 'all' ? 'all' : spec.adminRepos.map((r) => r.toLowerCase()) });
  }

  /** A GitHub App with a fresh 2048-bit RSA key; its private key is returned as GitHub hands it out (PKCS#1 PEM). */
  addApp(opts: { id?: number; slug?: string; permissions?: Record<string, 'read' | 'write'> } = {}): AppSpec {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const id = opts.id ?? 100_000 + this.apps.size;
    const app: AppSpec = {
      id,
      slug: opts.slug ?? `deploy-keys-${id}`,
      privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      publicKey,
      permissions: opts.permissions ?? { administration: 'write', metadata: 'read' },
    };
    this.apps.set(id, app);
    return app;
  }

  /** Installs `app` on `owner` (all its repos, or the ones named); returns the installation id. */
  addInstallation(app: AppSpec, owner: string, opts: { repos?: string[]; permissions?: Record<string, 'read' | 'write'> } = {}): number {
    const id = 7_000_000 + this.installations.size;
    this.installations.set(id, {
      id,
      appId: app.id,
      account: owner.toLowerCase(),
      repos: opts.repos ? opts.repos.map((r) => r.toLowerCase()) : 'all',
      permissions: opts.permissions ?? app.permissions,
      suspended: false,
    });
    return id;
  }

  /** Uninstalls: the installation is gone and every token it minted stops working. */
  revokeInstallation(id: number): void {
    this.installations.delete(id);
  }

  /** Registers a key directly (not counted as a request). */
  seedKey(fullName: string, key: { key: string; title: string; readOnly?: boolean; lastUsed?: string | null }): DeployKeyJson {
    const r = this.mustRepo(fullName);
    const fp = fingerprint(key.key);
    if (!fp) throw new Error('seedKey: invalid key');
    if (this.byFingerprint.has(fp)) throw new Error('seedKey: key already in use');
    return strip(this.store(r, key.key, key.title, key.readOnly ?? true, 'seeder', key.lastUsed ?? null));
  }

  keys(fullName: string): DeployKeyJson[] {
    return this.mustRepo(fullName).keys.map(strip);
  }

  /** Deletes a key as a person would on the settings page (not counted as a request). */
  deleteKey(fullName: string, id: number): void {
    const r = this.mustRepo(fullName);
    const i = r.keys.findIndex((k) => k.id === id);
    if (i < 0) throw new Error(`deleteKey: no key ${id} on ${fullName}`);
    const [gone] = r.keys.splice(i, 1);
    this.byFingerprint.delete(gone!.fingerprint);
  }

  /** Marks a key as used now (what a clone would do); a string is stored as is, as a hostile forge might reply. */
  touch(fullName: string, id: number, at: Date | string = new Date()): void {
    const k = this.mustRepo(fullName).keys.find((x) => x.id === id);
    if (k) k.last_used = typeof at === 'string' ? at : iso(at);
  }

  // ----- faults -----

  /** The next `n` requests (optionally only of `method`) get `status` (default 502). */
  failNext(n: number, status = 502, method?: string): void {
    this.faults.push({ kind: 'status', status, retryAfter: 0, left: n, ...(method ? { method } : {}) });
  }

  /** The next `n` requests (optionally only of `method`) are performed, then the socket is cut with no reply. */
  cutNext(n: number, method?: string): void {
    this.faults.push({ kind: 'cut', status: 0, retryAfter: 0, left: n, ...(method ? { method } : {}) });
  }

  /** The next `n` requests (optionally only of `method`) get a secondary-limit reply with `retry-after`. */
  secondaryNext(n: number, retryAfterSeconds = 1, method?: string, status: 403 | 429 = this.opts.secondaryStatus): void {
    this.faults.push({ kind: 'secondary', status, retryAfter: retryAfterSeconds, left: n, ...(method ? { method } : {}) });
  }

  /**
   * The next `n` requests (optionally only of `method`) get `status` with GitHub's error body
   * `message` and extra headers, e.g. 403 "Resource not accessible by integration" (an App
   * without Administration write) or 401 "Bad credentials" (a token revoked mid-run).
   */
  replyNext(n: number, status: number, message: string, opts: { method?: string; headers?: Record<string, string> } = {}): void {
    this.faults.push({ kind: 'reply', status, retryAfter: 0, left: n, message, ...(opts.headers ? { headers: opts.headers } : {}), ...(opts.method ? { method: opts.method } : {}) });
  }

  /** The next `n` creates register the key with write access, whatever was asked (a misbehaving forge). */
  ignoreReadOnlyNext(n: number): void {
    this.faults.push({ kind: 'writable', status: 0, retryAfter: 0, left: n, method: 'POST' });
  }

  /** Uses up the primary budget of a token (next request gets 403 remaining 0). */
  exhaustPrimary(token = this.token, resetInMs = 1000): void {
    this.primary.set(token, { used: this.opts.primaryLimit, resetAt: Date.now() + resetInMs });
  }

  /** Most writes inside any window of `windowMs` (sliding). */
  maxWritesInWindow(windowMs = this.opts.minuteMs): number {
    let best = 0;
    let j = 0;
    const t = this.writes.map((w) => w.at).sort((a, b) => a - b);
    for (let i = 0; i < t.length; i++) {
      while (t[i]! - t[j]! >= windowMs) j++;
      best = Math.max(best, i - j + 1);
    }
    return best;
  }

  countRequests(method: string, route?: string): number {
    return countRequests(this.requests, method, route);
  }

  // ----- server -----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const method = req.method ?? 'GET';
    const u = new URL(req.url ?? '/', this.url);
    const route = routeOf(u.pathname);
    const now = Date.now();
    this.requests.push({ method, path: u.pathname + u.search, route, at: now, headers: req.headers, body });
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));

    const token = tokenOf(req.headers.authorization);
    const rl = this.rateHeaders(token, route !== '/rate_limit');
    const send = (status: number, payload?: unknown, extra: Record<string, string> = {}): void => {
      const headers: Record<string, string> = {
        ...rl.headers,
        'x-github-media-type': 'github.v3; format=json',
        'x-github-api-version-selected': '2022-11-28',
        ...extra,
      };
      if (payload !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
      this.responses.push({ method, route, path: u.pathname + u.search, status, headers, body: payload });
      res.writeHead(status, headers);
      res.end(payload === undefined ? undefined : JSON.stringify(payload));
    };
    const error = (status: number, message: string, extra: Record<string, string> = {}): void =>
      send(status, { message, documentation_url: DOCS, status: String(status) }, extra);

    const fault = this.faults.take(method, ['status', 'secondary', 'reply']);
    if (fault?.kind === 'reply') return error(fault.status, fault.message ?? '', fault.headers ?? {});
    if (fault?.kind === 'status') return error(fault.status, fault.status === 502 ? 'Server Error' : 'Service Unavailable');
    if (fault?.kind === 'secondary') return this.secondary(error, fault.status, fault.retryAfter);

    if (route.startsWith('/app') || route === '/repos/{owner}/{repo}/installation') return this.appRoute(req, method, route, u, send, error);
    const spec = token === undefined ? undefined : this.tokens.get(token);
    if (token === undefined || !spec || !this.tokenAlive(spec)) return error(401, 'Bad credentials');
    if (rl.exceeded) {
      return error(403, `API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.`);
    }
    if (req.headers['x-github-api-version'] !== undefined && req.headers['x-github-api-version'] !== '2022-11-28') {
      return error(400, `Unsupported 'X-GitHub-Api-Version' header.`);
    }

    if (route === '/rate_limit' && method === 'GET') return send(200, this.rateLimitBody(token));
    if (route === '/meta' && method === 'GET') {
      return send(200, {
        verifiable_password_authentication: false,
        ssh_key_fingerprints: {
          SHA256_ECDSA: 'p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM',
          SHA256_ED25519: '+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU',
          SHA256_RSA: 'uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
        },
        ssh_keys: GITHUB_HOST_KEYS,
      });
    }

    const m = /^\/repos\/([^/]+)\/([^/]+)\/keys(?:\/([^/]+))?$/.exec(u.pathname);
    if (!m) return error(404, 'Not Found');
    const fullName = `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`;
    const repo = this.repos.get(fullName.toLowerCase());
    if (!repo || !this.administers(spec, fullName)) return error(404, 'Not Found');

    const isWrite = method === 'POST' || method === 'DELETE';
    if (isWrite && spec.installationId !== undefined && this.installations.get(spec.installationId)?.permissions.administration !== 'write') {
      return error(403, 'Resource not accessible by integration');
    }
    if (isWrite && this.writeLimited(now)) {
      this.limitViolations++;
      return this.secondary(error, this.opts.secondaryStatus, this.retryAfterFor(now));
    }

    if (m[3] === undefined) {
      if (method === 'GET') return this.list(repo, u, send);
      if (method === 'POST') {
        return this.create(repo, spec, body, send, error, () => {
          const cut = this.faults.take('POST', ['cut']);
          const writable = this.faults.take('POST', ['writable']);
          return { cut: !!cut, writable: !!writable };
        }, res, now);
      }
      return error(404, 'Not Found');
    }
    const id = Number(m[3]);
    const idx = Number.isInteger(id) ? repo.keys.findIndex((k) => k.id === id) : -1;
    if (method === 'GET') return idx < 0 ? error(404, 'Not Found') : send(200, strip(repo.keys[idx]!));
    if (method === 'DELETE') {
      if (idx < 0) return error(404, 'Not Found');
      const [gone] = repo.keys.splice(idx, 1);
      this.byFingerprint.delete(gone!.fingerprint);
      this.writes.push({ at: now, method, path: u.pathname });
      if (this.faults.take('DELETE', ['cut'])) return void res.socket?.destroy();
      return send(204);
    }
    return error(404, 'Not Found');
  }

  private tokenAlive(spec: TokenSpec): boolean {
    if (spec.expiresAt !== undefined && spec.expiresAt <= this.opts.tokenClock()) return false;
    return spec.installationId === undefined || this.installations.has(spec.installationId);
  }

  private administers(spec: TokenSpec, fullName: string): boolean {
    const full = fullName.toLowerCase();
    if (spec.installationId !== undefined) {
      const inst = this.installations.get(spec.installationId);
      return inst !== undefined && full.split('/')[0] === inst.account && (inst.repos === 'all' || inst.repos.includes(full));
    }
    return spec.adminRepos === 'all' || spec.adminRepos.includes(full);
  }

  /**
   * The App whose key signed `authorization: Bearer <JWT>`, or the message GitHub
   * answers with: RS256 only, signature checked, `iss` an App ID, `iat` not in the
   * future (60 s of skew), `exp` in the future and at most ten minutes after `iat`.
   */
  private appOf(authorization: string | undefined): AppSpec | string {
    const m = /^bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/i.exec(authorization ?? '');
    if (!m) return 'A JSON web token could not be decoded';
    let header: { alg?: unknown };
    let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
    try {
      header = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as { alg?: unknown };
      claims = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return 'A JSON web token could not be decoded';
    }
    const app = this.apps.get(Number(claims.iss));
    if (header.alg !== 'RS256' || !app) return 'A JSON web token could not be decoded';
    if (!verify('RSA-SHA256', Buffer.from(`${m[1]}.${m[2]}`), app.publicKey, Buffer.from(m[3]!, 'base64url'))) return 'A JSON web token could not be decoded';
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.iat !== 'number' || claims.iat > now + 60) return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
    if (typeof claims.exp !== 'number' || claims.exp <= now) return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
    if (claims.exp - claims.iat > 600) return "'Expiration time' claim ('exp') is too far in the future.";
    return app;
  }

  private appRoute(
    req: http.IncomingMessage,
    method: string,
    route: string,
    u: URL,
    send: (s: number, p?: unknown, e?: Record<string, string>) => void,
    error: (s: number, m: string) => void,
  ): void {
    const app = this.appOf(req.headers.authorization);
    if (typeof app === 'string') return error(401, app);
    const now = Date.now();
    if (route === '/app' && method === 'GET') return send(200, this.appJson(app, now));
    if (route === '/repos/{owner}/{repo}/installation' && method === 'GET') {
      const [, , owner, repo] = u.pathname.split('/');
      const full = `${decodeURIComponent(owner!)}/${decodeURIComponent(repo!)}`.toLowerCase();
      const inst = [...this.installations.values()].find((i) => i.appId === app.id && i.account === full.split('/')[0] && (i.repos === 'all' || i.repos.includes(full)));
      if (!inst || !this.repos.has(full)) return error(404, 'Not Found');
      return send(200, this.installationJson(app, inst, now));
    }
    const m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(u.pathname);
    if (m && method === 'POST') {
      const inst = this.installations.get(Number(m[1]));
      if (inst?.appId !== app.id) return error(404, 'Not Found');
      if (inst.suspended) return error(403, 'This installation has been suspended');
      const token = `ghs_${createHash('sha256').update(`${inst.id}:${now}:${this.mints.length}`).digest('hex').slice(0, 36)}`;
      const expiresAt = this.opts.tokenClock() + this.opts.installationTokenTtlMs;
      this.tokens.set(token, { login: `${app.slug}[bot]`, adminRepos: [], installationId: inst.id, expiresAt });
      this.mints.push({ installationId: inst.id, at: now, expiresAt });
      return send(201, { token, expires_at: iso(new Date(expiresAt)), permissions: inst.permissions, repository_selection: inst.repos === 'all' ? 'all' : 'selected' });
    }
    return error(404, 'Not Found');
  }

  private appJson(app: AppSpec, now: number): unknown {
    const at = iso(new Date(now));
    return {
      id: app.id,
      slug: app.slug,
      node_id: `A_${app.id}`,
      client_id: `Iv1.${app.id.toString(16).padStart(16, '0')}`,
      owner: userJson(this.url, 'acme', 1),
      name: app.slug,
      description: 'nix-deploy-keys test App',
      external_url: 'https://example.com',
      html_url: `https://github.com/apps/${app.slug}`,
      created_at: at,
      updated_at: at,
      permissions: app.permissions,
      events: [],
    };
  }

  private installationJson(app: AppSpec, inst: InstallationSpec, now: number): unknown {
    const at = iso(new Date(now));
    return {
      id: inst.id,
      account: userJson(this.url, inst.account, 2),
      repository_selection: inst.repos === 'all' ? 'all' : 'selected',
      access_tokens_url: `${this.url}/app/installations/${inst.id}/access_tokens`,
      repositories_url: `${this.url}/installation/repositories`,
      html_url: `https://github.com/organizations/${inst.account}/settings/installations/${inst.id}`,
      app_id: app.id,
      app_slug: app.slug,
      target_id: 2,
      target_type: 'Organization',
      permissions: inst.permissions,
      events: [],
      created_at: at,
      updated_at: at,
      single_file_name: null,
      suspended_by: null,
      suspended_at: null,
    };
  }

  private secondary(error: (s: number, m: string, e?: Record<string, string>) => void, status: number, retryAfter: number): void {
    error(
      status,
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.',
      { 'retry-after': String(retryAfter) },
    );
  }

  private writeLimited(now: number): boolean {
    const { writesPerMinute, writesPerHour, minuteMs, hourMs } = this.opts;
    const inWin = (ms: number): number => this.writes.filter((w) => w.at > now - ms).length;
    return (writesPerMinute > 0 && inWin(minuteMs) >= writesPerMinute) || (writesPerHour > 0 && inWin(hourMs) >= writesPerHour);
  }

  private retryAfterFor(now: number): number {
    const oldest = this.writes.find((w) => w.at > now - this.opts.minuteMs)?.at ?? now;
    return Math.max(1, Math.ceil((oldest + this.opts.minuteMs - now) / 1000));
  }

  private list(
    repo: RepoState,
    u: URL,
    send: (s: number, p?: unknown, e?: Record<string, string>) => void,
  ): void {
    const perPageRaw = u.searchParams.get('per_page');
    const pageRaw = u.searchParams.get('page');
    let perPage = perPageRaw === null ? 30 : Number(perPageRaw);
    let page = pageRaw === null ? 1 : Number(pageRaw);
    if (!Number.isFinite(perPage) || perPage < 1) perPage = 30;
    if (!Number.isFinite(page) || page < 1) page = 1;
    perPage = Math.min(Math.floor(perPage), this.opts.maxPerPage);
    page = Math.floor(page);
    const total = repo.keys.length;
    const last = Math.max(1, Math.ceil(total / perPage));
    const items = repo.keys.slice((page - 1) * perPage, page * perPage).map(strip);
    const link = (p: number): string => {
      const q = new URL(u.toString());
      q.searchParams.set('per_page', String(perPage));
      q.searchParams.set('page', String(p));
      return q.toString();
    };
    const rels: string[] = [];
    if (page > 1) rels.push(`<${link(page - 1)}>; rel="prev"`);
    if (page < last) rels.push(`<${link(page + 1)}>; rel="next"`, `<${link(last)}>; rel="last"`);
    if (page > 1) rels.push(`<${link(1)}>; rel="first"`);
    send(200, items, rels.length ? { link: rels.join(', ') } : {});
  }

  private create(
    repo: RepoState,
    spec: TokenSpec,
    body: unknown,
    send: (s: number, p?: unknown, e?: Record<string, string>) => void,
    error: (s: number, m: string) => void,
    faults: () => { cut: boolean; writable: boolean },
    res: http.ServerResponse,
    now: number,
  ): void {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const validation = (message: string, field = 'key'): void =>
      send(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'PublicKey', code: 'custom', field, message }],
        documentation_url: 'https://docs.github.com/rest/deploy-keys/deploy-keys#create-a-deploy-key',
        status: '422',
      });
    if (typeof b.key !== 'string' || b.key.trim() === '') return validation("key can't be blank");
    if (b.title !== undefined && typeof b.title !== 'string') return error(422, 'Invalid request.\n\nFor \'properties/title\', 1 is not a string.');
    if (b.read_only !== undefined && typeof b.read_only !== 'boolean') return error(422, "Invalid request.\n\nFor 'properties/read_only', is not a boolean.");
    if (repo.deployKeysDisabled) return validation('Deploy keys are disabled for this repository', 'base');
    const fp = fingerprint(b.key);
    if (!fp) {
      return validation(
        "key is invalid. You must supply a key in OpenSSH public key format. It must begin with 'ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ecdsa-sha2-nistp256@openssh.com', or 'sk-ssh-ed25519@openssh.com'.",
      );
    }
    if (this.byFingerprint.has(fp)) return validation('key is already in use');
    const f = faults();
    const readOnly = f.writable ? false : b.read_only === true;
    const parts = b.key.trim().split(/\s+/);
    const title = typeof b.title === 'string' && b.title !== '' ? b.title : (parts.slice(2).join(' ') || '');
    const stored = this.store(repo, `${parts[0]} ${parts[1]}`, title, readOnly, spec.login, null);
    this.writes.push({ at: now, method: 'POST', path: `/repos/${repo.fullName}/keys` });
    if (f.cut) {
      res.socket?.destroy();
      return;
    }
    send(201, strip(stored), { location: stored.url });
  }

  private store(repo: RepoState, key: string, title: string, readOnly: boolean, addedBy: string, lastUsed: string | null): StoredKey {
    const id = this.nextId++;
    const fp = fingerprint(key)!;
    const k: StoredKey = {
      id,
      key: key.trim().split(/\s+/).slice(0, 2).join(' '),
      url: `${this.url}/repos/${repo.fullName}/keys/${id}`,
      title,
      verified: true,
      created_at: iso(new Date()),
      read_only: readOnly,
      added_by: addedBy,
      last_used: lastUsed,
      enabled: !repo.deployKeysDisabled,
      fingerprint: fp,
      repo: repo.fullName,
    };
    repo.keys.push(k);
    this.byFingerprint.set(fp, k);
    return k;
  }

  private rateHeaders(token: string | undefined, count: boolean): { headers: Record<string, string>; exceeded: boolean } {
    const key = token ?? '(anonymous)';
    const limit = token && (this.tokens.has(token) || token.split('.').length === 3) ? this.opts.primaryLimit : 60;
    let st = this.primary.get(key);
    const now = Date.now();
    if (!st || st.resetAt <= now) {
      st = { used: 0, resetAt: now + this.opts.primaryWindowMs };
      this.primary.set(key, st);
    }
    const exceeded = st.used >= limit;
    if (count && !exceeded) st.used++;
    return {
      exceeded,
      headers: {
        'x-ratelimit-limit': String(limit),
        'x-ratelimit-remaining': String(Math.max(0, limit - st.used)),
        'x-ratelimit-used': String(st.used),
        'x-ratelimit-reset': String(Math.ceil(st.resetAt / 1000)),
        'x-ratelimit-resource': 'core',
      },
    };
  }

  private rateLimitBody(token: string): unknown {
    const st = this.primary.get(token)!;
    const core = {
      limit: this.opts.primaryLimit,
      remaining: Math.max(0, this.opts.primaryLimit - st.used),
      reset: Math.ceil(st.resetAt / 1000),
      used: st.used,
    };
    const search = { limit: 30, remaining: 30, reset: Math.ceil((Date.now() + 60_000) / 1000), used: 0 };
    return { resources: { core, search, graphql: { ...core, limit: 5000, remaining: 5000, used: 0 } }, rate: core };
  }

  private mustRepo(fullName: string): RepoState {
    const r = this.repos.get(fullName.toLowerCase());
    if (!r) throw new Error(`double: no repo ${fullName}`);
    return r;
  }
}

export function startGithubApiDouble(options: GithubApiDoubleOptions = {}): Promise<GithubApiDouble> {
  return GithubApiDouble.start(options);
}

function routeOf(pathname: string): string {
  if (pathname === '/rate_limit' || pathname === '/meta' || pathname === '/app') return pathname;
  if (/^\/app\/installations\/[^/]+\/access_tokens$/.test(pathname)) return '/app/installations/{installation_id}/access_tokens';
  if (/^\/repos\/[^/]+\/[^/]+\/installation$/.test(pathname)) return '/repos/{owner}/{repo}/installation';
  if (/^\/repos\/[^/]+\/[^/]+\/keys$/.test(pathname)) return '/repos/{owner}/{repo}/keys';
  if (/^\/repos\/[^/]+\/[^/]+\/keys\/[^/]+$/.test(pathname)) return '/repos/{owner}/{repo}/keys/{key_id}';
  return pathname;
}

function tokenOf(auth: string | undefined): string | undefined {
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(auth ?? '');
  return m?.[1];
}

/** GitHub's "Simple User" object for `login`. */
function userJson(base: string, login: string, id: number): unknown {
  const u = `${base}/users/${login}`;
  return {
    login,
    id,
    node_id: `U_${id}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${id}`,
    gravatar_id: '',
    url: u,
    html_url: `https://github.com/${login}`,
    followers_url: `${u}/followers`,
    following_url: `${u}/following{/other_user}`,
    gists_url: `${u}/gists{/gist_id}`,
    starred_url: `${u}/starred{/owner}{/repo}`,
    subscriptions_url: `${u}/subscriptions`,
    organizations_url: `${u}/orgs`,
    repos_url: `${u}/repos`,
    events_url: `${u}/events{/privacy}`,
    received_events_url: `${u}/received_events`,
    type: 'Organization',
    site_admin: false,
  };
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function strip(k: StoredKey): DeployKeyJson {
  const { fingerprint: _f, repo: _r, ...rest } = k;
  return { ...rest };
}

/** `SHA256:…` of a public key line, or undefined when it is not a plausible OpenSSH public key. */
export function fingerprint(line: string): string | undefined {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2 || !KEY_TYPES.has(parts[0]!)) return undefined;
  const b64 = parts[1]!;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 8) return undefined;
  const n = blob.readUInt32BE(0);
  if (4 + n > blob.length || blob.subarray(4, 4 + n).toString('latin1') !== parts[0]) return undefined;
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
