/**
 * A GitLab REST API v4 double for project deploy keys, on 127.0.0.1 (port 0).
 *
 *   const gl = await startGitlabApiDouble();
 *   gl.addProject('acme/app');                   // token gl.token is Maintainer everywhere
 *   // forge config: { type: 'gitlab', api_url: gl.url, token_env: 'T' } with T=gl.token
 *   ...
 *   await gl.close();
 *
 * Behaves as GitLab's lib/api/deploy_keys.rb does (replies checked against
 * test/fixtures/gitlab-api/deploy-keys.schema.json by gitlab-schema.ts; every
 * reply is recorded in `responses` for that):
 * - `PRIVATE-TOKEN` auth: 401 `{"message":"401 Unauthorized"}`; a project the
 *   token cannot see is 404 `404 Project Not Found`, one it can see without the
 *   Maintainer role 403 `403 Forbidden`. `:id` is a numeric id or the
 *   URL-encoded full path (nested groups allowed).
 * - GET …/deploy_keys pages with `page`/`per_page` (default 20, at most 100),
 *   `X-Next-Page`, `X-Page`, `X-Per-Page`, `X-Prev-Page`, `Link`.
 * - POST …/deploy_keys: a key already in the project returns that link (201);
 *   a key in another project the token can manage is JOINED (same id, GitLab's
 *   behaviour), not copied; a key used as a user key, or in a project the token
 *   cannot see, is 400 `has already been taken`; `can_push` and `expires_at`
 *   are stored per link / per key.
 * - POST …/deploy_keys/:key_id/enable links an existing key; DELETE only
 *   unlinks, and the key itself goes once no project uses it.
 * - Rate limits: `RateLimit-*` headers on every reply; past `requestsPerWindow`
 *   a 429 `Retry later` with `Retry-After`.
 * - Faults: next N → 5xx, cut the socket after performing the action,
 *   ignore can_push, a 429 with a given Retry-After, any status and body.
 * - `onLinksChanged` reports every (project path, key, expiry) link after each
 *   change, so a test sshd can grant exactly that read-only access.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import { countRequests, FaultQueue, readBody, startLoopback, stopLoopback, type RecordedResponse } from './http-double.js';


interface StoredKey {
  id: number;
  title: string;
  key: string;
  fingerprintSha256: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  /** Username that created it (GitLab: deploy_keys.user_id). */
  owner: string;
}

interface Project {
  id: number;
  path: string;
  /** Links to keys, in the order they were made. */
  links: { keyId: number; canPush: boolean }[];
}

export interface GitlabTokenSpec {
  username: string;
  /** Projects (lowercase full paths) with the Maintainer role; 'all' = every project. */
  maintainerOf: string[] | 'all';
  /** Projects the token can see without Maintainer (403 on deploy keys). */
  guestOf?: string[];
}

export interface GitlabLink {
  projectPath: string;
  keyId: number;
  key: string;
  canPush: boolean;
  expiresAt: string | null;
}

export interface GitlabApiDoubleOptions {
  /** Requests per token per window before a 429 (default 0 = no limit). */
  requestsPerWindow?: number;
  windowMs?: number;
  /** Called with every link after each change (tests wire a real sshd to it). */
  onLinksChanged?: (links: GitlabLink[]) => void | Promise<void>;
}

interface Fault { kind: 'status' | 'cut' | 'writable' | 'reply' | 'limit'; status: number; method?: string; left: number; body?: unknown; retryAfter?: number }

export class GitlabApiDouble {
  readonly token = 'glpat-double-maintainer';
  readonly responses: RecordedResponse[] = [];
  readonly requests: { method: string; path: string; route: string; body: unknown; privateToken: string | undefined }[] = [];
  /** OpenSSH key lines (`type base64`) registered as user keys. */
  readonly userKeys = new Set<string>();
  private readonly projects = new Map<string, Project>();
  private readonly keys = new Map<number, StoredKey>();
  private readonly tokens = new Map<string, GitlabTokenSpec>();
  private readonly window = new Map<string, { used: number; resetAt: number }>();
  private readonly faults = new FaultQueue<Fault>();
  private nextKeyId = 11;
  private nextProjectId = 5;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly opts: GitlabApiDoubleOptions,
  ) {
    this.tokens.set(this.token, { username: 'fleet-bot', maintainerOf: 'all' });
  }

  static async start(opts: GitlabApiDoubleOptions = {}): Promise<GitlabApiDouble> {
    return startLoopback((server, url) => new GitlabApiDouble(server, url, opts), (d, req, res) => d.handle(req, res));
  }

  close(): Promise<void> {
    return stopLoopback(this.server);
  }

  // ----- set-up -----

  addProject(fullPath: string): number {
    const id = this.nextProjectId++;
    this.projects.set(fullPath.toLowerCase(), { id, path: fullPath, links: [] });
    return id;
  }

  addToken(token: string, spec: GitlabTokenSpec): void {
    this.tokens.set(token, spec);
  }

  /** The keys linked to a project, as the list endpoint shows them. */
  keysOf(fullPath: string): { id: number; title: string; key: string; can_push: boolean; expires_at: string | null }[] {
    return this.mustProject(fullPath).links.map((l) => {
      const k = this.keys.get(l.keyId)!;
      return { id: k.id, title: k.title, key: k.key, can_push: l.canPush, expires_at: k.expiresAt };
    });
  }

  countRequests(method: string, route?: string): number {
    return countRequests(this.requests, method, route);
  }

  /** Whether the key (by id) still exists anywhere. */
  keyExists(id: number): boolean {
    return this.keys.has(id);
  }

  /** Links a key that exists to another project directly (what an admin's "enable" in the UI does). */
  enableElsewhere(keyId: number, fullPath: string): void {
    this.mustProject(fullPath).links.push({ keyId, canPush: false });
    void this.linksChanged();
  }

  /** Marks a key as used now (what a clone would do). */
  touch(keyId: number, at = new Date()): void {
    const k = this.keys.get(keyId);
    if (k) k.lastUsedAt = at.toISOString();
  }

  failNext(n: number, status = 502, method?: string): void {
    this.faults.push({ kind: 'status', status, left: n, ...(method ? { method } : {}) });
  }

  /** The next `n` requests of `method` are performed, then the socket is cut. */
  cutNext(n: number, method = 'POST'): void {
    this.faults.push({ kind: 'cut', status: 0, left: n, method });
  }

  /** The next `n` creates register the link with push access, whatever was asked. */
  ignoreCanPushNext(n: number): void {
    this.faults.push({ kind: 'writable', status: 0, left: n, method: 'POST' });
  }

  /** The next `n` requests (of `method`) get `status` with `body`. */
  replyNext(n: number, status: number, body: unknown, method?: string): void {
    this.faults.push({ kind: 'reply', status, left: n, body, ...(method ? { method } : {}) });
  }

  /** The next `n` requests (of `method`) get GitLab's 429 with `Retry-After: retryAfter`. */
  rateLimitNext(n: number, retryAfter: number, method?: string): void {
    this.faults.push({ kind: 'limit', status: 429, left: n, retryAfter, ...(method ? { method } : {}) });
  }

  // ----- server -----

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const method = req.method ?? 'GET';
    const u = new URL(req.url ?? '/', this.url);
    // GitLab matches routes on the raw path: a project path is one %2F-encoded segment.
    const rawPath = (req.url ?? '/').split('?')[0]!;
    const route = routeOf(rawPath);
    const privateToken = typeof req.headers['private-token'] === 'string' ? req.headers['private-token'] : undefined;
    this.requests.push({ method, path: rawPath + u.search, route, body, privateToken });

    const limit = this.budget(privateToken);
    const send = (status: number, payload?: unknown, extra: Record<string, string> = {}): void => {
      const headers: Record<string, string> = { ...limit.headers, ...extra };
      const text = payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload);
      if (text !== undefined) headers['content-type'] = typeof payload === 'string' ? 'text/plain' : 'application/json';
      this.responses.push({ method, route, path: rawPath + u.search, status, headers, body: payload });
      res.writeHead(status, headers);
      res.end(text);
    };
    const tooMany = (retryAfter: number): void => send(429, 'Retry later\n', { 'retry-after': String(retryAfter) });

    const fault = this.faults.take(method, ['status', 'reply', 'limit']);
    if (fault?.kind === 'status') return send(fault.status, { message: `${fault.status} Bad Gateway` });
    if (fault?.kind === 'reply') return send(fault.status, fault.body);
    if (fault?.kind === 'limit') return tooMany(fault.retryAfter ?? 1);
    if (limit.exceeded) return tooMany(limit.retryAfter);

    const spec = privateToken === undefined ? undefined : this.tokens.get(privateToken);
    if (!spec) return send(401, { message: '401 Unauthorized' });
    if (route === '/user' && method === 'GET') return send(200, { id: 1, username: spec.username, name: spec.username, state: 'active', bot: spec.username.endsWith('-bot') });

    const m = /^\/api\/v4\/projects\/([^/]+)\/deploy_keys(?:\/(\d+)(\/enable)?)?\/?$/.exec(rawPath);
    if (!m) return send(404, { message: '404 Not Found' });
    const project = this.projectOf(decodeURIComponent(m[1]!));
    const full = project?.path.toLowerCase() ?? '';
    const maintainer = spec.maintainerOf === 'all' || spec.maintainerOf.includes(full);
    if (!project || !(maintainer || spec.guestOf?.includes(full))) return send(404, { message: '404 Project Not Found' });
    if (!maintainer) return send(403, { message: '403 Forbidden' });

    const keyId = m[2] === undefined ? undefined : Number(m[2]);
    if (keyId === undefined && method === 'GET') return this.list(project, u, send);
    if (keyId === undefined && method === 'POST') return this.create(project, spec, body, send, res);
    if (keyId !== undefined && m[3] && method === 'POST') return this.enable(project, spec, keyId, send);
    const link = project.links.find((l) => l.keyId === keyId);
    if (keyId !== undefined && method === 'GET') return link ? send(200, this.linkJson(link)) : send(404, { message: '404 Deploy key Not Found' });
    if (keyId !== undefined && method === 'DELETE') {
      if (!link) return send(404, { message: '404 Deploy key Not Found' });
      project.links = project.links.filter((l) => l !== link);
      // DELETE unlinks; the key itself goes once no project uses it.
      if (![...this.projects.values()].some((p) => p.links.some((l) => l.keyId === keyId))) this.keys.delete(keyId);
      await this.linksChanged();
      if (this.faults.take('DELETE', ['cut'])) return void res.socket?.destroy();
      return send(204);
    }
    return send(405, { message: '405 Method Not Allowed' });
  }

  private list(project: Project, u: URL, send: (s: number, p?: unknown, e?: Record<string, string>) => void): void {
    const perPage = Math.min(100, Math.max(1, Number(u.searchParams.get('per_page') ?? 20) || 20));
    const page = Math.max(1, Number(u.searchParams.get('page') ?? 1) || 1);
    const total = project.links.length;
    const last = Math.max(1, Math.ceil(total / perPage));
    const items = project.links.slice((page - 1) * perPage, page * perPage).map((l) => this.linkJson(l));
    const link = (p: number): string => `<${this.url}/api/v4/projects/${project.id}/deploy_keys?page=${p}&per_page=${perPage}>`;
    const rels = [...(page < last ? [`${link(page + 1)}; rel="next"`] : []), ...(page > 1 ? [`${link(page - 1)}; rel="prev"`] : []), `${link(1)}; rel="first"`, `${link(last)}; rel="last"`];
    send(200, items, {
      'x-page': String(page),
      'x-per-page': String(perPage),
      'x-next-page': page < last ? String(page + 1) : '',
      'x-prev-page': page > 1 ? String(page - 1) : '',
      'x-total': String(total),
      'x-total-pages': String(last),
      link: rels.join(', '),
    });
  }

  private create(project: Project, spec: GitlabTokenSpec, body: unknown, send: (s: number, p?: unknown) => void, res: http.ServerResponse): Promise<void> | void {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof b.key !== 'string') return send(400, { error: 'key is missing' });
    if (typeof b.title !== 'string') return send(400, { error: 'title is missing' });
    if (b.can_push !== undefined && typeof b.can_push !== 'boolean') return send(400, { error: 'can_push is invalid' });
    if (b.expires_at !== undefined && (typeof b.expires_at !== 'string' || Number.isNaN(Date.parse(b.expires_at)))) return send(400, { error: 'expires_at is invalid' });
    const key = canonical(b.key);
    if (!key) return send(400, { message: { key: ['is invalid'], fingerprint_sha256: ['cannot be generated'] } });
    const writable = this.faults.take('POST', ['writable']) !== undefined;
    const canPush = writable || b.can_push === true;
    // Already in this project: that link.
    const here = project.links.find((l) => this.keys.get(l.keyId)?.key === key);
    if (here) return send(201, this.linkJson(here));
    const stored = [...this.keys.values()].find((k) => k.key === key);
    if (stored) {
      // In another project the user can manage: joined (same key id). Otherwise taken.
      const visible = [...this.projects.values()].some((p) => p.links.some((l) => l.keyId === stored.id) && (spec.maintainerOf === 'all' || spec.maintainerOf.includes(p.path.toLowerCase())));
      if (!visible) return send(400, { message: { 'deploy_key.fingerprint_sha256': ['has already been taken'] } });
      return this.link(project, { keyId: stored.id, canPush }, send, res);
    }
    if (this.userKeys.has(key)) return send(400, { message: { 'deploy_key.fingerprint_sha256': ['has already been taken'] } });
    const id = this.nextKeyId++;
    this.keys.set(id, {
      id,
      title: b.title,
      key,
      fingerprintSha256: fingerprint(key),
      createdAt: new Date().toISOString(),
      expiresAt: typeof b.expires_at === 'string' ? new Date(b.expires_at).toISOString() : null,
      lastUsedAt: null,
      owner: spec.username,
    });
    return this.link(project, { keyId: id, canPush }, send, res);
  }

  private async link(project: Project, l: { keyId: number; canPush: boolean }, send: (s: number, p?: unknown) => void, res: http.ServerResponse): Promise<void> {
    project.links.push(l);
    await this.linksChanged();
    if (this.faults.take('POST', ['cut'])) return void res.socket?.destroy();
    send(201, this.linkJson(l));
  }

  private async enable(project: Project, spec: GitlabTokenSpec, keyId: number, send: (s: number, p?: unknown) => void): Promise<void> {
    const k = this.keys.get(keyId);
    const visible = k && [...this.projects.values()].some((p) => p.links.some((l) => l.keyId === keyId) && (spec.maintainerOf === 'all' || spec.maintainerOf.includes(p.path.toLowerCase())));
    if (!k || !visible) return send(404, { message: '404 Deploy key Not Found' });
    if (!project.links.some((l) => l.keyId === keyId)) project.links.push({ keyId, canPush: false });
    await this.linksChanged();
    const { can_push: _c, ...deployKey } = this.linkJson({ keyId, canPush: false });
    send(201, deployKey);
  }

  /** GitLab's DeployKeysProject entity. */
  private linkJson(l: { keyId: number; canPush: boolean }): Record<string, unknown> {
    const k = this.keys.get(l.keyId)!;
    return {
      id: k.id,
      title: k.title,
      created_at: k.createdAt,
      expires_at: k.expiresAt,
      last_used_at: k.lastUsedAt,
      key: k.key,
      usage_type: 'auth',
      fingerprint: md5(k.key),
      fingerprint_sha256: k.fingerprintSha256,
      can_push: l.canPush,
    };
  }

  private projectOf(id: string): Project | undefined {
    if (/^\d+$/.test(id)) return [...this.projects.values()].find((p) => p.id === Number(id));
    return this.projects.get(id.toLowerCase());
  }

  private mustProject(fullPath: string): Project {
    const p = this.projects.get(fullPath.toLowerCase());
    if (!p) throw new Error(`double: no project ${fullPath}`);
    return p;
  }

  private async linksChanged(): Promise<void> {
    const out: GitlabLink[] = [];
    for (const p of this.projects.values()) {
      for (const l of p.links) {
        const k = this.keys.get(l.keyId)!;
        out.push({ projectPath: p.path, keyId: k.id, key: k.key, canPush: l.canPush, expiresAt: k.expiresAt });
      }
    }
    await this.opts.onLinksChanged?.(out);
  }

  private budget(token: string | undefined): { headers: Record<string, string>; exceeded: boolean; retryAfter: number } {
    const limit = this.opts.requestsPerWindow ?? 0;
    const windowMs = this.opts.windowMs ?? 60_000;
    const now = Date.now();
    const key = token ?? '(anonymous)';
    let w = this.window.get(key);
    if (!w || w.resetAt <= now) {
      w = { used: 0, resetAt: now + windowMs };
      this.window.set(key, w);
    }
    w.used++;
    const max = limit || 2000;
    const exceeded = limit > 0 && w.used > limit;
    const resetS = Math.ceil(w.resetAt / 1000);
    return {
      exceeded,
      retryAfter: Math.max(1, Math.ceil((w.resetAt - now) / 1000)),
      headers: {
        'ratelimit-name': 'throttle_authenticated_api',
        'ratelimit-limit': String(max),
        'ratelimit-observed': String(w.used),
        'ratelimit-remaining': String(Math.max(0, max - w.used)),
        'ratelimit-reset': String(resetS),
        'ratelimit-resettime': new Date(resetS * 1000).toUTCString(),
      },
    };
  }
}

export function startGitlabApiDouble(opts: GitlabApiDoubleOptions = {}): Promise<GitlabApiDouble> {
  return GitlabApiDouble.start(opts);
}

function routeOf(rawPath: string): string {
  if (rawPath === '/api/v4/user') return '/user';
  const p = rawPath.replace(/^\/api\/v4/, '');
  if (/^\/projects\/[^/]+\/deploy_keys\/?$/.test(p)) return '/projects/{id}/deploy_keys';
  if (/^\/projects\/[^/]+\/deploy_keys\/\d+\/enable$/.test(p)) return '/projects/{id}/deploy_keys/{key_id}/enable';
  if (/^\/projects\/[^/]+\/deploy_keys\/\d+$/.test(p)) return '/projects/{id}/deploy_keys/{key_id}';
  return p;
}

/** `type base64` of a plausible OpenSSH public key line, or undefined. */
function canonical(line: string): string | undefined {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64 || !/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com)$/.test(type)) return undefined;
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 8 || blob.readUInt32BE(0) + 4 > blob.length || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') !== type) return undefined;
  return `${type} ${b64}`;
}

function fingerprint(key: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(key.split(' ')[1]!, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

function md5(key: string): string {
  return createHash('md5').update(Buffer.from(key.split(' ')[1]!, 'base64')).digest('hex').match(/../g)!.join(':');
}
