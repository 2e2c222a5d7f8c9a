// The ledger reader over a PostgreSQL store: the only SQL that status, verify, score, audit and the dashboard run
// against the ledger. A role that may not read the private schema (the analysts') gets null private fields, not
// an error.
import type pg from 'pg';
import type { BatchDrift, BatchMetrics, BiTable, LedgerBatch, LedgerReader, LedgerSummary } from '../ledger.js';
import type { QuarantineRecord } from '../store.js';
import { storeError } from './errors.js';
import type { PgNames } from './names.js';

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class PgLedgerReader implements LedgerReader {
  private privateReadable: Promise<boolean> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly names: PgNames,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {}

  private async q<R extends pg.QueryResultRow>(operation: string, sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (err) {
      throw storeError(err, operation);
    }
  }

  /** Whether this role may read the private tables (checked once, from the catalog and the privilege functions). */
  canReadPrivate(): Promise<boolean> {
    this.privateReadable ??= this.q<{ ok: boolean }>(
      'checking rights on the private schema',
      `SELECT bool_and(has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')) AS ok, count(*) AS n
         FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid
        WHERE n.nspname = $1 AND c.relname IN ('batch_sources', 'quarantined')
       HAVING count(*) = 2`,
      [this.names.privateSchema],
    )
      .then((r) => r[0]?.ok === true)
      .catch((err) => {
        this.privateReadable = null;
        throw err;
      });
    return this.privateReadable;
  }

  async summary(): Promise<LedgerSummary> {
    const t = this.names.t;
    const [b] = await this.q<{ batches: string; rows: string | null; last_seq: number | null; key_ids: string[] | null; profiles: string[] | null }>(
      'reading the ledger summary',
      `SELECT count(*) AS batches, sum(loaded) AS rows, max(seq) AS last_seq,
              array_agg(DISTINCT key_id ORDER BY key_id) FILTER (WHERE key_id IS NOT NULL) AS key_ids,
              array_agg(DISTINCT deid_profile ORDER BY deid_profile) FILTER (WHERE deid_profile IS NOT NULL) AS profiles
         FROM ${t('batches')}`,
    );
    // Every patients row was written with its first events (patients of a rolled-back batch roll back with it).
    const [p] = await this.q<{ n: string }>('counting patients', `SELECT count(*) AS n FROM ${t('patients')}`);
    const quarantinedByReason: Record<string, number> = {};
    if (await this.canReadPrivate()) {
      for (const r of await this.q<{ reason_code: string; n: string }>(
        'counting quarantined files',
        `SELECT reason_code, count(*) AS n FROM ${this.names.p('quarantined')} GROUP BY reason_code ORDER BY reason_code`,
      ))
        quarantinedByReason[r.reason_code] = num(r.n);
    }
    return {
      batches: num(b.batches),
      rows: num(b.rows ?? 0),
      patients: num(p.n),
      quarantinedByReason,
      keyIds: b.key_ids ?? [],
      profiles: b.profiles ?? [],
      lastSeq: b.last_seq ?? 0,
    };
  }

  async batches(opts: { afterSeq?: number; limit?: number; newestFirst?: boolean } = {}): Promise<LedgerBatch[]> {
    const priv = await this.canReadPrivate();
    const n = this.names;
    const privCols = priv
      ? `s.source_name, (extract(epoch FROM s.arrived_at) * 1000)::float8 AS arrived_ms,
         (extract(epoch FROM s.committed_at) * 1000)::float8 AS committed_ms, s.ms`
      : 'NULL AS source_name, NULL AS arrived_ms, NULL AS committed_ms, NULL AS ms';
    const join = priv ? `LEFT JOIN ${n.p('batch_sources')} s ON s.batch_id = b.batch_id` : '';
    const limit = opts.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
    const rows = await this.q<Record<string, unknown>>(
      'reading the ledger',
      `SELECT b.seq, b.batch_id, b.rows_in, b.loaded, b.rejected, b.duplicates, b.flagged, b.clipped, b.files, b.key_id,
              b.deid_profile, b.zip3_vintage, b.start_offset, b.end_offset, ${privCols}
         FROM ${n.t('batches')} b ${join}
        WHERE b.seq > $1 ORDER BY b.seq ${opts.newestFirst ? 'DESC' : 'ASC'} ${limit}`,
      [opts.afterSeq ?? 0],
    );
    return rows.map((r) => ({
      seq: num(r.seq),
      batchId: String(r.batch_id),
      rowsIn: num(r.rows_in),
      loaded: num(r.loaded),
      rejected: num(r.rejected),
      duplicates: num(r.duplicates),
      flagged: num(r.flagged),
      clipped: num(r.clipped),
      files: String(r.files) === '' ? [] : String(r.files).split(';'),
      keyId: String(r.key_id),
      deidProfile: String(r.deid_profile),
      zip3Vintage: String(r.zip3_vintage),
      startOffset: num(r.start_offset),
      endOffset: num(r.end_offset),
      sourceName: r.source_name === null || r.source_name === undefined ? null : String(r.source_name),
      arrivedAtMs: numOrNull(r.arrived_ms),
      committedAtMs: numOrNull(r.committed_ms),
      ms: numOrNull(r.ms),
    }));
  }

  async committed(contentKey: string): Promise<string | null> {
    const r = await this.q<{ batch_id: string }>('looking up content', `SELECT batch_id FROM ${this.names.t('batches')} WHERE content_key = $1`, [contentKey]);
    return r[0]?.batch_id ?? null;
  }

  async storedRowsByBatch(): Promise<Map<string, number>> {
    const t = this.names.t;
    const r = await this.q<{ batch_id: string; n: string }>(
      'counting stored rows',
      `SELECT b.batch_id, count(e.batch_ref) AS n FROM ${t('batches')} b LEFT JOIN ${t('events')} e ON e.batch_ref = b.batch_ref GROUP BY b.batch_id`,
    );
    return new Map(r.map((x) => [x.batch_id, num(x.n)]));
  }

  async rejectsByBatch(): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    for (const r of await this.q<{ batch_id: string; reason: string; rows: number }>(
      'reading rejects',
      `SELECT batch_id, reason, "rows" FROM ${this.names.t('batch_rejects')} ORDER BY batch_id, reason`,
    )) {
      let m = out.get(r.batch_id);
      if (!m) out.set(r.batch_id, (m = {}));
      m[r.reason] = num(r.rows);
    }
    return out;
  }

  async metrics(batchIds?: readonly string[]): Promise<BatchMetrics[]> {
    const t = this.names.t;
    const rows = await this.q<Record<string, unknown>>(
      'reading QC metrics',
      `SELECT m.* FROM ${t('qc_metrics')} m JOIN ${t('batches')} b ON b.batch_id = m.batch_id
        WHERE $1::text[] IS NULL OR m.batch_id = ANY($1::text[]) ORDER BY b.seq, m.column_name`,
      [batchIds ? [...batchIds] : null],
    );
    return rows.map((r) => ({
      batchId: String(r.batch_id),
      column: String(r.column_name),
      n: num(r.n),
      nulls: num(r.nulls),
      min: numOrNull(r.min),
      q1: numOrNull(r.q1),
      median: numOrNull(r.median),
      q3: numOrNull(r.q3),
      max: numOrNull(r.max),
      flagged: num(r.flagged),
      clipped: num(r.clipped),
      implausible: num(r.implausible),
      converted: num(r.converted),
    }));
  }

  async drift(opts: { limit?: number } = {}): Promise<BatchDrift[]> {
    const t = this.names.t;
    const limit = opts.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
    const rows = await this.q<Record<string, unknown>>(
      'reading QC drift',
      `SELECT d.* FROM ${t('qc_drift')} d JOIN ${t('batches')} b ON b.batch_id = d.batch_id
        ORDER BY b.seq DESC, d.column_name, d.statistic ${limit}`,
    );
    return rows.map((r) => ({
      batchId: String(r.batch_id),
      column: String(r.column_name),
      statistic: String(r.statistic),
      baseline: num(r.baseline),
      observed: num(r.observed),
      severity: r.severity === 'alert' ? 'alert' : 'warn',
    }));
  }

  async quarantined(opts: { limit?: number } = {}): Promise<QuarantineRecord[]> {
    if (!(await this.canReadPrivate())) return [];
    const limit = opts.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
    const rows = await this.q<{ source_name: string; reason_code: string; content_key: string | null; at_ms: number }>(
      'reading quarantined files',
      `SELECT source_name, reason_code, content_key, (extract(epoch FROM at) * 1000)::float8 AS at_ms
         FROM ${this.names.p('quarantined')} ORDER BY at DESC, ctid DESC ${limit}`,
    );
    return rows.map((r) => ({ sourceName: r.source_name, reasonCode: r.reason_code, contentKey: r.content_key, atMs: num(r.at_ms) }));
  }

  /** The BI tables arrive with the BI task (stores/bi.ts); until then there is nothing to read. */
  async bi(_table: BiTable): Promise<Record<string, unknown>[]> {
    return [];
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
