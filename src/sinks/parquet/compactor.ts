// The daemon's re-compactor: keeps masked_out/cleaned.parquet and masked_out/bi/*.parquet current while `watch`
// runs, so Power BI's Parquet route needs only a refresh. It runs beside the batch loop like an outbox sender
// (run / poke / drain / stop): poked after each batch, it compacts at most once per `intervalMs`
// (sinks.parquet.auto_compact_ms), one compaction at a time, on a thread of its own (compact.ts), from a consistent
// snapshot of the ledger; it never holds a lock the loop needs, and a failed compaction is logged and retried at the
// next interval. Files are replaced atomically (temporary name, fsync, rename); temporary files of processes that
// are gone are removed when it starts.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describeError } from '../../core/errors.js';
import type { Logger } from '../../ops/log.js';
import type { LedgerReader } from '../../stores/ledger.js';
import type { OutboxSender } from '../outbox.js';
import { BI_FOLDER } from './bi-export.js';
import { compactRelease, sweepCompactionTemps, type CompactReport, type ReleaseTarget } from './compact.js';

export interface CompactorOptions extends ReleaseTarget {
  /** At most one compaction per interval (ms). */
  intervalMs: number;
  /** A read-only ledger, opened for each compaction and closed after it. */
  openReader: () => LedgerReader | Promise<LedgerReader>;
  log: Logger;
}

export interface CompactorStats {
  compactions: number;
  failures: number;
  last: CompactReport | null;
}

export class Compactor implements OutboxSender {
  private dirty = false;
  private stopped = false;
  /** The interval counts from the start too: a daemon working through a backlog compacts once per interval. */
  private lastStartMs = Date.now();
  private lastSeq: number | undefined;
  private flight: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly abort = new AbortController();
  readonly stats: CompactorStats = { compactions: 0, failures: 0, last: null };

  constructor(private readonly o: CompactorOptions) {
    if (!(o.intervalMs > 0)) throw new Error('Compactor: intervalMs must be > 0 (0 turns auto-compaction off: do not create one)');
  }

  /** Until stop(): compact when poked, at most once per interval. */
  async run(): Promise<void> {
    const swept = await sweepCompactionTemps(this.o.maskedOut, this.o.outFile).catch(() => 0);
    if (swept) this.o.log.info({ event: 'compaction_temps_removed', files: swept });
    while (!this.stopped) {
      const waitMs = this.dirty ? this.lastStartMs + this.o.intervalMs - Date.now() : Infinity;
      if (this.dirty && waitMs <= 0) await this.compactOnce();
      else await this.sleep(waitMs);
    }
    await this.flight;
  }

  /** A batch committed: compact soon (now, or when the interval since the last compaction is over). */
  poke(): void {
    this.dirty = true;
    this.wake?.();
  }

  /** Compact now if anything is pending (the interval does not apply); resolves when done. */
  async drain(): Promise<number> {
    await this.flight;
    if (this.dirty && !this.stopped) await this.compactOnce();
    return 0;
  }

  /** No new compaction starts; one in flight is stopped (its temporary file removed). */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
  }

  async close(): Promise<void> {
    this.stop();
    await this.flight;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.max(0, ms)) : undefined;
      this.wake = done;
    });
  }

  /** Single flight: a second caller waits for the compaction in progress. */
  private compactOnce(): Promise<void> {
    if (this.flight) return this.flight;
    this.dirty = false;
    this.lastStartMs = Date.now();
    this.flight = (async () => {
      const reader = await this.o.openReader();
      const t0 = Date.now();
      try {
        const r = await compactRelease(this.o, reader, { sinceSeq: this.lastSeq, signal: this.abort.signal });
        if (r) {
          this.lastSeq = r.seq;
          this.stats.compactions++;
          this.stats.last = r;
          this.o.log.info({ event: 'compacted', seq: r.seq, parts: r.parts, rows: r.rows, bi_tables: r.biTables, bi_rows: r.biRows, ms: Date.now() - t0 });
        }
      } catch (err) {
        if (this.stopped) return;
        this.stats.failures++;
        this.dirty = true; // try again at the next interval
        this.o.log.warn({ event: 'compaction_failed', code: (err as NodeJS.ErrnoException).code, error: describeError(err) });
      } finally {
        await reader.close().catch(() => undefined);
      }
    })().finally(() => {
      this.flight = null;
    });
    return this.flight;
  }
}

/** The Parquet files Power BI reads, kept current: a Compactor, or null when auto_compact_ms is 0. */
export function autoCompactor(o: CompactorOptions): Compactor | null {
  return o.intervalMs > 0 ? new Compactor(o) : null;
}

