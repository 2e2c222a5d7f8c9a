// One sink's outbox on the SQLite store, on a connection of its own. It never waits for the write lock
// synchronously: the pipeline's batch transaction may hold it while that same thread awaits the Parquet encoder,
// so a blocking busy wait here would stall the batch. Writes retry asynchronously instead.
import Database from 'better-sqlite3';
import { sleep } from '../../core/retry.js';
import type { OutboxChunk, OutboxQueue } from '../outbox.js';

export class SqliteOutboxQueue implements OutboxQueue {
  private readonly db: Database.Database;

  constructor(
    releaseFile: string,
    private readonly sink: string,
  ) {
    this.db = new Database(releaseFile, { timeout: 0, fileMustExist: true });
    // Delivered chunks are deleted: their bytes must not stay in free pages.
    this.db.pragma('secure_delete = ON');
  }

  /** A write that waits for the lock without blocking the thread. */
  private async write(fn: () => void): Promise<void> {
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        fn();
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        await sleep(delay);
      }
    }
  }

  async pending(): Promise<{ chunks: number; rows: number }> {
    return this.db
      .prepare('SELECT COUNT(*) AS chunks, COALESCE(SUM(rows), 0) AS rows FROM outbox WHERE sink = ?')
      .get(this.sink) as { chunks: number; rows: number };
  }

  async next(): Promise<OutboxChunk | undefined> {
    const r = this.db.prepare('SELECT seq, batch_id, rows, payload FROM outbox WHERE sink = ? ORDER BY seq LIMIT 1').get(this.sink) as
      | { seq: number; batch_id: string; rows: number; payload: string }
      | undefined;
    return r && { seq: r.seq, batchId: r.batch_id, rows: r.rows, payload: r.payload };
  }

  async delivered(c: OutboxChunk): Promise<void> {
    const settle = this.db.transaction(() => {
      this.db.prepare('DELETE FROM outbox WHERE seq = ?').run(c.seq);
      this.db
        .prepare('INSERT INTO outbox_delivered (sink, batch_id, rows) VALUES (?, ?, ?) ON CONFLICT (sink, batch_id) DO UPDATE SET rows = rows + excluded.rows')
        .run(this.sink, c.batchId, c.rows);
    });
    await this.write(() => settle());
  }

  async attempted(c: OutboxChunk): Promise<void> {
    await this.write(() => this.db.prepare('UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?').run(c.seq));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
