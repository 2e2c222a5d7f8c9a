// Server-sent events: one `batch` event per committed batch, numbered with its seq (`id: <seq>`), and unnumbered
// `state` events (daemon started or stopped, quarantine count, ledger readable). A client that reconnects with
// `Last-Event-ID: N` (EventSource does it by itself) gets every batch with seq > N once, in order, then live ones:
// each client has its own cursor into the batch log, and one writer loop at a time per client.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { BatchLog } from './batch-log.js';

interface Client {
  res: ServerResponse;
  /** The newest seq written to this client. */
  sentSeq: number;
  busy: boolean;
  again: boolean;
  closed: boolean;
}

export interface SseOptions {
  heartbeatMs: number;
  /** The reconnection delay the browser is told to use. */
  retryMs: number;
  maxClients: number;
}

const DIGITS = /^\d{1,15}$/;

/** Where a client starts: its Last-Event-ID, else `?after=N`, else now (live only). */
export function startSeq(req: IncomingMessage, query: URLSearchParams, now: number): number {
  const last = req.headers['last-event-id'];
  if (typeof last === 'string' && DIGITS.test(last.trim())) return Number(last.trim());
  const after = query.get('after');
  if (after !== null && DIGITS.test(after)) return Number(after);
  return now;
}

export class SseHub {
  private clients = new Set<Client>();
  private heartbeat: NodeJS.Timeout;

  constructor(
    private readonly log: BatchLog,
    private readonly state: () => unknown,
    private readonly opts: SseOptions,
  ) {
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) if (!c.closed) c.res.write(`: heartbeat\n\n`);
    }, opts.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  open(req: IncomingMessage, res: ServerResponse, from: number): void {
    if (this.clients.size >= this.opts.maxClients) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' }).end('too many live connections\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    const c: Client = { res, sentSeq: from, busy: false, again: false, closed: false };
    this.clients.add(c);
    const drop = () => {
      c.closed = true;
      this.clients.delete(c);
    };
    res.on('close', drop);
    res.on('error', drop);
    res.write(`retry: ${this.opts.retryMs}\n\n`);
    res.write(this.stateFrame());
    void this.pump(c);
  }

  /** New batches are in the log: send them to every client. */
  notify(): void {
    for (const c of this.clients) void this.pump(c);
  }

  broadcastState(): void {
    const frame = this.stateFrame();
    for (const c of this.clients) if (!c.closed) c.res.write(frame);
  }

  /** The log was reset (a replaced ledger): cursors move back so the new batches are sent. */
  rewind(to: number): void {
    for (const c of this.clients) c.sentSeq = Math.min(c.sentSeq, to);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) {
      c.closed = true;
      c.res.end();
    }
    this.clients.clear();
  }

  private stateFrame(): string {
    return `event: state\ndata: ${JSON.stringify(this.state())}\n\n`;
  }

  private async pump(c: Client): Promise<void> {
    if (c.busy) {
      c.again = true;
      return;
    }
    c.busy = true;
    try {
      do {
        c.again = false;
        for (const p of this.log.after(c.sentSeq)) {
          if (c.closed) return;
          const ok = c.res.write(`id: ${p.seq}\nevent: batch\ndata: ${JSON.stringify(p)}\n\n`);
          c.sentSeq = p.seq;
          if (!ok && !c.closed) await Promise.race([once(c.res, 'drain'), once(c.res, 'close')]);
        }
      } while (c.again && !c.closed);
    } finally {
      c.busy = false;
    }
  }
}
