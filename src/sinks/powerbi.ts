// Power BI push sink (optional, off by default). Microsoft is retiring push and streaming semantic
// models (no new ones after 31 Oct 2027): prefer the Parquet or ODBC routes for anything lasting.
//
// Rows reach Power BI through an outbox: the batch transaction (sqlite.ts commit) writes the masked
// rows as ready-to-send chunks of at most rows_per_post rows into `powerbi_outbox`, so a batch is
// queued for Power BI exactly when it is committed. A sender (one per daemon) posts the oldest chunk
// to POWERBI_PUSH_URL, deletes it on 2xx, honours Retry-After on 429, backs off on 5xx and network
// errors, and never exceeds posts_per_minute. The outbox survives restarts and outages.
// One limit is Power BI's, not ours: the push API has no idempotency key, so a chunk that Power BI
// accepted just before a crash (before its outbox row was deleted) is sent again after the restart.
import Database from 'better-sqlite3';
import type { Logger } from '../ops/log.js';
import type { MaskedBatch } from '../pipeline/deid.js';
import { NULL_INT, OUTPUT_COLUMNS } from '../pipeline/types.js';
import { isoDate } from '../pipeline/parse.js';

export const POWERBI_URL_VARIABLE = 'POWERBI_PUSH_URL';
/** Power BI's documented limits for push datasets. */
export const POWERBI_MAX_ROWS_PER_POST = 10_000;
export const POWERBI_MAX_POSTS_PER_MINUTE = 120;

export const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS powerbi_outbox (
  seq      INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id VARCHAR(40) NOT NULL,
  rows     INTEGER NOT NULL,
  payload  TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS powerbi_delivered (
  batch_id VARCHAR(40) PRIMARY KEY,
  rows     INTEGER NOT NULL
);
`;

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

export interface SenderOptions {
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

/** Sends the outbox in order, within Power BI's rate limit. Its own connection; WAL lets it run beside the pipeline. */
export class PowerBiSender {
  private readonly db: Database.Database;
  private readonly sent: number[] = [];
  private stopped = false;
  private wake: (() => void) | null = null;
  private idle = false;
  readonly stats: SenderStats = { posted: 0, rows: 0, throttled: 0, failures: 0 };

  constructor(
    sqliteFile: string,
    private readonly opts: SenderOptions,
  ) {
    // No busy wait: the pipeline's batch transaction may hold the write lock while it awaits the
    // encoder thread on this same thread; a blocking wait here would stall that batch. Retry async.
    this.db = new Database(sqliteFile, { timeout: 0 });
    this.db.pragma('journal_mode = WAL');
    this.db.exec(OUTBOX_SCHEMA);
  }

  pending(): { chunks: number; rows: number } {
    const r = this.db.prepare('SELECT COUNT(*) AS chunks, COALESCE(SUM(rows), 0) AS rows FROM powerbi_outbox').get() as { chunks: number; rows: number };
    return r;
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

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  /** A write that waits for the lock without blocking the thread. */
  private async write(fn: () => void): Promise<void> {
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        fn();
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Post one chunk: true when it was delivered (and removed from the outbox). */
  private async postOne(row: { seq: number; batch_id: string; rows: number; payload: string }): Promise<boolean | number> {
    await this.throttle();
    if (this.stopped) return false;
    this.sent.push(Date.now());
    const countAttempt = () => this.write(() => this.db.prepare('UPDATE powerbi_outbox SET attempts = attempts + 1 WHERE seq = ?').run(row.seq));
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
      this.opts.log.warn({ event: 'powerbi_post_failed', batch_id: row.batch_id, code: (err as { code?: string; name?: string }).code ?? (err as Error).name }, 'Power BI push failed; will retry');
      return -1;
    }
    if (res.ok) {
      const settle = this.db.transaction(() => {
        this.db.prepare('DELETE FROM powerbi_outbox WHERE seq = ?').run(row.seq);
        this.db
          .prepare('INSERT INTO powerbi_delivered (batch_id, rows) VALUES (?, ?) ON CONFLICT(batch_id) DO UPDATE SET rows = rows + excluded.rows')
          .run(row.batch_id, row.rows);
      });
      await this.write(() => settle());
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
    this.opts.log.warn({ event: 'powerbi_post_rejected', batch_id: row.batch_id, status: res.status }, 'Power BI push answered with an error; will retry');
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
    const next = this.db.prepare('SELECT seq, batch_id, rows, payload FROM powerbi_outbox ORDER BY seq LIMIT 1');
    while (!this.stopped) {
      const row = next.get() as { seq: number; batch_id: string; rows: number; payload: string } | undefined;
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

  close(): void {
    this.stop();
    this.db.close();
  }
}

