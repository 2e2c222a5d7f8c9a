// The dashboard's HTTP front door: GET and HEAD only, an exact allow-list of paths (the URL is never decoded into a
// file system path: anything not in the table is 404, which is what every traversal attempt gets), the same
// security headers on every response, and a Host check against DNS rebinding when bound to loopback.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { DashboardLog } from './log.js';

/** No other origin, no inline script, no plugins, no framing. */
export const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; " +
  "frame-ancestors 'none'; form-action 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // Data changes with every batch and the assets are tiny: nothing is cached anywhere.
  'Cache-Control': 'no-store',
};

export type Handler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => void | Promise<void>;

export interface Routes {
  /** Exact paths (no decoding, no normalisation) to handlers. */
  [path: string]: Handler;
}

/** A fixed body (asset or text) for a route. */
export function fixed(type: string, body: Buffer | string): Handler {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return (req, res) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.length });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
}

export function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown, status = 200): void {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  const bytes = Buffer.from(`${text}\n`, 'utf8');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': bytes.length, ...extra });
  res.end(bytes);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host.toLowerCase()) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Host header values a loopback-bound server answers; null when bound elsewhere (any Host, by the user's choice). */
export function allowedHosts(bindHost: string, port: number): Set<string> | null {
  if (!isLoopback(bindHost)) return null;
  const names = new Set(['127.0.0.1', 'localhost', '[::1]', bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost]);
  const out = new Set<string>();
  for (const n of names) out.add(`${n}:${port}`);
  return out;
}

export function createServer(routes: Routes, hosts: () => Set<string> | null, log: DashboardLog): http.Server {
  const table = new Map(Object.entries(routes));
  const server = http.createServer((req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const allowed = hosts();
    const host = (req.headers.host ?? '').toLowerCase();
    if (allowed && !allowed.has(host)) {
      plain(res, 421, 'this dashboard answers only on its own loopback address');
      return;
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const handler = path.startsWith('/') ? table.get(path) : undefined;
    if (!handler) {
      plain(res, 404, 'not found');
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res, new URLSearchParams(q === -1 ? '' : url.slice(q + 1))))
      .catch((err: unknown) => {
        log.warn({ event: 'dashboard_request_failed', route: path, code: (err as NodeJS.ErrnoException).code ?? 'error' }, 'request failed');
        if (!res.headersSent) plain(res, 500, 'internal error');
        else res.end();
      });
  });
  // Slow or idle clients cannot hold sockets open forever (SSE streams keep theirs: a response, not a request).
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  return server;
}
