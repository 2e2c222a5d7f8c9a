// Noise with ground truth. Injected into the Synthea rows in memory before mapping (values,
// timestamps, patient fields) and into the mapped events (duplicate rows, header spelling), each
// injection recorded as a manifest entry. The clean Synthea CSVs on disk are never changed, so a
// manifest `row` always points at the untouched source line.
//
// Rates are fractions of candidates: per event (a patient + observation DATE, i.e. one events row)
// for the value kinds, bp_swap, the timestamp kinds and duplicate_row; per patient for
// zip_leading_zero, dob_format and the patient side of missing_value (patients with vitals in the batch); per header column for
// header_format. A value takes at most one value kind and an event at most one timestamp kind, so
// entries never stack on the same value and the ground truth stays unambiguous.
//
// Kinds: missing_value (a vital VALUE, or a patient's ZIP or BIRTHDATE, emptied); digit_typo
// (12O.0, 1,20); swapped_digits (128.0 -> 182.0); unit_slip (blood pressure in kPa, heart rate
// in Hz); bp_swap (systolic and diastolic exchanged); spike (SBP/HR 300+, DBP 180+); skewed_ts
// (all vitals of the event shifted 1-120 min either way); late_ts (shifted 1-48 h earlier AND moved
// to the end of the batch: an older reading arriving after newer ones; arrival in a later batch is
// approximated within the batch); ts_format (DATE as YYYY-MM-DD HH:MM:SS); dob_format (BIRTHDATE as
// MM/DD/YYYY); zip_leading_zero (01852 -> 1852); duplicate_row (an events row sent again 0-9 rows
// later); header_format (an events header name in other case or with spaces/tab around it).
import { VITAL_CODES, type SyntheaInput, type VitalColumn, type VitalObs, type PatientRec } from './mapper.js';
import type { Rng } from './random.js';

export const NOISE_KINDS = [
  'missing_value',
  'digit_typo',
  'swapped_digits',
  'unit_slip',
  'bp_swap',
  'spike',
  'skewed_ts',
  'late_ts',
  'ts_format',
  'dob_format',
  'zip_leading_zero',
  'duplicate_row',
  'header_format',
] as const;
export type NoiseKind = (typeof NOISE_KINDS)[number];
export type NoiseRates = Record<NoiseKind, number>;
export const NOISE_PROFILES = ['default', 'heavy', 'off'] as const;
export type NoiseProfile = (typeof NOISE_PROFILES)[number];

function uniform(rate: number): NoiseRates {
  return Object.fromEntries(NOISE_KINDS.map((k) => [k, rate])) as NoiseRates;
}

const PROFILE_RATES: Record<NoiseProfile, NoiseRates> = {
  default: uniform(0.01),
  heavy: uniform(0.05),
  off: uniform(0),
};

/** Rates of a profile, with per-kind overrides (config generate.noise_rates). */
export function noiseRates(profile: string, overrides: Partial<Record<NoiseKind, number>> = {}): NoiseRates {
  if (!(NOISE_PROFILES as readonly string[]).includes(profile)) {
    throw new RangeError(`noise profile must be one of ${NOISE_PROFILES.join(', ')}, got ${JSON.stringify(profile)}`);
  }
  const rates = { ...PROFILE_RATES[profile as NoiseProfile] };
  if (profile !== 'off') for (const [k, v] of Object.entries(overrides)) if (v !== undefined) rates[k as NoiseKind] = v;
  return rates;
}

export type NoiseFile = 'patients.csv' | 'observations.csv' | 'events.csv';

/** One injection: a line of noise_manifest.jsonl (format described at the top of manifest.ts). */
export interface NoiseEntry {
  id: number;
  kind: NoiseKind;
  file: NoiseFile;
  /** Physical line (header = 1) in run/csv/<file> (Synthea files) or run/events.csv. */
  row: number;
  /** All lines of `file` this injection changed (group kinds touch several rows). */
  rows: number[];
  /** Column of `file` changed: VALUE, DATE, ZIP, BIRTHDATE; for events.csv an events column or '*'. */
  field: string;
  before: string | null;
  after: string | null;
  /** Events columns whose value this injection changed (event_ts, systolic_bp, zip, ... or '*'). */
  columns: string[];
  /** Synthea patient Id the row belongs to ('' for the header). Raw: the manifest stays in synthea_stream/. */
  patient: string;
  /** duplicate_row: the events line that was copied. */
  of_line?: number;
  /** Lines of run/events.csv that carry this injection (filled once the events file is laid out). */
  event_lines: number[];
}

const VALUE_KINDS = ['missing_value', 'digit_typo', 'swapped_digits', 'unit_slip', 'spike'] as const;
const TS_KINDS = ['skewed_ts', 'late_ts', 'ts_format'] as const;
const PATIENT_KINDS = ['zip_leading_zero', 'dob_format', 'missing_value'] as const;

const NUMERIC = /^(\d+)(\.\d+)?$/;
const ISO_TS = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$/;
const ISO_DATE = /^(\d{4})-(\d\d)-(\d\d)$/;
const LOOKALIKE: Record<string, string> = { '0': 'O', '1': 'l', '5': 'S', '8': 'B', '2': 'Z' };

function isoTs(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The noisy value for a value kind, or null when the kind does not apply to this value. */
function valueNoise(kind: (typeof VALUE_KINDS)[number], col: VitalColumn, value: string, rng: Rng): string | null {
  if (kind === 'missing_value') return value === '' ? null : '';
  const m = NUMERIC.exec(value.trim());
  if (!m) return null;
  const int = m[1];
  const frac = m[2] ?? '';
  switch (kind) {
    case 'digit_typo': {
      // Either a letter for a digit (12O.0) or a stray comma (1,20).
      const spots = [...int].map((d, i) => (LOOKALIKE[d] ? i : -1)).filter((i) => i >= 0);
      if (int.length >= 2 && (spots.length === 0 || rng.chance(0.4))) return `${int[0]},${int.slice(1)}`;
      if (spots.length === 0) return null;
      const i = rng.pick(spots);
      return `${int.slice(0, i)}${LOOKALIKE[int[i]]}${int.slice(i + 1)}${frac}`;
    }
    case 'swapped_digits': {
      const pairs: number[] = [];
      for (let i = 0; i + 1 < int.length; i++) if (int[i] !== int[i + 1]) pairs.push(i);
      if (pairs.length === 0) return null;
      const i = rng.pick(pairs);
      return `${int.slice(0, i)}${int[i + 1]}${int[i]}${int.slice(i + 2)}${frac}`;
    }
    case 'unit_slip': {
      const v = Number(value);
      // Blood pressure keyed in kPa (1 kPa = 7.50062 mmHg); heart rate per second (Hz, a device's
      // native unit) instead of per minute.
      return col === 'heart_rate' ? (v / 60).toFixed(2) : (v / 7.50062).toFixed(1);
    }
    case 'spike': {
      const n = col === 'systolic_bp' ? rng.int(300, 390) : col === 'diastolic_bp' ? rng.int(180, 260) : rng.int(300, 400);
      return `${n}.0`;
    }
  }
}

export interface SyntheaNoiseResult {
  /** A noisy copy of the input (the input itself is not changed). */
  input: SyntheaInput;
  entries: NoiseEntry[];
}

/** Patient, timestamp and value noise on the rows the mapper reads. Entries get ids from `firstId`. */
export function applySyntheaNoise(clean: SyntheaInput, rates: NoiseRates, rng: Rng, firstId = 1): SyntheaNoiseResult {
  const entries: NoiseEntry[] = [];
  let nextId = firstId;
  const add = (e: Omit<NoiseEntry, 'id' | 'event_lines'>) => entries.push({ id: nextId++, ...e, event_lines: [] });
  const patients: PatientRec[] = clean.patients.map((p) => ({ ...p }));
  let vitals: VitalObs[] = clean.vitals.map((v) => ({ ...v }));
  const known = new Set(patients.map((p) => p.id));

  // Patients with vitals in this batch (a followed population lists people who had no visit in it): at
  // most one kind each.
  const withVitals = new Set(clean.vitals.map((v) => v.patient));
  for (const p of patients) {
    if (!withVitals.has(p.id)) continue;
    for (const kind of PATIENT_KINDS) {
      if (!rng.chance(rates[kind])) continue;
      let field: 'ZIP' | 'BIRTHDATE';
      let after: string;
      if (kind === 'zip_leading_zero') {
        if (!/^0\d{4}$/.test(p.zip)) continue;
        field = 'ZIP';
        after = p.zip.replace(/^0+/, '') || '0';
      } else if (kind === 'dob_format') {
        const m = ISO_DATE.exec(p.birthdate);
        if (!m) continue;
        field = 'BIRTHDATE';
        after = `${m[2]}/${m[3]}/${m[1]}`;
      } else {
        field = rng.chance(0.5) ? 'ZIP' : 'BIRTHDATE';
        if ((field === 'ZIP' ? p.zip : p.birthdate) === '') continue;
        after = '';
      }
      const before = field === 'ZIP' ? p.zip : p.birthdate;
      if (field === 'ZIP') p.zip = after;
      else p.birthdate = after;
      add({ kind, file: 'patients.csv', row: p.line, rows: [p.line], field, before, after, columns: [field === 'ZIP' ? 'zip' : 'dob'], patient: p.id });
      break;
    }
  }

  // Events (patient, DATE groups) in first-appearance order.
  const groups = new Map<string, VitalObs[]>();
  const datesOf = new Map<string, Set<string>>();
  for (const v of vitals) {
    if (!known.has(v.patient)) continue;
    const key = `${v.patient}\u0000${v.date}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(v);
    let d = datesOf.get(v.patient);
    if (!d) datesOf.set(v.patient, (d = new Set()));
    d.add(v.date);
  }
  const late: VitalObs[][] = [];
  const touched = new Set<VitalObs>();
  for (const g of groups.values()) {
    const patient = g[0].patient;
    const before = g[0].date;
    const lines = g.map((v) => v.line);
    // Timestamps: one kind per event; every vital row of the event moves together, so the event stays one row.
    for (const kind of TS_KINDS) {
      if (!rng.chance(rates[kind])) continue;
      const m = ISO_TS.exec(before);
      if (!m) continue;
      let after: string;
      if (kind === 'ts_format') after = `${m[1]} ${m[2]}`;
      else {
        const ms = Date.parse(before);
        const shift = kind === 'skewed_ts' ? rng.int(1, 120) * 60_000 * (rng.chance(0.5) ? 1 : -1) : -rng.int(1, 48) * 3_600_000;
        after = isoTs(ms + shift);
        const dates = datesOf.get(patient)!;
        if (dates.has(after)) continue; // would merge with another event of the same person
        dates.add(after);
      }
      for (const v of g) v.date = after;
      add({ kind, file: 'observations.csv', row: lines[0], rows: lines, field: 'DATE', before, after, columns: ['event_ts'], patient });
      if (kind === 'late_ts') late.push(g);
      break;
    }
    // Systolic/diastolic swapped: both rows of the pair.
    const sys = g.find((v) => VITAL_CODES[v.code] === 'systolic_bp');
    const dia = g.find((v) => VITAL_CODES[v.code] === 'diastolic_bp');
    if (sys && dia && sys.value !== dia.value && rng.chance(rates.bp_swap)) {
      const b = `${sys.value}/${dia.value}`;
      [sys.value, dia.value] = [dia.value, sys.value];
      touched.add(sys).add(dia);
      add({
        kind: 'bp_swap', file: 'observations.csv', row: sys.line, rows: [sys.line, dia.line], field: 'VALUE',
        before: b, after: `${sys.value}/${dia.value}`, columns: ['systolic_bp', 'diastolic_bp'], patient,
      });
    }
    // Values: each kind hits an event with its rate, on one vital of it; a value takes at most one kind.
    for (const kind of VALUE_KINDS) {
      if (!rng.chance(rates[kind])) continue;
      for (const v of rng.shuffle(g)) {
        if (touched.has(v)) continue;
        const col = VITAL_CODES[v.code];
        const after = valueNoise(kind, col, v.value, rng);
        if (after === null || after === v.value) continue;
        add({ kind, file: 'observations.csv', row: v.line, rows: [v.line], field: 'VALUE', before: v.value, after, columns: [col], patient });
        v.value = after;
        touched.add(v);
        break;
      }
    }
  }
  // Late events arrive last (their rows move to the end), with an older timestamp.
  if (late.length > 0) {
    const moved = new Set(late.flat());
    vitals = [...vitals.filter((v) => !moved.has(v)), ...late.flat()];
  }
  return { input: { ...clean, patients, vitals }, entries };
}

const HEADER_VARIANTS: readonly ((h: string) => string)[] = [
  (h) => h.toUpperCase(),
  (h) => h.replace(/(^|_)([a-z])/g, (_, s: string, c: string) => s + c.toUpperCase()).replace(/_Id$/, '_ID'),
  (h) => ` ${h} `,
  (h) => ` ${h.replace(/(^|_)([a-z])/g, (_, s: string, c: string) => s + c.toUpperCase()).replace(/_Id$/, '_ID')} `,
  (h) => `${h}\t`,
];

export interface EventsNoiseResult {
  header: string[];
  rows: string[][];
  /** Parallel to rows: index of the mapped row each row is (a duplicate points at its original). */
  origin: number[];
  /** Parallel to rows: the duplicate_row entry id for copies, else null. */
  dupEntry: (number | null)[];
  entries: NoiseEntry[];
}

/** Duplicate rows and header spelling, on the mapped events. Entry `row`s are filled in by the caller's layout. */
export function applyEventsNoise(
  header: readonly string[],
  rows: readonly string[][],
  patientOf: (i: number) => string,
  rates: NoiseRates,
  rng: Rng,
  firstId: number,
): EventsNoiseResult {
  let nextId = firstId;
  const entries: NoiseEntry[] = [];
  const outHeader = header.map((h) => {
    if (!rng.chance(rates.header_format)) return h;
    const after = rng.pick(HEADER_VARIANTS)(h);
    if (after === h) return h;
    entries.push({
      id: nextId++, kind: 'header_format', file: 'events.csv', row: 1, rows: [1], field: h, before: h, after,
      columns: [h], patient: '', event_lines: [1],
    });
    return after;
  });
  // Copies land 1-10 rows after their original (a resend), never before it.
  const pending: { at: number; from: number; id: number }[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (!rng.chance(rates.duplicate_row)) continue;
    const id = nextId++;
    pending.push({ at: Math.min(rows.length - 1, i + rng.int(0, 9)), from: i, id });
    entries.push({
      id, kind: 'duplicate_row', file: 'events.csv', row: 0, rows: [], field: '*', before: null, after: null,
      columns: ['*'], patient: patientOf(i), event_lines: [],
    });
  }
  const copiesAt = new Map<number, { from: number; id: number }[]>();
  for (const d of pending) {
    const list = copiesAt.get(d.at) ?? [];
    list.push(d);
    copiesAt.set(d.at, list);
  }
  const outRows: string[][] = [];
  const origin: number[] = [];
  const dupEntry: (number | null)[] = [];
  for (let i = 0; i < rows.length; i++) {
    outRows.push(rows[i]);
    origin.push(i);
    dupEntry.push(null);
    for (const d of copiesAt.get(i) ?? []) {
      outRows.push([...rows[d.from]]);
      origin.push(d.from);
      dupEntry.push(d.id);
    }
  }
  return { header: outHeader, rows: outRows, origin, dupEntry, entries };
}
