/** Plumbing the forge API doubles share: a loopback server, request bodies, a queue of injected faults. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One reply of a double, as recorded for the checks against the forge's API description. */
export interface RecordedResponse {
  method: string;
  /** Route template, e.g. `/repos/{owner}/{repo}/keys`. */
  route: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON body, the text of a non-JSON body, or undefined for none. */
  body: unknown;
}

/**
 * Listens on 127.0.0.1 (port 0), builds the double for that server and URL, then
 * routes requests to `handle`; a handler that throws answers 500 with the error.
 */
export async function startLoopback<D>(
  make: (server: http.Server, url: string) => D,
  handle: (double: D, req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
): Promise<D> {
  const server = http.createServer();
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const double = make(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(double, req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `double crashed: ${String(e)}` }));
      }
    });
  });
  return double;
}

export async function stopLoopback(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/** The request body: parsed JSON, the raw text when it is not JSON, undefined when empty. */
export async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** Faults a test queued for the next `left` requests (optionally only of one method). */
export class FaultQueue<F extends { kind: string; left: number; method?: string }> {
  private queue: F[] = [];

  push(f: F): void {
    this.queue.push(f);
  }

  /** The first pending fault of one of `kinds` for `method`, counted as used. */
  take(method: string, kinds: readonly F['kind'][]): F | undefined {
    const f = this.queue.find((x) => x.left > 0 && kinds.includes(x.kind) && (x.method === undefined || x.method === method));
    if (f) f.left--;
    this.queue = this.queue.filter((x) => x.left > 0);
    return f;
  }
}

/** How many recorded requests had `method` (and `route`, when given). */
export function countRequests(requests: readonly { method: string; route: string }[], method: string, route?: string): number {
  return requests.filter((r) => r.method === method && (route === undefined || r.route === route)).length;
}
