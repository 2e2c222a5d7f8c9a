// The ledger reader over SQLite: the release database (masked_out/cleaned.sqlite) and, when at hand, the private
// bookkeeping database (paths.state/private.sqlite). Read-only statements only.
import type Database from 'better-sqlite3';
import type { BatchDrift, BatchMetrics, BiTable, LedgerBatch, LedgerReader, LedgerSummary } from '../ledger.js';
import type { QuarantineRecord } from '../store.js';

interface BatchRow {
  seq: number;
  batch_id: string;
  rows_in: number;
  loaded: number;
  rejected: number;
  duplicates: number;
  flagged: number;
  clipped: number;
  files: string;
  key_id: string;
  deid_profile: string;
  zip3_vintage: string;
  start_offset: number;
  end_offset: number;
}

interface SourceRow {
  batch_id: string;
  source_name: string;
  arrived_at: string | null;
  committed_at: string;
  ms: number;
}

/** `YYYY-MM-DD HH:MM:SS` (UTC) -> ms. */
export function utcMs(t: string | null): number | null {
  if (!t) return null;
  const ms = Date.parse(`${t.replace(' ', 'T')}Z`);
  return Number.isFinite(ms) ? ms : null;
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?").get(name) !== undefined;
}

export class SqliteLedger implements LedgerReader {
  constructor(
    private readonly db: Database.Database,
    private readonly priv: Database.Database | null,
    private readonly closeWith: () => void = () => undefined,
  ) {}

  private get ready(): boolean {
    return hasTable(this.db, 'batches');
  }

  async summary(): Promise<LedgerSummary> {
    const quarantinedByReason: Record<string, number> = {};
    if (this.priv && hasTable(this.priv, 'quarantined')) {
      for (const q of this.priv.prepare('SELECT reason_code AS r, COUNT(*) AS n FROM quarantined GROUP BY reason_code').all() as { r: string; n: number }[])
        quarantinedByReason[q.r] = q.n;
    }
    if (!this.ready) return { batches: 0, rows: 0, patients: 0, quarantinedByReason, keyIds: [], profiles: [], lastSeq: 0 };
    const one = (sql: string) => this.db.prepare(sql).pluck().get() as number;
    return {
      batches: one('SELECT COUNT(*) FROM batches'),
      rows: one('SELECT COUNT(*) FROM events'),
      patients: one('SELECT COUNT(*) FROM patients'),
      quarantinedByReason,
      keyIds: this.db.prepare('SELECT DISTINCT key_id FROM batches ORDER BY key_id').pluck().all() as string[],
      profiles: this.db.prepare('SELECT DISTINCT deid_profile FROM batches ORDER BY deid_profile').pluck().all() as string[],
      lastSeq: one('SELECT COALESCE(MAX(seq), 0) FROM batches'),
    };
  }

  async batches(opts: { afterSeq?: number; limit?: number; newestFirst?: boolean } = {}): Promise<LedgerBatch[]> {
    if (!this.ready) return [];
    const rows = this.db
      .prepare(
        `SELECT seq, batch_id, rows_in, loaded, rejected, duplicates, flagged, clipped, files, key_id, deid_profile,
                zip3_vintage, start_offset, end_offset
         FROM batches WHERE seq > ? ORDER BY seq ${opts.newestFirst ? 'DESC' : 'ASC'} LIMIT ?`,
      )
      .all(opts.afterSeq ?? 0, opts.limit ?? -1) as BatchRow[];
    const sources = new Map<string, SourceRow>();
    if (this.priv && rows.length && hasTable(this.priv, 'batch_sources')) {
      const get = this.priv.prepare('SELECT batch_id, source_name, arrived_at, committed_at, ms FROM batch_sources WHERE batch_id = ?');
      for (const r of rows) {
        const s = get.get(r.batch_id) as SourceRow | undefined;
        if (s) sources.set(r.batch_id, s);
      }
    }
    return rows.map((r) => {
      const s = sources.get(r.batch_id);
      return {
        seq: r.seq, batchId: r.batch_id, rowsIn: r.rows_in, loaded: r.loaded, rejected: r.rejected, duplicates: r.duplicates,
        flagged: r.flagged, clipped: r.clipped, files: r.files ? r.files.split(';') : [], keyId: r.key_id, deidProfile: r.deid_profile,
        zip3Vintage: r.zip3_vintage, startOffset: r.start_offset, endOffset: r.end_offset,
        sourceName: s?.source_name ?? null, arrivedAtMs: utcMs(s?.arrived_at ?? null), committedAtMs: utcMs(s?.committed_at ?? null),
        ms: s?.ms ?? null,
      };
    });
  }

  async committed(contentKey: string): Promise<string | null> {
    if (!this.ready) return null;
    return (this.db.prepare('SELECT batch_id FROM batches WHERE content_key = ?').pluck().get(contentKey) as string | undefined) ?? null;
  }

  async storedRowsByBatch(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (!this.ready) return out;
    const rows = this.db
      .prepare(
        `SELECT COALESCE(b.batch_id, '#' || e.batch_ref) AS id, e.n FROM
           (SELECT batch_ref, COUNT(*) AS n FROM events GROUP BY batch_ref) e LEFT JOIN batches b ON b.batch_ref = e.batch_ref`,
      )
      .all() as { id: string; n: number }[];
    for (const r of rows) out.set(r.id, r.n);
    return out;
  }

  async rejectsByBatch(): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    if (!this.ready) return out;
    for (const r of this.db.prepare('SELECT batch_id, reason, rows FROM batch_rejects').all() as { batch_id: string; reason: string; rows: number }[]) {
      const m = out.get(r.batch_id) ?? {};
      m[r.reason] = r.rows;
      out.set(r.batch_id, m);
    }
    return out;
  }

  async metrics(batchIds?: readonly string[]): Promise<BatchMetrics[]> {
    if (!this.ready) return [];
    const rows = this.db
      .prepare(
        `SELECT m.batch_id, m.column_name, m.n, m.nulls, m.min, m.q1, m.median, m.q3, m.max, m.flagged, m.clipped, m.implausible, m.converted FROM qc_metrics m
         LEFT JOIN batches b ON b.batch_id = m.batch_id ORDER BY b.seq, m.column_name`,
      )
      .all() as (Omit<BatchMetrics, 'batchId' | 'column'> & { batch_id: string; column_name: string })[];
    const want = batchIds ? new Set(batchIds) : null;
    return rows
      .filter((r) => !want || want.has(r.batch_id))
      .map(({ batch_id, column_name, ...m }) => ({ batchId: batch_id, column: column_name, ...m }));
  }

  async drift(opts: { limit?: number } = {}): Promise<BatchDrift[]> {
    if (!this.ready) return [];
    const rows = this.db
      .prepare(
        `SELECT d.batch_id, d.column_name, d.statistic, d.baseline, d.observed, d.severity FROM qc_drift d
         JOIN batches b ON b.batch_id = d.batch_id ORDER BY b.seq DESC LIMIT ?`,
      )
      .all(opts.limit ?? -1) as { batch_id: string; column_name: string; statistic: string; baseline: number; observed: number; severity: 'warn' | 'alert' }[];
    return rows.map((r) => ({ batchId: r.batch_id, column: r.column_name, statistic: r.statistic, baseline: r.baseline, observed: r.observed, severity: r.severity }));
  }

  async quarantined(opts: { limit?: number } = {}): Promise<QuarantineRecord[]> {
    if (!this.priv || !hasTable(this.priv, 'quarantined')) return [];
    const rows = this.priv
      .prepare('SELECT at, source_name, reason_code, content_key FROM quarantined ORDER BY at DESC, rowid DESC LIMIT ?')
      .all(opts.limit ?? -1) as { at: string; source_name: string; reason_code: string; content_key: string | null }[];
    return rows.map((r) => ({ atMs: utcMs(r.at) ?? 0, sourceName: r.source_name, reasonCode: r.reason_code, contentKey: r.content_key }));
  }

  async bi(table: BiTable): Promise<Record<string, unknown>[]> {
    if (!hasTable(this.db, table)) return [];
    return this.db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
  }

  async close(): Promise<void> {
    this.closeWith();
  }
}
