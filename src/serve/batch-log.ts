// The committed batches as the page sees them, oldest first: a small, masked record per batch (counts, seq, a safe
// file name), grown from the ledger with batches({ afterSeq }). The SSE hub replays from it on resume and the
// rows-per-batch and QC charts read it as columns.
import type { LedgerBatch, LedgerReader } from '../stores/ledger.js';
import { safeBatchId, safeFileName } from './safe-text.js';

export interface BatchPoint {
  seq: number;
  batchId: string;
  file: string;
  rowsIn: number;
  loaded: number;
  rejected: number;
  duplicates: number;
  flagged: number;
  clipped: number;
  committedAtMs: number | null;
}

const PAGE = 2000;
const int = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function toPoint(b: LedgerBatch): BatchPoint {
  return {
    seq: int(b.seq), batchId: safeBatchId(b.batchId), file: safeFileName(b.sourceName), rowsIn: int(b.rowsIn), loaded: int(b.loaded),
    rejected: int(b.rejected), duplicates: int(b.duplicates), flagged: int(b.flagged), clipped: int(b.clipped),
    committedAtMs: typeof b.committedAtMs === 'number' ? b.committedAtMs : null,
  };
}

/** Columns for the charts: one array per field, x = seq. */
export interface BatchSeries {
  seq: number[];
  rowsIn: number[];
  loaded: number[];
  rejected: number[];
  duplicates: number[];
  flagged: number[];
  clipped: number[];
}

export class BatchLog {
  private points: BatchPoint[] = [];
  private seqById = new Map<string, number>();
  private growing: Promise<void> = Promise.resolve();

  get lastSeq(): number {
    return this.points.length ? this.points[this.points.length - 1].seq : 0;
  }

  /** Read what the ledger committed after our last seq (one reader at a time). */
  grow(ledger: LedgerReader): Promise<void> {
    const run = this.growing.then(async () => {
      for (;;) {
        const page = await ledger.batches({ afterSeq: this.lastSeq, limit: PAGE });
        for (const b of page) {
          const p = toPoint(b);
          if (p.seq <= this.lastSeq) continue; // never out of order, never twice
          this.points.push(p);
          this.seqById.set(p.batchId, p.seq);
        }
        if (page.length < PAGE) return;
      }
    });
    this.growing = run.catch(() => undefined);
    return run;
  }

  /** Forget everything (the ledger was replaced by one with fewer batches). */
  reset(): void {
    this.points = [];
    this.seqById.clear();
  }

  /** Batches with seq > after, oldest first. */
  after(after: number): BatchPoint[] {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.points[mid].seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return this.points.slice(lo);
  }

  newest(n: number): BatchPoint[] {
    return this.points.slice(-n).reverse();
  }

  seqOf(batchId: string): number | null {
    return this.seqById.get(batchId) ?? null;
  }

  series(after = 0): BatchSeries {
    const s: BatchSeries = { seq: [], rowsIn: [], loaded: [], rejected: [], duplicates: [], flagged: [], clipped: [] };
    for (const p of this.after(after)) {
      s.seq.push(p.seq);
      s.rowsIn.push(p.rowsIn);
      s.loaded.push(p.loaded);
      s.rejected.push(p.rejected);
      s.duplicates.push(p.duplicates);
      s.flagged.push(p.flagged);
      s.clipped.push(p.clipped);
    }
    return s;
  }
}
