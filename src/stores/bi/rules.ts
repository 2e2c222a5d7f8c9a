// The rules of the BI model, as pure functions over masked rows: which values count, the age band, the
// blood-pressure category, tachycardia; and the tally of a set of rows (what the helper tables add up). No I/O:
// maintain.ts reads the rows and writes the tallies.
import { AGE_BANDS, UNKNOWN_BAND, WITHHELD_YEAR, type BiVital } from './schema.js';

/**
 * A masked row as the step reads it from `events`: patient_ref, event_year (WITHHELD_YEAR when withheld) and
 * age_years (null when unknown) packed into one integer `p` (one number per row reads ~30% faster than three:
 * see PACKED_ROW), and each vital's value only where it counts (null when missing or excluded by its flags: `counts`
 * below, applied in SQL by maintain.ts).
 */
export interface BiRow {
  p: number;
  s: number | null;
  d: number | null;
  h: number | null;
}

/** Years have four digits (pipeline/parse.ts): 14 bits. Ages are 0-90 (90 = 90 or older): 8 bits, 255 = unknown. */
const YEAR_SPAN = 16_384;
const AGE_UNKNOWN = 255;

/** `p` in SQL both dialects share: (patient_ref * 16384 + year) * 256 + age, below 2^53 for any 31-bit patient_ref. */
export function packedRowSql(ref: string, year: string, age: string): string {
  return `(CAST(${ref} AS BIGINT) * ${YEAR_SPAN} + COALESCE(${year}, ${WITHHELD_YEAR})) * 256 + COALESCE(${age}, ${AGE_UNKNOWN})`;
}

export function unpackRow(p: number): { ref: number; y: number; age: number | null } {
  const age = p % 256;
  const q = Math.floor(p / 256);
  return { ref: Math.floor(q / YEAR_SPAN), y: q % YEAR_SPAN, age: age === AGE_UNKNOWN ? null : age };
}

/**
 * The flags that make a value not count: QC named it an outlier (flag_), clip moved it to the range bound (clip_),
 * it was unreadable (invalid_) or implausible (implausible_); for the two BP values also the cross-field rules
 * (flag_bp_order: diastolic >= systolic; flag_pulse_pressure). A unit conversion (unit_*) keeps the value: the
 * converted value is a real reading.
 */
export function excludingFlags(v: BiVital): string[] {
  const own = ['flag', 'clip', 'invalid', 'implausible'].map((p) => `${p}_${v}`);
  return v === 'heart_rate' ? own : [...own, 'flag_bp_order', 'flag_pulse_pressure'];
}

/** Whether a value of vital `v` counts on a row with this outlier_flags text. */
export function counts(v: BiVital, flags: string): boolean {
  const bad = excludingFlags(v);
  return !(flags === '' ? [] : flags.split(';')).some((n) => bad.includes(n));
}

/** ACC/AHA 2017 category rank 1-5 (normal, elevated, stage_1, stage_2, crisis) of a reading: the higher of the two values decides. */
export function bpRank(sys: number, dia: number): number {
  if (sys > 180 || dia > 120) return 5; // crisis
  if (sys >= 140 || dia >= 90) return 4; // stage 2
  if (sys >= 130 || dia >= 80) return 3; // stage 1
  if (sys >= 120) return 2; // elevated (120-129 and < 80)
  return 1; // normal
}

/** Tachycardia: above 160/min under 2, above 120/min at 2-12, above 100/min from 13. */
export function isTachycardia(hr: number, age: number): boolean {
  return hr > (age < 2 ? 160 : age <= 12 ? 120 : 100);
}

// Tallies are keyed by numbers (faster than strings by ~10x here): a year fits 14 bits (WITHHELD_YEAR = 0), an age
// band index 3 bits (0: unknown, 1..7: AGE_BANDS), a BP rank 3 bits (1-5), a vital 2 bits, a patient_ref 31 bits.
export const BAND_NAMES: readonly string[] = [UNKNOWN_BAND, ...AGE_BANDS.map((b) => b.band)];
const BAND_INDEX = new Map(BAND_NAMES.map((b, i) => [b, i]));

export function bandIndex(band: string): number {
  const i = BAND_INDEX.get(band);
  if (i === undefined) throw new Error(`bi: unknown age band ${JSON.stringify(band)}`);
  return i;
}

/** Index into BAND_NAMES of an age at the event (0: unknown). */
export function bandIndexOfAge(age: number | null): number {
  if (age === null) return 0;
  for (let i = 0; i < AGE_BANDS.length; i++) {
    const max = AGE_BANDS[i].max;
    if (max === null || age <= max) return i + 1;
  }
  return AGE_BANDS.length;
}

/** Keys: compose and take apart. */
export const key = {
  cellBand: (y: number, band: number, rank: number) => (y * 8 + band) * 8 + rank,
  cellYear: (y: number, rank: number) => y * 8 + rank,
  hrCell: (y: number, band: number) => y * 8 + band,
  vitalCell: (y: number, vital: number) => y * 4 + vital,
  patientBand: (ref: number, y: number, band: number) => (ref * YEAR_SPAN + y) * 8 + band,
  patientYear: (ref: number, y: number) => ref * YEAR_SPAN + y,
  patientVital: (ref: number, y: number, vital: number) => (ref * YEAR_SPAN + y) * 4 + vital,
};
export const unkey = {
  cellBand: (k: number) => ({ y: Math.floor(k / 64), band: Math.floor(k / 8) % 8, rank: k % 8 }),
  cellYear: (k: number) => ({ y: Math.floor(k / 8), rank: k % 8 }),
  hrCell: (k: number) => ({ y: Math.floor(k / 8), band: k % 8 }),
  vitalCell: (k: number) => ({ y: Math.floor(k / 4), vital: k % 4 }),
  patientBand: (k: number) => ({ ref: Math.floor(k / (8 * YEAR_SPAN)), y: Math.floor(k / 8) % YEAR_SPAN, band: k % 8 }),
  patientYear: (k: number) => ({ ref: Math.floor(k / YEAR_SPAN), y: k % YEAR_SPAN }),
  patientVital: (k: number) => ({ ref: Math.floor(k / (4 * YEAR_SPAN)), y: Math.floor(k / 4) % YEAR_SPAN, vital: k % 4 }),
};

export interface Tally {
  /** cellBand -> counted adult BP readings. */
  bpBand: Map<number, number>;
  /** cellYear -> readings. */
  bpYear: Map<number, number>;
  /** patientBand -> the highest rank of the rows. */
  patientBand: Map<number, number>;
  /** patientYear -> the highest rank. */
  patientYear: Map<number, number>;
  /** hrCell -> heart-rate readings, tachycardia readings, sum. */
  hr: Map<number, { readings: number; tachy: number; sum: number }>;
  /** patientBand keys with a counted heart rate. */
  hrPatients: Set<number>;
  /** vitalCell -> value -> how often. */
  values: Map<number, Map<number, number>>;
  /** patientVital keys with a counted value. */
  vitalPatients: Set<number>;
  patients: Set<number>;
  years: Set<number>;
}

export function emptyTally(): Tally {
  return {
    bpBand: new Map(), bpYear: new Map(), patientBand: new Map(), patientYear: new Map(), hr: new Map(), hrPatients: new Set(),
    values: new Map(), vitalPatients: new Set(), patients: new Set(), years: new Set(),
  };
}

/** Add rows to a tally (pure; the tally of pages equals the tally of all rows). */
export function tallyRows(t: Tally, rows: readonly BiRow[]): Tally {
  for (const row of rows) {
    const { ref, y, age } = unpackRow(row.p);
    const band = bandIndexOfAge(age);
    const s = row.s;
    const d = row.d;
    const h = row.h;
    t.patients.add(ref);
    t.years.add(y);
    if (s !== null) addValue(t, y, 0, s, ref);
    if (d !== null) addValue(t, y, 1, d, ref);
    if (h !== null) {
      addValue(t, y, 2, h, ref);
      const k = key.hrCell(y, band);
      let c = t.hr.get(k);
      if (!c) t.hr.set(k, (c = { readings: 0, tachy: 0, sum: 0 }));
      c.readings++;
      if (age !== null && isTachycardia(h, age)) c.tachy++;
      c.sum += h;
      t.hrPatients.add(key.patientBand(ref, y, band));
    }
    if (age !== null && age >= 18 && s !== null && d !== null) {
      const rank = bpRank(s, d);
      const kb = key.cellBand(y, band, rank);
      t.bpBand.set(kb, (t.bpBand.get(kb) ?? 0) + 1);
      const ky = key.cellYear(y, rank);
      t.bpYear.set(ky, (t.bpYear.get(ky) ?? 0) + 1);
      const pb = key.patientBand(ref, y, band);
      if ((t.patientBand.get(pb) ?? 0) < rank) t.patientBand.set(pb, rank);
      const py = key.patientYear(ref, y);
      if ((t.patientYear.get(py) ?? 0) < rank) t.patientYear.set(py, rank);
    }
  }
  return t;
}

function addValue(t: Tally, y: number, vital: number, v: number, ref: number): void {
  const k = key.vitalCell(y, vital);
  let m = t.values.get(k);
  if (!m) t.values.set(k, (m = new Map()));
  m.set(v, (m.get(v) ?? 0) + 1);
  t.vitalPatients.add(key.patientVital(ref, y, vital));
}
