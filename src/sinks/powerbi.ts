// Power BI push sink (optional, off by default). Microsoft is retiring push and streaming semantic
// models (no new ones after 31 Oct 2027): prefer the Parquet or ODBC routes for anything lasting.
//
// Rows reach Power BI through an outbox (sinks/outbox.ts): the store writes the masked rows as ready-to-send
// chunks of at most rows_per_post rows inside the batch transaction, so a batch is queued for Power BI exactly
// when it is committed. A sender (one per daemon) posts the oldest chunk
// to POWERBI_PUSH_URL, deletes it on 2xx, honours Retry-After on 429, backs off on 5xx and network
// errors, and never exceeds posts_per_minute. The outbox survives restarts and outages.
// One limit is Power BI's, not ours: the push API has no idempotency key, so a chunk that Power BI
// accepted just before a crash (before its outbox row was deleted) is sent again after the restart.
import type { Logger } from '../ops/log.js';
import type { MaskedBatch } from '../pipeline/deid.js';
import { NULL_INT, OUTPUT_COLUMNS } from '../pipeline/types.js';
import { isoDate } from '../pipeline/parse.js';
import { sleep } from '../core/retry.js';
import type { OutboxChunk, OutboxQueue, OutboxSender, OutboxSink } from './outbox.js';

export const POWERBI_URL_VARIABLE = 'POWERBI_PUSH_URL';
/** Power BI's documented limits for push datasets. */
export const POWERBI_MAX_ROWS_PER_POST = 10_000;
export const POWERBI_MAX_POSTS_PER_MINUTE = 120;

/** The batch as Power BI push payloads: {"rows":[{column: value}]}, at most rowsPerPost rows each. */
export function outboxChunks(b: MaskedBatch, rowsPerPost: number): { rows: number; payload: string }[] {
  const per = Math.min(rowsPerPost, POWERBI_MAX_ROWS_PER_POST);
  const chunks: { rows: number; payload: string }[] = [];
  const int = (v: number) => (v === NULL_INT ? null : v);
  const dbl = (v: number) => (Number.isNaN(v) ? null : v);
  for (let from = 0; from < b.n; from += per) {
    const rows: Record<(typeof OUTPUT_COLUMNS)[number], unknown>[] = [];
    for (let i = from; i < Math.min(b.n, from + per); i++) {
      rows.push({
        patient_key: b.patientKeys[b.patientKeyIdx[i]],
        dob_year: int(b.dobYear[i]),
        age_years: int(b.ageYears[i]),
        event_year: b.eventYear[i],
        event_date: b.eventDate[i] === NULL_INT ? null : isoDate(b.eventDate[i]),
        zip3: b.zip3s[b.zip3Idx[i]],
        systolic_bp: dbl(b.systolic_bp[i]),
        diastolic_bp: dbl(b.diastolic_bp[i]),
        heart_rate: dbl(b.heart_rate[i]),
        outlier_flags: b.flagTexts[b.flagIdx[i]],
        batch_id: b.batchId,
      });
    }
    chunks.push({ rows: rows.length, payload: JSON.stringify({ rows }) });
  }
  return chunks;
}

export const POWERBI_SINK = 'powerbi';

/** The Power BI push sink: chunks computed before the commit, a sender beside the daemon. */
export class PowerBiSink implements OutboxSink {
  readonly name = POWERBI_SINK;
  constructor(private readonly opts: Omit<SenderOptions, 'queue'> & { rowsPerPost: number }) {}

  chunks(b: MaskedBatch): { rows: number; payload: string }[] {
    return outboxChunks(b, this.opts.rowsPerPost);
  }

  sender(queue: OutboxQueue): PowerBiSender {
    return new PowerBiSender({ ...this.opts, queue });
  }
}

export interface SenderOptions {
  queue: OutboxQueue;
  url: string;
  postsPerMinute: number;
  log: Logger;
  /** Longest wait between retries of a failing POST. */
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
  /** Idle poll interval when the outbox is empty. */
  pollMs?: number;
}

export interface SenderStats {
  posted: number;
  rows: number;
  throttled: number;
  failures: number;
}

/** Sends the outbox in order, within Power BI's rate limit, beside the pipeline. */
export class PowerBiSender implements OutboxSender {
  private readonly queue: OutboxQueue;
  private readonly sent: number[] = [];
  private stopped = false;
  private wake: (() => void) | null = null;
  private idle = false;
  readonly stats: SenderStats = { posted: 0, rows: 0, throttled: 0, failures: 0 };

  constructor(private readonly opts: SenderOptions) {
    this.queue = opts.queue;
  }

  pending(): Promise<{ chunks: number; rows: number }> {
    return this.queue.pending();
  }

  /** Wait until another POST fits in the per-minute window. */
  private async throttle(): Promise<void> {
    const limit = Math.min(this.opts.postsPerMinute, POWERBI_MAX_POSTS_PER_MINUTE);
    for (;;) {
      const now = Date.now();
      while (this.sent.length && now - this.sent[0] >= 60_000) this.sent.shift();
      if (this.sent.length < limit) return;
      await this.pause(60_000 - (now - this.sent[0]) + 5);
      if (this.stopped) return;
    }
  }

  /** Wait, until the time is up or wake() is called (stop, or a poke while idle). */
  private pause(ms: number): Promise<void> {
    const ctl = new AbortController();
    this.wake = () => ctl.abort();
    return sleep(ms, ctl.signal).finally(() => (this.wake = null));
  }

  /** Post one chunk: true when it was delivered (and removed from the outbox). */
  private async postOne(row: OutboxChunk): Promise<boolean | number> {
    await this.throttle();
    if (this.stopped) return false;
    this.sent.push(Date.now());
    const countAttempt = () => this.queue.attempted(row);
    let res: Response;
    try {
      res = await fetch(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: row.payload,
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000),
      });
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      this.stats.failures++;
      await countAttempt();
      this.opts.log.warn({ event: 'powerbi_post_failed', batch_id: row.batchId, code: (err as { code?: string; name?: string }).code ?? (err as Error).name }, 'Power BI push failed; will retry');
      return -1;
    }
    if (res.ok) {
      await this.queue.delivered(row);
      this.stats.posted++;
      this.stats.rows += row.rows;
      return true;
    }
    await countAttempt();
    if (res.status === 429) {
      this.stats.throttled++;
      const after = Number(res.headers.get('retry-after'));
      return Number.isFinite(after) && after >= 0 ? after * 1000 : 5_000;
    }
    this.stats.failures++;
    this.opts.log.warn({ event: 'powerbi_post_rejected', batch_id: row.batchId, status: res.status }, 'Power BI push answered with an error; will retry');
    return -1;
  }

  private draining: Promise<number> | null = null;

  /**
   * Send until the outbox is empty (or stop() is called). Returns chunks delivered. Single-flight:
   * a call while a drain runs joins it, so no chunk is ever posted by two loops at once.
   */
  drain(): Promise<number> {
    if (!this.draining) this.draining = this.drainOnce().finally(() => (this.draining = null));
    return this.draining;
  }

  private async drainOnce(): Promise<number> {
    let delivered = 0;
    let backoff = 500;
    while (!this.stopped) {
      const row = await this.queue.next();
      if (!row) break;
      const r = await this.postOne(row);
      if (r === true) {
        delivered++;
        backoff = 500;
      } else if (typeof r === 'number' && r >= 0) {
        await this.pause(r); // 429: exactly what Power BI asked for
      } else if (r === -1) {
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 60_000);
      }
    }
    return delivered;
  }

  /** Run until stop(): drain, then poll for new chunks. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.drain();
      } catch (err) {
        this.opts.log.error({ event: 'powerbi_sender_error', code: (err as { code?: string }).code ?? (err as Error).name }, 'Power BI sender error; retrying');
      }
      if (this.stopped) break;
      this.idle = true;
      await this.pause(this.opts.pollMs ?? 1000);
      this.idle = false;
    }
  }

  /** A batch was just committed: wake the sender if it is idle (never cuts a Retry-After short). */
  poke(): void {
    if (this.idle) this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  async close(): Promise<void> {
    this.stop();
    await this.queue.close();
  }
}

