// The tables every store holds, written once: SQLite and PostgreSQL DDL are generated from these lists, the audit
// allow-lists them, and the Power BI model generator reads them. Two groups:
// - RELEASE: what analysts may open (masked_out/cleaned.sqlite; PostgreSQL schema `medetl`). Masked rows, the
//   ledger's counts and keyed references, QC, BI tables. No file names, no paths, no times finer than a year
//   outside the limited-data-set profile, nothing that is an unkeyed hash of raw data.
// - PRIVATE: bookkeeping that exactly-once does not need inside the batch transaction (file names, arrival and
//   commit times), kept outside masked_out/ (SQLite: paths.state/private.sqlite; PostgreSQL: schema
//   `medetl_private`, which the analysts' role is not granted).

export type ColumnType = 'int' | 'bigint' | 'double' | 'date' | 'timestamp' | { text: number } | 'longtext';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  notNull?: boolean;
  /** Shown to analysts in the Power BI model (false: a key or bookkeeping column, hidden). */
  hidden?: boolean;
}

export interface TableSpec {
  name: string;
  columns: ColumnSpec[];
  primaryKey?: string[];
  unique?: string[][];
  /** Plain (non-unique) indexes. */
  indexes?: string[][];
  /** A one-line description: README, the Power BI model, `medetl audit`. */
  doc: string;
}

const t = (n: number): ColumnType => ({ text: n });

export const PATIENTS: TableSpec = {
  name: 'patients',
  doc: 'one row per patient_key: the narrow events table refers to it by patient_ref',
  columns: [
    { name: 'patient_ref', type: 'int', notNull: true, hidden: true },
    { name: 'patient_key', type: t(64), notNull: true },
  ],
  primaryKey: ['patient_ref'],
  unique: [['patient_key']],
};

/**
 * The ledger: one row per committed batch. batch_ref is the batch's internal number (allocated when it begins; the
 * narrow events table refers to it); seq is the commit order (1, 2, ... without gaps): live readers resume from it.
 */
export const BATCHES: TableSpec = {
  name: 'batches',
  doc: 'the ledger: one row per committed batch (counts, keyed content reference, de-identification facts)',
  columns: [
    { name: 'batch_ref', type: 'int', notNull: true, hidden: true },
    { name: 'seq', type: 'int', notNull: true },
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'content_key', type: t(64), notNull: true, hidden: true },
    { name: 'head_key', type: t(64), notNull: true, hidden: true },
    { name: 'start_offset', type: 'bigint', notNull: true, hidden: true },
    { name: 'end_offset', type: 'bigint', notNull: true, hidden: true },
    { name: 'rows_in', type: 'int', notNull: true },
    { name: 'loaded', type: 'int', notNull: true },
    { name: 'rejected', type: 'int', notNull: true },
    { name: 'duplicates', type: 'int', notNull: true },
    { name: 'flagged', type: 'int', notNull: true },
    { name: 'clipped', type: 'int', notNull: true },
    { name: 'files', type: t(1000), notNull: true, hidden: true },
    { name: 'key_id', type: t(16), notNull: true, hidden: true },
    { name: 'key_mode', type: t(10), notNull: true, hidden: true },
    { name: 'deid_profile', type: t(20), notNull: true },
    { name: 'zip3_vintage', type: t(40), notNull: true },
    { name: 'zip3_table_hash', type: t(16), notNull: true, hidden: true },
    { name: 'ruleset_version', type: t(40), notNull: true, hidden: true },
    { name: 'warnings', type: t(1000), notNull: true, hidden: true },
  ],
  primaryKey: ['batch_ref'],
  unique: [['seq'], ['batch_id'], ['content_key']],
  indexes: [['head_key']],
};

/** Masked events, narrow: integer references to patients and batches (cleaned_events is the analysts' view). */
export const EVENTS: TableSpec = {
  name: 'events',
  doc: 'masked events (narrow storage; analysts read the cleaned_events view)',
  columns: [
    { name: 'patient_ref', type: 'int', notNull: true },
    { name: 'batch_ref', type: 'int', notNull: true },
    { name: 'dob_year', type: 'int' },
    { name: 'age_years', type: 'int' },
    { name: 'event_year', type: 'int' },
    { name: 'event_date', type: 'date' },
    { name: 'zip3', type: t(3) },
    { name: 'systolic_bp', type: 'double' },
    { name: 'diastolic_bp', type: 'double' },
    { name: 'heart_rate', type: 'double' },
    { name: 'outlier_flags', type: t(255), notNull: true },
  ],
};

/** The analysts' fact table: the output allow-list (pipeline/types.ts OUTPUT_COLUMNS), in order. */
export const CLEANED_EVENTS_VIEW = {
  name: 'cleaned_events',
  doc: 'the masked events, one row per reading: the output allow-list',
  select:
    'SELECT p.patient_key, e.dob_year, e.age_years, e.event_year, e.event_date, e.zip3, e.systolic_bp, e.diastolic_bp, ' +
    'e.heart_rate, e.outlier_flags, b.batch_id FROM events e JOIN patients p ON p.patient_ref = e.patient_ref ' +
    'JOIN batches b ON b.batch_ref = e.batch_ref',
} as const;

export const BATCH_REJECTS: TableSpec = {
  name: 'batch_rejects',
  doc: 'rejected rows per batch and reason',
  columns: [
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'reason', type: t(40), notNull: true },
    { name: 'rows', type: 'int', notNull: true },
  ],
  primaryKey: ['batch_id', 'reason'],
};

export const QC_METRICS: TableSpec = {
  name: 'qc_metrics',
  doc: 'per batch and vital: n, nulls, quartiles, flagged, clipped, implausible (nulled) and unit-converted counts',
  columns: [
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'column_name', type: t(40), notNull: true },
    { name: 'n', type: 'int', notNull: true },
    { name: 'nulls', type: 'int', notNull: true },
    { name: 'min', type: 'double' },
    { name: 'q1', type: 'double' },
    { name: 'median', type: 'double' },
    { name: 'q3', type: 'double' },
    { name: 'max', type: 'double' },
    { name: 'flagged', type: 'int', notNull: true },
    { name: 'clipped', type: 'int', notNull: true },
    { name: 'implausible', type: 'int', notNull: true },
    { name: 'converted', type: 'int', notNull: true },
  ],
  primaryKey: ['batch_id', 'column_name'],
};

export const QC_DRIFT: TableSpec = {
  name: 'qc_drift',
  doc: 'a batch statistic that departed from its rolling baseline of earlier batches',
  columns: [
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'column_name', type: t(40), notNull: true },
    { name: 'statistic', type: t(20), notNull: true },
    { name: 'baseline', type: 'double', notNull: true },
    { name: 'observed', type: 'double', notNull: true },
    { name: 'severity', type: t(10), notNull: true },
  ],
  primaryKey: ['batch_id', 'column_name', 'statistic'],
};

/** Keyed 63-bit fingerprints of committed events (cross-batch duplicates; pipeline/deid.ts). */
export const EVENT_FINGERPRINTS: TableSpec = {
  name: 'event_fingerprints',
  doc: 'keyed fingerprints of committed events, for cross-batch duplicate detection (not derivable without the key)',
  columns: [{ name: 'fp', type: 'bigint', notNull: true, hidden: true }],
  primaryKey: ['fp'],
};

/** Chunks for outbox sinks (sinks/outbox.ts), written in the batch transaction. Masked rows only. */
export const OUTBOX: TableSpec = {
  name: 'outbox',
  doc: 'masked rows queued for an outbox sink (Power BI push), written with the batch',
  columns: [
    { name: 'seq', type: 'bigint', notNull: true, hidden: true },
    { name: 'sink', type: t(20), notNull: true, hidden: true },
    { name: 'batch_id', type: t(40), notNull: true, hidden: true },
    { name: 'rows', type: 'int', notNull: true, hidden: true },
    { name: 'payload', type: 'longtext', notNull: true, hidden: true },
    { name: 'attempts', type: 'int', notNull: true, hidden: true },
  ],
  primaryKey: ['seq'],
};

export const OUTBOX_DELIVERED: TableSpec = {
  name: 'outbox_delivered',
  doc: 'rows an outbox sink delivered, per batch',
  columns: [
    { name: 'sink', type: t(20), notNull: true, hidden: true },
    { name: 'batch_id', type: t(40), notNull: true, hidden: true },
    { name: 'rows', type: 'int', notNull: true, hidden: true },
  ],
  primaryKey: ['sink', 'batch_id'],
};

export const ATTESTATIONS: TableSpec = {
  name: 'attestations',
  doc: 'the signed Safe Harbor attestation of each batch',
  columns: [
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'document', type: 'longtext', notNull: true },
  ],
  primaryKey: ['batch_id'],
};

/** Facts about the store as a whole: its de-identification profile (one per store), schema version. */
export const META: TableSpec = {
  name: 'meta',
  doc: 'facts about the store as a whole (schema version, de-identification profile)',
  columns: [
    { name: 'name', type: t(40), notNull: true, hidden: true },
    { name: 'value', type: t(200), notNull: true, hidden: true },
  ],
  primaryKey: ['name'],
};

export const RELEASE_TABLES: readonly TableSpec[] = [
  META, PATIENTS, BATCHES, EVENTS, BATCH_REJECTS, QC_METRICS, QC_DRIFT, EVENT_FINGERPRINTS, OUTBOX, OUTBOX_DELIVERED, ATTESTATIONS,
];

// ---- private state -------------------------------------------------------------------------------------------

export const BATCH_SOURCES: TableSpec = {
  name: 'batch_sources',
  doc: 'which file each batch came from, and when (private)',
  columns: [
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'source_name', type: t(1024), notNull: true },
    { name: 'arrived_at', type: 'timestamp' },
    { name: 'started_at', type: 'timestamp', notNull: true },
    { name: 'committed_at', type: 'timestamp', notNull: true },
    { name: 'ms', type: 'int', notNull: true },
  ],
  primaryKey: ['batch_id'],
};

export const QUARANTINED: TableSpec = {
  name: 'quarantined',
  doc: 'files quarantined, with their reason code (private)',
  columns: [
    { name: 'at', type: 'timestamp', notNull: true },
    { name: 'source_name', type: t(1024), notNull: true },
    { name: 'reason_code', type: t(40), notNull: true },
    { name: 'content_key', type: t(64) },
  ],
};

export const PRIVATE_TABLES: readonly TableSpec[] = [BATCH_SOURCES, QUARANTINED];

/** The schema version both stores record in `meta`; bump it with every change above. */
export const SCHEMA_VERSION = 3;
