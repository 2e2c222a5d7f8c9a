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
  // Added with issue 13 (existing names and bits above are unchanged).
  /** Out of its physiologic range and not repairable: the value is null (clean.out_of_range: null). */
  implausible_systolic_bp: 1 << 13,
  implausible_diastolic_bp: 1 << 14,
  implausible_heart_rate: 1 << 15,
  /** Recorded in another unit and converted: blood pressure in kPa (x 7.50062), heart rate in Hz (x 60). */
  unit_systolic_bp: 1 << 16,
  unit_diastolic_bp: 1 << 17,
  unit_heart_rate: 1 << 18,
  /** Systolic and diastolic were exchanged and have been swapped back (unambiguous cases only). */
  swap_bp: 1 << 19,
  /** The event is later than the processing instant plus clean.future_tolerance. */
  future_ts: 1 << 20,
  /** The birth date is after the event: the birth date is withheld (null). */
  dob_after_event: 1 << 21,
  /** Far from the same patient's own recent readings (history.ts). */
  flag_systolic_bp_history: 1 << 22,
  flag_diastolic_bp_history: 1 << 23,
  flag_heart_rate_history: 1 << 24,
  /** The instant breaks the patient's own time-of-day rhythm (history.ts): a skewed or late timestamp. */
  flag_event_ts_history: 1 << 25,
  /** A birth date after the processing day: published as null (pipeline/deid.ts). */
  future_dob: 1 << 26,
} as const;
export type FlagName = keyof typeof FLAG;
export const FLAG_NAMES = Object.keys(FLAG) as FlagName[];

export const VITALS = ['systolic_bp', 'diastolic_bp', 'heart_rate'] as const;
export type Vital = (typeof VITALS)[number];

/** Per-patient history flags (history.ts). */
export const HISTORY_BITS =
  FLAG.flag_systolic_bp_history | FLAG.flag_diastolic_bp_history | FLAG.flag_heart_rate_history | FLAG.flag_event_ts_history;
/** Timestamp checks of clean.ts (flag mode). */
export const TIME_BITS = FLAG.future_ts | FLAG.dob_after_event;
/**
 * Bits that count a row as "flagged": the value is kept but suspect. Batch outlier fences, cross-field
 * rules, per-patient history, and the timestamp checks.
 */
export const OUTLIER_BITS =
  FLAG.flag_systolic_bp | FLAG.flag_diastolic_bp | FLAG.flag_heart_rate | FLAG.flag_bp_order | FLAG.flag_pulse_pressure |
  HISTORY_BITS | TIME_BITS;
export const CLIP_BITS = FLAG.clip_systolic_bp | FLAG.clip_diastolic_bp | FLAG.clip_heart_rate;
export const IMPLAUSIBLE_BITS = FLAG.implausible_systolic_bp | FLAG.implausible_diastolic_bp | FLAG.implausible_heart_rate;
/** Values repaired in place: unit conversions and swapped-back blood pressure. */
export const REPAIR_BITS = FLAG.unit_systolic_bp | FLAG.unit_diastolic_bp | FLAG.unit_heart_rate | FLAG.swap_bp;
/** Every bit a QC stage sets (schema's invalid_* excluded): what "a clean row was touched" means in the scorecard. */
export const QC_BITS = OUTLIER_BITS | CLIP_BITS | IMPLAUSIBLE_BITS | REPAIR_BITS;

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

export type RejectReason =
  | 'missing_patient_id'
  | 'invalid_event_ts'
  | 'wrong_field_count'
  /** clean.future_ts: reject. */
  | 'future_event_ts'
  /** clean.dob_after_event: reject. */
  | 'dob_after_event';

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
  /** Rows with flag_<column> or flag_<column>_history. */
  flagged: number;
  clipped: number;
  /** Values nulled as implausible (implausible_<column>); optional so that stores may omit it. */
  implausible?: number;
  /** Values converted from another unit (unit_<column>); optional so that stores may omit it. */
  converted?: number;
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
