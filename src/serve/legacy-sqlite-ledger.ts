// A read-only LedgerReader over TODAY's SQLite file (masked_out/cleaned.sqlite: cleaned_events, batches,
// batch_rejects, qc_metrics, quarantined), so the dashboard can be built and tested before the real stores land.
// The lead replaces it with the stores' own readers (stores/sqlite/, stores/postgres/); nothing else depends on it.
// BI rows are computed here with SQL on cleaned_events by the definitions of the BI tables (stores/bi.ts), with the
// small-cell rule applied: a cell describing fewer than 11 patients carries NULL counts and statistics.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { BatchDrift, BatchMetrics, BiTable, LedgerBatch, LedgerReader, LedgerSummary } from '../stores/ledger.js';
import type { QuarantineRecord } from '../stores/store.js';
import { MIN_CELL_PATIENTS } from './kpi-view.js';


export const AGE_BANDS = ['0-1', '2-12', '13-17', '18-39', '40-64', '65-89', '90+'] as const;
export const BP_CATEGORIES = ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'] as const;
const VITALS = ['systolic_bp', 'diastolic_bp', 'heart_rate'] as const;

// A flag names a value when it ends in _<column> (flag_, clip_, invalid_, implausible_ ...).
const names = (col: string) => `instr(';' || outlier_flags || ';', '_${col};') = 0`;
const BP_OK =
  `systolic_bp IS NOT NULL AND diastolic_bp IS NOT NULL AND ${names('systolic_bp')} AND ${names('diastolic_bp')} ` +
  `AND instr(';' || outlier_flags || ';', ';flag_bp_order;') = 0 AND instr(';' || outlier_flags || ';', ';flag_pulse_pressure;') = 0`;
/** ACC/AHA 2017, the higher of the two readings decides: 0 normal, 1 elevated, 2 stage_1, 3 stage_2, 4 crisis. */
const BP_RANK =
  'CASE WHEN systolic_bp > 180 OR diastolic_bp > 120 THEN 4 WHEN systolic_bp >= 140 OR diastolic_bp >= 90 THEN 3 ' +
  'WHEN systolic_bp >= 130 OR diastolic_bp >= 80 THEN 2 WHEN systolic_bp >= 120 THEN 1 ELSE 0 END';
const AGE_BAND =
  "CASE WHEN age_years <= 1 THEN '0-1' WHEN age_years <= 12 THEN '2-12' WHEN age_years <= 17 THEN '13-17' " +
  "WHEN age_years <= 39 THEN '18-39' WHEN age_years <= 64 THEN '40-64' WHEN age_years <= 89 THEN '65-89' ELSE '90+' END";
const TACHY = 'CASE WHEN age_years < 2 THEN heart_rate > 160 WHEN age_years <= 12 THEN heart_rate > 120 ELSE heart_rate > 100 END';

const utcMs = (t: string | null): number | null => (t ? Date.parse(`${t.replace(' ', 'T')}Z`) : null);
const small = (patients: number) => patients < MIN_CELL_PATIENTS;

/** Quantile with linear interpolation between closest ranks (type 7, as numpy and DuckDB's quantile_cont). */
function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return lo + 1 < sorted.length ? sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
}

interface BatchRow {
  seq: number;
  batch_id: string;
  rows_in: number;
  loaded: number;
  rejected: number;
  duplicates: number;
  flagged: number;
  clipped: number;
  part_file: string;
  key_fingerprint: string;
  deid_profile: string;
  zip3_table_version: string;
  source_name: string;
  arrived_at: string | null;
  committed_at: string;
  ms: number;
}

export class LegacySqliteLedger implements LedgerReader {
  private db: Database.Database | null = null;
  private version = -1;
  private ready = false;
  private cache = new Map<string, unknown>();

  constructor(readonly file: string) {}

  /** The open connection, or null while the file does not exist yet (nothing loaded: every answer is empty). */
  private conn(): Database.Database | null {
    if (!this.db) {
      if (!existsSync(this.file)) return null;
      this.db = new Database(this.file, { readonly: true, fileMustExist: true, timeout: 2000 });
    }
    // data_version changes whenever another connection commits: the cache holds until then.
    const v = this.db.pragma('data_version', { simple: true }) as number;
    if (v !== this.version) {
      this.version = v;
      this.cache.clear();
      // a writer that just created the file may not have created the tables yet: nothing loaded, then
      const tables = this.db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('batches', 'cleaned_events', 'quarantined', 'qc_metrics', 'batch_rejects')").pluck().get() as number;
      this.ready = tables === 5;
    }
    return this.ready ? this.db : null;
  }

  private cached<T>(key: string, make: (db: Database.Database) => T, empty: T): T {
    const db = this.conn();
    if (!db) return empty;
    if (!this.cache.has(key)) this.cache.set(key, make(db));
    return this.cache.get(key) as T;
  }

  async summary(): Promise<LedgerSummary> {
    const empty: LedgerSummary = { batches: 0, rows: 0, patients: 0, quarantinedByReason: {}, keyIds: [], profiles: [], lastSeq: 0 };
    return this.cached('summary', (db) => {
      const b = db.prepare('SELECT COUNT(*) AS n, COALESCE(MAX(rowid), 0) AS last FROM batches').get() as { n: number; last: number };
      const q: Record<string, number> = {};
      for (const r of db.prepare('SELECT reason_code AS r, COUNT(*) AS n FROM quarantined GROUP BY reason_code').all() as { r: string; n: number }[])
        q[r.r] = r.n;
      const ev = db.prepare('SELECT COUNT(*) AS rows, COUNT(DISTINCT patient_key) AS patients FROM cleaned_events').get() as { rows: number; patients: number };
      return {
        batches: b.n, rows: ev.rows, patients: ev.patients, quarantinedByReason: q, lastSeq: b.last,
        keyIds: db.prepare('SELECT DISTINCT key_fingerprint FROM batches').pluck().all() as string[],
        profiles: db.prepare('SELECT DISTINCT deid_profile FROM batches').pluck().all() as string[],
      };
    }, empty);
  }

  async batches(opts: { afterSeq?: number; limit?: number; newestFirst?: boolean } = {}): Promise<LedgerBatch[]> {
    const db = this.conn();
    if (!db) return [];
    const rows = db
      .prepare(
        `SELECT rowid AS seq, * FROM batches WHERE rowid > ? ORDER BY rowid ${opts.newestFirst ? 'DESC' : 'ASC'} LIMIT ?`,
      )
      .all(opts.afterSeq ?? 0, opts.limit ?? -1) as BatchRow[];
    return rows.map((r) => ({
      seq: r.seq, batchId: r.batch_id, rowsIn: r.rows_in, loaded: r.loaded, rejected: r.rejected, duplicates: r.duplicates,
      flagged: r.flagged, clipped: r.clipped, files: [r.part_file], keyId: r.key_fingerprint, deidProfile: r.deid_profile,
      zip3Vintage: r.zip3_table_version, startOffset: 0, endOffset: 0, sourceName: r.source_name,
      arrivedAtMs: utcMs(r.arrived_at), committedAtMs: utcMs(r.committed_at), ms: r.ms,
    }));
  }

  async committed(contentKey: string): Promise<string | null> {
    const db = this.conn();
    return db ? ((db.prepare('SELECT batch_id FROM batches WHERE content_sha256 = ?').pluck().get(contentKey) as string | undefined) ?? null) : null;
  }

  async storedRowsByBatch(): Promise<Map<string, number>> {
    const db = this.conn();
    const out = new Map<string, number>();
    if (db) for (const r of db.prepare('SELECT batch_id AS b, COUNT(*) AS n FROM cleaned_events GROUP BY batch_id').all() as { b: string; n: number }[]) out.set(r.b, r.n);
    return out;
  }

  async rejectsByBatch(): Promise<Map<string, Record<string, number>>> {
    const db = this.conn();
    const out = new Map<string, Record<string, number>>();
    if (!db) return out;
    for (const r of db.prepare('SELECT batch_id AS b, reason, rows FROM batch_rejects').all() as { b: string; reason: string; rows: number }[]) {
      const m = out.get(r.b) ?? {};
      m[r.reason] = r.rows;
      out.set(r.b, m);
    }
    return out;
  }

  private allMetrics(): BatchMetrics[] {
    return this.cached(
      'metrics',
      (db) =>
        db
          .prepare(
            `SELECT m.batch_id AS batchId, m.column_name AS "column", m.n, m.nulls, m.min, m.q1, m.median, m.q3, m.max,
               m.flagged, m.clipped
             FROM qc_metrics m JOIN batches b ON b.batch_id = m.batch_id ORDER BY b.rowid, m.column_name`,
          )
          .all() as BatchMetrics[],
      [] as BatchMetrics[],
    );
  }

  async metrics(batchIds?: readonly string[]): Promise<BatchMetrics[]> {
    const all = this.allMetrics();
    if (!batchIds) return all;
    const want = new Set(batchIds);
    return all.filter((m) => want.has(m.batchId));
  }

  /**
   * Today's file has no qc_drift table, so drift is derived here from qc_metrics (a stand-in for the stores' own):
   * per vital, a batch's median against the mean median of up to 10 earlier batches (at least 3), warn beyond 10%,
   * alert beyond 20%; and its flagged share against the earlier mean, warn 5 points above, alert 10 points above.
   */
  async drift(opts: { limit?: number } = {}): Promise<BatchDrift[]> {
    const all = this.cached('drift', () => {
      const out: BatchDrift[] = [];
      const history = new Map<string, { median: number; flaggedShare: number }[]>();
      for (const m of this.allMetrics()) {
        const h = history.get(m.column) ?? [];
        const share = m.n + m.nulls > 0 ? m.flagged / (m.n + m.nulls) : 0;
        const base = h.slice(-10);
        if (base.length >= 3 && m.median !== null) {
          const bMedian = base.reduce((s, x) => s + x.median, 0) / base.length;
          const rel = bMedian === 0 ? 0 : Math.abs(m.median - bMedian) / Math.abs(bMedian);
          if (rel > 0.1) {
            out.push({ batchId: m.batchId, column: m.column, statistic: 'median', baseline: bMedian, observed: m.median, severity: rel > 0.2 ? 'alert' : 'warn' });
          }
          const bShare = base.reduce((s, x) => s + x.flaggedShare, 0) / base.length;
          if (share - bShare > 0.05) {
            out.push({ batchId: m.batchId, column: m.column, statistic: 'flagged_share', baseline: bShare, observed: share, severity: share - bShare > 0.1 ? 'alert' : 'warn' });
          }
        }
        if (m.median !== null) h.push({ median: m.median, flaggedShare: share });
        history.set(m.column, h);
      }
      return out.reverse(); // newest first
    }, [] as BatchDrift[]);
    return opts.limit === undefined ? all : all.slice(0, opts.limit);
  }

  async quarantined(opts: { limit?: number } = {}): Promise<QuarantineRecord[]> {
    const db = this.conn();
    if (!db) return [];
    const rows = db
      .prepare('SELECT source_name, reason_code, content_sha256, at FROM quarantined ORDER BY at DESC, rowid DESC LIMIT ?')
      .all(opts.limit ?? -1) as { source_name: string; reason_code: string; content_sha256: string; at: string }[];
    return rows.map((r) => ({ sourceName: r.source_name, reasonCode: r.reason_code, contentKey: r.content_sha256 || null, atMs: utcMs(r.at) ?? 0 }));
  }

  async bi(table: BiTable): Promise<Record<string, unknown>[]> {
    return this.cached(`bi:${table}`, (db) => this.computeBi(db, table), [] as Record<string, unknown>[]);
  }

  private computeBi(db: Database.Database, table: BiTable): Record<string, unknown>[] {
    switch (table) {
      case 'kpi_bp_by_year':
        return this.bpCells(db, false);
      case 'kpi_bp_by_year_age_band':
        return this.bpCells(db, true);
      case 'kpi_heart_rate_by_age_band':
        return (
          db
            .prepare(
              `SELECT event_year, ${AGE_BAND} AS age_band, COUNT(DISTINCT patient_key) AS patients, COUNT(*) AS readings,
                SUM(${TACHY}) AS tachycardia_readings, AVG(heart_rate) AS mean_heart_rate
               FROM cleaned_events
               WHERE heart_rate IS NOT NULL AND ${names('heart_rate')} AND age_years >= 0 AND event_year IS NOT NULL
               GROUP BY event_year, age_band ORDER BY event_year, MIN(age_years)`,
            )
            .all() as { event_year: number; age_band: string; patients: number; readings: number; tachycardia_readings: number; mean_heart_rate: number }[]
        ).map((r) =>
          small(r.patients)
            ? { event_year: r.event_year, age_band: r.age_band, patients: null, readings: null, tachycardia_readings: null, mean_heart_rate: null }
            : r,
        );
      case 'kpi_vitals_by_year':
        return this.vitalsByYear(db);
      case 'kpi_qc_by_batch':
        return (
          db
            .prepare(
              `SELECT b.rowid AS batch_ref, b.batch_id, m.column_name AS vital, b.rows_in, b.loaded, b.rejected, b.duplicates,
                 m.n, m.nulls, m.flagged, m.clipped
               FROM batches b JOIN qc_metrics m ON m.batch_id = b.batch_id ORDER BY b.rowid, m.column_name`,
            )
            .all() as Record<string, number>[]
        ).map((r) => {
          const rows = r.n + r.nulls;
          return {
            batch_ref: r.batch_ref, batch_id: r.batch_id, vital: r.vital, rows_in: r.rows_in, loaded: r.loaded, rejected: r.rejected,
            duplicates: r.duplicates, reject_rate: r.rows_in > 0 ? r.rejected / r.rows_in : null,
            flagged_share: rows > 0 ? r.flagged / rows : null, clipped_share: rows > 0 ? r.clipped / rows : null,
            null_share: rows > 0 ? r.nulls / rows : null,
          };
        });
      case 'dim_age_band':
        return AGE_BANDS.map((b, i) => ({ age_band: b, sort_order: i }));
      case 'dim_year':
        return (db.prepare('SELECT DISTINCT event_year FROM cleaned_events WHERE event_year IS NOT NULL ORDER BY 1').pluck().all() as number[]).map((y) => ({ event_year: y }));
      case 'dim_zip3':
        return (db.prepare('SELECT DISTINCT zip3 FROM cleaned_events WHERE zip3 IS NOT NULL ORDER BY 1').pluck().all() as string[]).map((z) => ({ zip3: z }));
    }
  }

  /** Readings per category; patients once per cell, in the highest category of their counted readings there. */
  private bpCells(db: Database.Database, byBand: boolean): Record<string, unknown>[] {
    const band = byBand ? `, ${AGE_BAND} AS age_band` : '';
    const keys = byBand ? 'y, age_band' : 'y';
    const rows = db
      .prepare(
        `WITH r AS (SELECT patient_key AS pk, event_year AS y${band}, ${BP_RANK} AS c FROM cleaned_events
                    WHERE age_years >= 18 AND event_year IS NOT NULL AND ${BP_OK}),
              readings AS (SELECT ${keys}, c, COUNT(*) AS n FROM r GROUP BY ${keys}, c),
              top AS (SELECT ${keys}, c, COUNT(*) AS p FROM (SELECT pk, ${keys}, MAX(c) AS c FROM r GROUP BY pk, ${keys}) GROUP BY ${keys}, c)
         SELECT readings.*, COALESCE(top.p, 0) AS p FROM readings
         LEFT JOIN top ON top.y = readings.y AND top.c = readings.c ${byBand ? 'AND top.age_band = readings.age_band' : ''}
         ORDER BY readings.y${byBand ? ', readings.age_band' : ''}, readings.c`,
      )
      .all() as { y: number; age_band?: string; c: number; n: number; p: number }[];
    return rows.map((r) => ({
      event_year: r.y,
      ...(byBand ? { age_band: r.age_band } : {}),
      bp_category: BP_CATEGORIES[r.c],
      patients: small(r.p) ? null : r.p,
      readings: small(r.p) ? null : r.n,
    }));
  }

  private vitalsByYear(db: Database.Database): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const v of VITALS) {
      const stmt = db
        .prepare(`SELECT event_year, ${v}, patient_key FROM cleaned_events WHERE ${v} IS NOT NULL AND ${names(v)} AND event_year IS NOT NULL ORDER BY event_year, ${v}`)
        .raw();
      let year: number | null = null;
      let values: number[] = [];
      let patients = new Set<string>();
      const flush = () => {
        if (year === null) return;
        const p = patients.size;
        const pub = !small(p);
        out.push({
          event_year: year, vital: v, patients: pub ? p : null, n: pub ? values.length : null,
          mean: pub ? values.reduce((s, x) => s + x, 0) / values.length : null,
          p10: pub ? quantile(values, 0.1) : null, median: pub ? quantile(values, 0.5) : null, p90: pub ? quantile(values, 0.9) : null,
        });
      };
      for (const [y, x, pk] of stmt.iterate() as Iterable<[number, number, string]>) {
        if (y !== year) {
          flush();
          year = y;
          values = [];
          patients = new Set();
        }
        values.push(x);
        patients.add(pk);
      }
      flush();
    }
    return out.sort((a, b) => (a.event_year as number) - (b.event_year as number));
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
  }
}
