// Batches are columnar: typed arrays for numbers, dictionaries for repeated strings.
// RawBatch holds PHI. MaskedBatch is the only thing a sink accepts, and only deid.ts can make one
// (its brand is a module-private symbol there), so raw values cannot reach a sink by mistake.

/** Null in an Int32 column. */
export const NULL_INT = -2147483648;

/** Row flags, one bit each. Names are what `outlier_flags` shows. */
export const FLAG = {
  invalid_systolic_bp: 1 << 0,
  invalid_diastolic_bp: 1 << 1,
  invalid_heart_rate: 1 << 2,
  invalid_dob: 1 << 3,
  invalid_zip: 1 << 4,
  clip_systolic_bp: 1 << 5,
  clip_diastolic_bp: 1 << 6,
  clip_heart_rate: 1 << 7,
  flag_systolic_bp: 1 << 8,
  flag_diastolic_bp: 1 << 9,
  flag_heart_rate: 1 << 10,
  flag_bp_order: 1 << 11,
  flag_pulse_pressure: 1 << 12,
  /** A birth date after the processing day: published as null (pipeline/deid.ts). */
  future_dob: 1 << 13,
} as const;
export type FlagName = keyof typeof FLAG;
export const FLAG_NAMES = Object.keys(FLAG) as FlagName[];

export const VITALS = ['systolic_bp', 'diastolic_bp', 'heart_rate'] as const;
export type Vital = (typeof VITALS)[number];

/** Bits that count a row as "flagged" (outliers and cross-field rules). */
export const OUTLIER_BITS =
  FLAG.flag_systolic_bp | FLAG.flag_diastolic_bp | FLAG.flag_heart_rate | FLAG.flag_bp_order | FLAG.flag_pulse_pressure;
export const CLIP_BITS = FLAG.clip_systolic_bp | FLAG.clip_diastolic_bp | FLAG.clip_heart_rate;

/** Rows of one events file after schema coercion. Holds PHI: never leaves the process. */
export interface RawBatch {
  readonly kind: 'raw';
  n: number;
  /** 1-based physical line number in the source file where the row starts. */
  line: Int32Array;
  patientIdx: Int32Array;
  patientIds: string[];
  /** Days since 1970-01-01 (UTC calendar date), NULL_INT when missing or unreadable. */
  dobDays: Int32Array;
  zipIdx: Int32Array;
  /** Raw ZIP text after schema; clean turns these into 5-digit ZIPs or null. */
  zips: (string | null)[];
  /** Event instant, ms since epoch (UTC). */
  eventMs: Float64Array;
  /**
   * The event's local calendar day, days since 1970-01-01: the date as written, at the timestamp's own offset or in
   * input.timezone (parse.ts eventCalendarDay). event_year, event_date and ages are taken from it, never from eventMs.
   */
  eventDay: Int32Array;
  systolic_bp: Float64Array;
  diastolic_bp: Float64Array;
  heart_rate: Float64Array;
  flags: Uint32Array;
}

export type RejectReason = 'missing_patient_id' | 'invalid_event_ts' | 'wrong_field_count';

export interface Reject {
  line: number;
  reason: RejectReason;
}

/** What a stage reports besides the batch it returns. Counts only, never values. */
export interface StageCounts {
  [name: string]: number;
}

export interface ColumnMetrics {
  column: string;
  n: number;
  nulls: number;
  min: number | null;
  q1: number | null;
  median: number | null;
  q3: number | null;
  max: number | null;
  flagged: number;
  clipped: number;
}

/** The output allow-list, in order. Both sinks carry exactly these columns. */
export const OUTPUT_COLUMNS = [
  'patient_key',
  'dob_year',
  'age_years',
  'event_year',
  'event_date',
  'zip3',
  'systolic_bp',
  'diastolic_bp',
  'heart_rate',
  'outlier_flags',
  'batch_id',
] as const;
export type OutputColumn = (typeof OUTPUT_COLUMNS)[number];

/** What every batch reports: rows in = loaded + rejected (by reason) + duplicates. Counts only. */
export interface BatchCounts {
  rowsIn: number;
  loaded: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
  duplicates: number;
  flagged: number;
  clipped: number;
}
