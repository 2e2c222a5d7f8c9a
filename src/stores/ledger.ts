// The ledger reader: the one way status, verify, score, push, audit and the dashboard read what was loaded.
// No SQL against the ledger outside the store implementations (stores/sqlite/, stores/postgres/).
import type { ColumnMetrics } from '../pipeline/types.js';

/** One departure of a batch statistic from its rolling baseline (QC drift). */
export interface DriftRow {
  column: string;
  statistic: string;
  baseline: number;
  observed: number;
  severity: 'warn' | 'alert';
}

export interface QuarantineRecord {
  sourceName: string;
  reasonCode: string;
  /** Keyed content key when the file could be read, else null. */
  contentKey: string | null;
  atMs: number;
}

/** A committed batch as readers see it. Private fields are null when the private state is not at hand. */
export interface LedgerBatch {
  /** Commit order, 1-based. */
  seq: number;
  batchId: string;
  rowsIn: number;
  loaded: number;
  rejected: number;
  duplicates: number;
  flagged: number;
  clipped: number;
  files: string[];
  keyId: string;
  deidProfile: string;
  zip3Vintage: string;
  startOffset: number;
  endOffset: number;
  // private state
  sourceName: string | null;
  arrivedAtMs: number | null;
  committedAtMs: number | null;
  ms: number | null;
}

export interface LedgerSummary {
  batches: number;
  rows: number;
  patients: number;
  /** Files quarantined ever, by reason code. */
  quarantinedByReason: Record<string, number>;
  keyIds: string[];
  profiles: string[];
  /** The newest batch's seq (0 when none): a cheap change token for live readers. */
  lastSeq: number;
}

export interface BatchMetrics extends ColumnMetrics {
  batchId: string;
}

export interface BatchDrift extends DriftRow {
  batchId: string;
}

/** The BI tables (stores/bi.ts) a reader may ask for; values already follow the small-cell rule. */
export type BiTable =
  | 'kpi_bp_by_year'
  | 'kpi_bp_by_year_age_band'
  | 'kpi_heart_rate_by_age_band'
  | 'kpi_vitals_by_year'
  | 'kpi_qc_by_batch'
  | 'dim_age_band'
  | 'dim_year'
  | 'dim_date'
  | 'dim_zip3';

export interface LedgerReader {
  summary(): Promise<LedgerSummary>;
  /** Oldest first; afterSeq for live readers that resume. */
  batches(opts?: { afterSeq?: number; limit?: number; newestFirst?: boolean }): Promise<LedgerBatch[]>;
  /** The batch that committed this content, or null. */
  committed(contentKey: string): Promise<string | null>;
  /** Rows the store holds per batch id (verify). */
  storedRowsByBatch(): Promise<Map<string, number>>;
  /** Rejected rows by reason, per batch id (verify). */
  rejectsByBatch(): Promise<Map<string, Record<string, number>>>;
  metrics(batchIds?: readonly string[]): Promise<BatchMetrics[]>;
  drift(opts?: { limit?: number }): Promise<BatchDrift[]>;
  /** Newest first. */
  quarantined(opts?: { limit?: number }): Promise<QuarantineRecord[]>;
  bi(table: BiTable): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}
