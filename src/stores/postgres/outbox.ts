// One outbox sink's queue (sinks/outbox.ts) in PostgreSQL: chunks the batch transactions wrote into `outbox`.
// Many workers may run a sender; only the one holding the sink's session advisory lock gets chunks from next(),
// so a chunk is never sent by two processes at once. The lock goes with its connection (a killed sender's lock is
// released by the server, and another takes over).
import type pg from 'pg';
import type { OutboxChunk, OutboxQueue } from '../outbox.js';
import { checkout, type Conn } from './connect.js';
import { storeError } from './errors.js';
import type { PgNames } from './names.js';

export class PgOutboxQueue implements OutboxQueue {
  private lease: Conn | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly names: PgNames,
    readonly sink: string,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {}

  private async q<R extends pg.QueryResultRow>(operation: string, sql: string, params: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw storeError(err, operation);
    }
  }

  /** True while this process is the sink's one sender. */
  private async holdLease(): Promise<boolean> {
    if (this.lease && !this.lease.broken) return true;
    this.lease?.release(true);
    this.lease = null;
    let conn: Conn;
    try {
      conn = await checkout(this.pool);
    } catch (err) {
      throw storeError(err, 'taking the outbox lease');
    }
    try {
      const r = await conn.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [this.names.lock.outbox(this.sink)]);
      if (r.rows[0].ok) {
        this.lease = conn;
        return true;
      }
      conn.release();
      return false;
    } catch (err) {
      conn.release(true);
      throw storeError(err, 'taking the outbox lease');
    }
  }

  async pending(): Promise<{ chunks: number; rows: number }> {
    const [r] = await this.q<{ chunks: string; rows: string | null }>(
      'reading the outbox',
      `SELECT count(*) AS chunks, sum("rows") AS rows FROM ${this.names.t('outbox')} WHERE sink = $1`,
      [this.sink],
    );
    return { chunks: Number(r.chunks), rows: Number(r.rows ?? 0) };
  }

  async next(): Promise<OutboxChunk | undefined> {
    if (!(await this.holdLease())) return undefined;
    const [r] = await this.q<{ seq: string; batch_id: string; rows: number; payload: string }>(
      'reading the outbox',
      `SELECT seq, batch_id, "rows", payload FROM ${this.names.t('outbox')} WHERE sink = $1 ORDER BY seq LIMIT 1`,
      [this.sink],
    );
    return r ? { seq: Number(r.seq), batchId: r.batch_id, rows: r.rows, payload: r.payload } : undefined;
  }

  async delivered(chunk: OutboxChunk): Promise<void> {
    const t = this.names.t;
    // Idempotent: only the statement that removes the chunk counts its rows as delivered.
    await this.q(
      'settling an outbox chunk',
      `WITH gone AS (DELETE FROM ${t('outbox')} WHERE seq = $1 AND sink = $2 RETURNING batch_id, "rows")
       INSERT INTO ${t('outbox_delivered')} (sink, batch_id, "rows") SELECT $2, batch_id, "rows" FROM gone
       ON CONFLICT (sink, batch_id) DO UPDATE SET "rows" = ${t('outbox_delivered')}."rows" + excluded."rows"`,
      [chunk.seq, this.sink],
    );
  }

  async attempted(chunk: OutboxChunk): Promise<void> {
    await this.q('counting an outbox attempt', `UPDATE ${this.names.t('outbox')} SET attempts = attempts + 1 WHERE seq = $1 AND sink = $2`, [chunk.seq, this.sink]);
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    if (lease) {
      const ok = lease.broken ? false : await lease.client.query('SELECT pg_advisory_unlock($1::bigint)', [this.names.lock.outbox(this.sink)]).then(() => true, () => false);
      lease.release(!ok);
    }
    await this.onClose();
  }
}
