// startDashboard: the page, its data API and its live feed on one local HTTP server, reading through the ledger
// contract only. `medetl dashboard` and `medetl watch --dashboard` both call it.
//
// Routes: /  /assets/*  (allow-listed, in memory)
//         /api/snapshot        tiles, BI cells (small cells already NULL), recent batches, quarantine, drift, daemon
//         /api/series?after=N  per-batch columns for the rows-per-batch and QC charts
//         /api/events          server-sent events: `batch` (id = seq; resumes from Last-Event-ID or ?after=N), `state`
import type { AddressInfo } from 'node:net';
import type { LedgerReader } from '../stores/ledger.js';
import { assetRoutes } from './assets.js';
import { BatchLog } from './batch-log.js';
import type { DaemonStateFn } from './daemon-state.js';
import { allowedHosts, createServer, sendJson, type Routes } from './http.js';
import { LivePoll } from './live-poll.js';
import { quietLog, type DashboardLog } from './log.js';
import { SnapshotCache } from './snapshot.js';
import { SseHub, startSeq } from './sse-hub.js';

/** The documented default port of `medetl dashboard`. */
export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';

export interface DashboardOptions {
  ledger: LedgerReader;
  daemonState: DaemonStateFn;
  /** Default 127.0.0.1. Anything else makes masked aggregates reachable from the network: the caller warns. */
  host?: string;
  /** Default 8787; 0 = any free port (see the returned url). */
  port?: number;
  log?: DashboardLog;
  /** How often the ledger and the daemon are polled; default 300 ms. */
  pollMs?: number;
  /** SSE heartbeat comment interval; default 15 s. */
  heartbeatMs?: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

const DIGITS = /^\d{1,15}$/;

/**
 * Start the page. For `medetl watch --dashboard`: pass the daemon's own reader and state, e.g.
 * `startDashboard({ ledger: store.ledger, daemonState: async () => ({ running: !stopping, since, pid: process.pid }), log })`
 * (lockFileDaemonState also works in-process), and `await dash.close()` before the store closes. The first ledger
 * read happens before it listens; the returned url has the real port when `port: 0`.
 */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = opts.host ?? DEFAULT_HOST;
  const log = opts.log ?? quietLog;
  const batchLog = new BatchLog();
  const poll = new LivePoll(opts.ledger, opts.daemonState, batchLog, log, opts.pollMs ?? 300);
  const hub = new SseHub(batchLog, () => poll.state, { heartbeatMs: opts.heartbeatMs ?? 15_000, retryMs: 1000, maxClients: 32 });
  const snapshots = new SnapshotCache(opts.ledger, batchLog);
  poll.listen({ batches: () => hub.notify(), state: () => hub.broadcastState(), rewind: (to) => hub.rewind(to) });

  const routes: Routes = {
    ...assetRoutes(),
    '/api/snapshot': async (req, res) => {
      const s = poll.state;
      const snap = await snapshots.get(`${s.lastSeq}:${s.quarantined}:${s.ledger}`);
      sendJson(req, res, { ...snap, live: poll.state });
    },
    '/api/series': (req, res, q) => {
      const after = q.get('after') ?? '0';
      if (!DIGITS.test(after)) {
        sendJson(req, res, { error: 'after must be a whole number' }, 400);
        return;
      }
      sendJson(req, res, batchLog.series(Number(after)));
    },
    '/api/events': (req, res, q) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' }).end();
        return;
      }
      hub.open(req, res, startSeq(req, q, batchLog.lastSeq));
    },
  };

  await poll.tick(); // the first read before the first request
  let port = 0;
  const server = createServer(routes, () => allowedHosts(host, port), log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  poll.start();
  const shown = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${port}/`;
  log.info({ event: 'dashboard_started', host, port }, 'dashboard started');

  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= (async () => {
        await poll.stop();
        hub.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        log.info({ event: 'dashboard_stopped' }, 'dashboard stopped');
      })();
      return closing;
    },
  };
}
