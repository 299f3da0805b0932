/**
 * A Gitea/Forgejo API double for deploy keys on 127.0.0.1 (port 0):
 * `/api/v1/repos/{owner}/{repo}/keys` (GET with page/limit, Link and
 * X-Total-Count headers; POST; DELETE), `/api/v1/user`, token auth
 * (`Authorization: token …`), Gitea's 422 messages for a duplicate title,
 * a key already in the repo, a key used as a user key, and an invalid key.
 * Faults: next N → 5xx, cut the socket after performing the action, ignore
 * read_only. Accounting in `requests`.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { startLoopback, stopLoopback } from './http-double.js';

export interface GiteaKeyJson {
  id: number;
  key_id: number;
  key: string;
  url: string;
  title: string;
  fingerprint: string;
  created_at: string;
  read_only: boolean;
}

export class GiteaApiDouble {
  readonly token = 'gitea-token';
  readonly requests: { method: string; path: string; body: unknown; authorization: string | undefined }[] = [];
  readonly userKeys = new Set<string>();
  readonly maxLimit = 50;
  private readonly repos = new Map<string, GiteaKeyJson[]>();
  private nextId = 1;
  private faults: { kind: 'status' | 'cut' | 'writable' | 'reply'; status: number; method?: string; left: number; message?: string }[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static start(): Promise<GiteaApiDouble> {
    return startLoopback((server, url) => new GiteaApiDouble(server, url), (d, req, res) => d.handle(req, res));
  }

  close(): Promise<void> {
    return stopLoopback(this.server);
  }

  addRepo(fullName: string): void {
    this.repos.set(fullName.toLowerCase(), []);
  }

  keys(fullName: string): GiteaKeyJson[] {
    return [...(this.repos.get(fullName.toLowerCase()) ?? [])];
  }

  seedKey(fullName: string, key: string, title: string): void {
    this.repos.get(fullName.toLowerCase())!.push(this.make(fullName, key, title, true));
  }

  failNext(n: number, status = 502, method?: string): void {
    this.faults.push({ kind: 'status', status, left: n, ...(method ? { method } : {}) });
  }

  cutNext(n: number, method = 'POST'): void {
    this.faults.push({ kind: 'cut', status: 0, left: n, method });
  }

  /** The next `n` requests (optionally only of `method`) get `status` with Gitea's error body `message`. */
  replyNext(n: number, status: number, message: string, method?: string): void {
    this.faults.push({ kind: 'reply', status, left: n, message, ...(method ? { method } : {}) });
  }

  ignoreReadOnlyNext(n: number): void {
    this.faults.push({ kind: 'writable', status: 0, left: n, method: 'POST' });
  }

  private take(method: string, kind: string): boolean {
    return this.takeFault(method, kind) !== undefined;
  }

  private takeFault(method: string, kind: string): (typeof this.faults)[number] | undefined {
    const f = this.faults.find((x) => x.left > 0 && x.kind === kind && (!x.method || x.method === method));
    if (f) f.left--;
    return f;
  }

  private make(fullName: string, key: string, title: string, readOnly: boolean): GiteaKeyJson {
    const id = this.nextId++;
    const [type, b64] = key.trim().split(/\s+/);
    return {
      id,
      key_id: id + 5000,
      key: `${type} ${b64}`,
      url: `${this.url}/api/v1/repos/${fullName}/keys/${id}`,
      title,
      fingerprint: `SHA256:${createHash('sha256').update(Buffer.from(b64 ?? '', 'base64')).digest('base64').replace(/=+$/, '')}`,
      created_at: new Date().toISOString().replace(/\.\d{3}Z$/, '+00:00'),
      read_only: readOnly,
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw = '';
    for await (const c of req) raw += String(c);
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
    const method = req.method ?? 'GET';
    const u = new URL(req.url ?? '/', this.url);
    this.requests.push({ method, path: u.pathname + u.search, body, authorization: req.headers.authorization });
    this.respond(req, res, method, u, body);
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, method: string, u: URL, body: Record<string, unknown> | undefined): void {
    const send = (status: number, data?: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { ...(data === undefined ? {} : { 'content-type': 'application/json;charset=utf-8' }), ...headers });
      res.end(data === undefined ? undefined : JSON.stringify(data));
    };
    const err = (status: number, message: string): void => send(status, { message, url: `${this.url}/api/swagger` });
    if (this.take(method, 'status')) return err(502, 'bad gateway');
    const reply = this.takeFault(method, 'reply');
    if (reply) return err(reply.status, reply.message ?? '');
    if (req.headers.authorization !== `token ${this.token}`) return err(401, 'token is required');
    if (u.pathname === '/api/v1/user' && method === 'GET') return send(200, { id: 1, login: 'admin' });
    const m = /^\/api\/v1\/repos\/([^/]+)\/([^/]+)\/keys(?:\/(\d+))?$/.exec(u.pathname);
    const full = m ? `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}` : '';
    const keys = this.repos.get(full.toLowerCase());
    if (!m || !keys) return err(404, 'The target couldn\'t be found.');
    if (m[3] === undefined && method === 'GET') {
      const page = Math.max(1, Number(u.searchParams.get('page') ?? 1));
      const limit = Math.min(this.maxLimit, Math.max(1, Number(u.searchParams.get('limit') ?? 30)));
      const items = keys.slice((page - 1) * limit, page * limit);
      const last = Math.max(1, Math.ceil(keys.length / limit));
      const link = page < last ? `<${this.url}${u.pathname}?page=${page + 1}&limit=${limit}>; rel="next",<${this.url}${u.pathname}?page=${last}&limit=${limit}>; rel="last"` : '';
      return send(200, items, { 'x-total-count': String(keys.length), ...(link ? { link } : {}) });
    }
    if (m[3] === undefined && method === 'POST') {
      const key = typeof body?.key === 'string' ? body.key : '';
      const title = typeof body?.title === 'string' ? body.title : '';
      const parts = key.trim().split(/\s+/);
      if (parts.length < 2 || !/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+)$/.test(parts[0]!)) return err(422, 'Invalid key content: no key found');
      const canon = `${parts[0]} ${parts[1]}`;
      if (this.userKeys.has(canon)) return err(422, 'Key content has been used as non-deploy key');
      // Gitea's messages (routers/api/v1/repo/key.go HandleAddKeyError).
      if (keys.some((k) => k.key === canon)) return err(422, 'This key has already been added to this repository');
      if (keys.some((k) => k.title === title)) return err(422, 'A key with the same name already exists');
      const writable = this.take('POST', 'writable');
      const k = this.make(full, canon, title, writable ? false : body?.read_only === true);
      keys.push(k);
      if (this.take('POST', 'cut')) return void res.socket?.destroy();
      return send(201, k);
    }
    if (m[3] !== undefined && method === 'DELETE') {
      const i = keys.findIndex((k) => k.id === Number(m[3]));
      if (i < 0) return err(404, 'The target couldn\'t be found.');
      keys.splice(i, 1);
      return send(204);
    }
    return err(405, 'method not allowed');
  }
}
