// Stage 2, clean: ZIP to 5 digits, duplicate events dropped, vitals repaired or nulled (never invented),
// impossible instants flagged or rejected. Pure: batch in, batch and counts out. No clock: the processing
// instant is an argument. Timestamps are already UTC instants (schema converts them).
//
// Vitals, per row, in this order:
//   1. units: blood pressure in kPa (x 7.50062) and heart rate in Hz (x 60) are converted when the raw value is
//      outside its range and the converted one inside it (unit_<column>), rounded to 0.1;
//   2. order: diastolic above systolic is swapped back (swap_bp) when the swap is unambiguous: the raw diastolic
//      is plausible both as a systolic and as a diastolic, the raw systolic plausible as a diastolic, and the
//      swapped pair has a plausible pulse pressure. Otherwise the row gets flag_bp_order and the values stay;
//   3. range: a value still outside its range becomes null with implausible_<column> (clean.out_of_range: null,
//      the default) or is clipped to the limit with clip_<column> (clean.out_of_range: clip).
import { DAY } from './parse.js';
import { CLIP_BITS, FLAG, NULL_INT, VITALS, type RawBatch, type Reject, type Vital } from './types.js';

export type Ranges = Record<Vital, readonly [number, number]>;

export interface CleanCounts {
  duplicates: number;
  clipped: number;
  invalidZip: number;
  implausible: number;
  converted: number;
  swapped: number;
}

export interface VitalRepairConfig {
  ranges: Ranges;
  out_of_range: 'null' | 'clip';
  unit_repair: boolean;
  swap_repair: boolean;
}

export interface PulsePressureRule {
  min_pulse_pressure: number;
  max_pulse_pressure: number;
}

/** mmHg per kPa. */
export const MMHG_PER_KPA = 7.50062;
/** Beats per minute per Hz. */
export const BPM_PER_HZ = 60;
const UNIT_FACTOR: Record<Vital, number> = { systolic_bp: MMHG_PER_KPA, diastolic_bp: MMHG_PER_KPA, heart_rate: BPM_PER_HZ };

/** `02134`, `2134` (lost leading zero), `02134-1234`, `021341234`, `2134.0` -> `02134`; anything else -> null. */
export function normalizeZip(raw: string | null): string | null {
  if (raw === null) return null;
  let s = raw.trim();
  if (/^\d+\.0+$/.test(s)) s = s.slice(0, s.indexOf('.'));
  if (/^\d{5}-\d{4}$/.test(s) || /^\d{9}$/.test(s)) return s.slice(0, 5);
  if (/^\d{1,5}$/.test(s)) return s.padStart(5, '0');
  return null;
}

/** Keep rows where keep[i] is 1; dictionaries are shared, arrays are compacted. */
export function filterRows(b: RawBatch, keep: Uint8Array): RawBatch {
  let n = 0;
  for (let i = 0; i < b.n; i++) n += keep[i];
  if (n === b.n) return b;
  const pick = <T extends Int32Array | Float64Array | Uint32Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(n);
    for (let i = 0, j = 0; i < b.n; i++) if (keep[i]) out[j++] = a[i];
    return out;
  };
  return {
    ...b,
    n,
    line: pick(b.line),
    patientIdx: pick(b.patientIdx),
    dobDays: pick(b.dobDays),
    zipIdx: pick(b.zipIdx),
    eventMs: pick(b.eventMs),
    eventDay: pick(b.eventDay),
    systolic_bp: pick(b.systolic_bp),
    diastolic_bp: pick(b.diastolic_bp),
    heart_rate: pick(b.heart_rate),
    flags: pick(b.flags),
  };
}

function sameNumber(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x5bd1e995);
  return (h ^ (h >>> 15)) >>> 0;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
function mixDouble(h: number, x: number): number {
  f64[0] = Number.isNaN(x) ? NaN : x;
  return mix(mix(h, u32[0]), u32[1]);
}

/**
 * Within-batch duplicates: same patient, same instant, same three values (as read, before clipping).
 * The first occurrence is kept. Exact comparison behind a hash, so no false positives.
 */
export function dropDuplicateEvents(b: RawBatch): { batch: RawBatch; duplicates: number } {
  const keep = new Uint8Array(b.n).fill(1);
  // Open addressing over row indexes (+1; 0 = empty), load factor <= 0.5.
  let size = 1024;
  while (size < b.n * 2) size *= 2;
  const slots = new Int32Array(size);
  const mask = size - 1;
  let duplicates = 0;
  const same = (i: number, j: number) =>
    b.patientIdx[i] === b.patientIdx[j] &&
    b.eventMs[i] === b.eventMs[j] &&
    sameNumber(b.systolic_bp[i], b.systolic_bp[j]) &&
    sameNumber(b.diastolic_bp[i], b.diastolic_bp[j]) &&
    sameNumber(b.heart_rate[i], b.heart_rate[j]);
  for (let i = 0; i < b.n; i++) {
    let h = mix(0x9747b28c, b.patientIdx[i]);
    h = mixDouble(h, b.eventMs[i]);
    h = mixDouble(h, b.systolic_bp[i]);
    h = mixDouble(h, b.diastolic_bp[i]);
    h = mixDouble(h, b.heart_rate[i]);
    let slot = h & mask;
    for (;;) {
      const j = slots[slot];
      if (j === 0) {
        slots[slot] = i + 1;
        break;
      }
      if (same(i, j - 1)) {
        keep[i] = 0;
        duplicates++;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return { batch: filterRows(b, keep), duplicates };
}

/** Clip each vital into its range, in place on a copy; each clipped value gets clip_<column>. */
export function clipVitals(b: RawBatch, ranges: Ranges): { batch: RawBatch; clipped: number } {
  const r = repairVitals(b, { ranges, out_of_range: 'clip', unit_repair: false, swap_repair: false }, null);
  return { batch: r.batch, clipped: r.counts.clipped };
}

const inRange = (x: number, r: readonly [number, number]) => x >= r[0] && x <= r[1];
const round1 = (x: number) => Math.round(x * 10) / 10;

export interface RepairCounts {
  converted: number;
  swapped: number;
  implausible: number;
  clipped: number;
}

/**
 * Units, order and range of the three vitals (see the top of this file). `rules` gives the pulse-pressure
 * limits a swapped-back pair must meet; null disables swapping.
 */
export function repairVitals(b: RawBatch, cfg: VitalRepairConfig, rules: PulsePressureRule | null): { batch: RawBatch; counts: RepairCounts } {
  const flags = b.flags.slice();
  const col: Record<Vital, Float64Array> = { systolic_bp: b.systolic_bp.slice(), diastolic_bp: b.diastolic_bp.slice(), heart_rate: b.heart_rate.slice() };
  const counts: RepairCounts = { converted: 0, swapped: 0, implausible: 0, clipped: 0 };
  const { ranges } = cfg;
  const sys = col.systolic_bp;
  const dia = col.diastolic_bp;
  for (let i = 0; i < b.n; i++) {
    // 1. units
    if (cfg.unit_repair) {
      const conv = { systolic_bp: NaN, diastolic_bp: NaN, heart_rate: NaN };
      for (const v of VITALS) {
        const x = col[v][i];
        if (Number.isNaN(x) || inRange(x, ranges[v])) continue;
        const y = round1(x * UNIT_FACTOR[v]);
        if (inRange(y, ranges[v])) conv[v] = y;
      }
      // A blood pressure conversion must not put the diastolic at or above the systolic (a diastolic of 20
      // is not 150 mmHg when the systolic is 90).
      const bpConverted = !Number.isNaN(conv.systolic_bp) || !Number.isNaN(conv.diastolic_bp);
      if (bpConverted) {
        const s1 = Number.isNaN(conv.systolic_bp) ? sys[i] : conv.systolic_bp;
        const d1 = Number.isNaN(conv.diastolic_bp) ? dia[i] : conv.diastolic_bp;
        if (!Number.isNaN(s1) && !Number.isNaN(d1) && d1 >= s1) conv.systolic_bp = conv.diastolic_bp = NaN;
      }
      for (const v of VITALS) {
        if (Number.isNaN(conv[v])) continue;
        col[v][i] = conv[v];
        flags[i] |= FLAG[`unit_${v}`];
        counts.converted++;
      }
    }
    // 2. order
    const s = sys[i];
    const d = dia[i];
    if (!Number.isNaN(s) && !Number.isNaN(d) && d >= s) {
      const pp = d - s;
      const unambiguous =
        cfg.swap_repair && rules !== null && d > s &&
        inRange(d, ranges.systolic_bp) && inRange(d, ranges.diastolic_bp) && inRange(s, ranges.diastolic_bp) &&
        pp >= rules.min_pulse_pressure && pp <= rules.max_pulse_pressure;
      if (unambiguous) {
        sys[i] = d;
        dia[i] = s;
        flags[i] |= FLAG.swap_bp;
        counts.swapped++;
      } else flags[i] |= FLAG.flag_bp_order;
    }
    // 3. range
    for (const v of VITALS) {
      const x = col[v][i];
      if (Number.isNaN(x)) continue;
      const [lo, hi] = ranges[v];
      if (x >= lo && x <= hi) continue;
      if (cfg.out_of_range === 'clip') {
        col[v][i] = x < lo ? lo : hi;
        flags[i] |= FLAG[`clip_${v}`];
        counts.clipped++;
      } else {
        col[v][i] = NaN;
        flags[i] |= FLAG[`implausible_${v}`];
        counts.implausible++;
      }
    }
  }
  return { batch: { ...b, flags, systolic_bp: sys, diastolic_bp: dia, heart_rate: col.heart_rate }, counts };
}

export interface InstantCheckConfig {
  /** The processing instant, ms (passed in: transforms read no clock). */
  nowMs: number;
  /** clean.future_tolerance, ms. */
  futureToleranceMs: number;
  future: 'flag' | 'reject';
  dobAfterEvent: 'flag' | 'reject';
}

export interface InstantCounts {
  future: number;
  dobAfterEvent: number;
}

/**
 * Instants that cannot be right. An event later than now + tolerance: future_ts, or rejected as
 * future_event_ts. A birth date after the event's (UTC) date: dob_after_event with the birth date withheld
 * (null), or rejected as dob_after_event. A rejected row goes to the rejects with its line.
 */
export function checkInstants(b: RawBatch, cfg: InstantCheckConfig): { batch: RawBatch; rejects: Reject[]; counts: InstantCounts } {
  const flags = b.flags.slice();
  const dobDays = b.dobDays.slice();
  const keep = new Uint8Array(b.n).fill(1);
  const rejects: Reject[] = [];
  const counts: InstantCounts = { future: 0, dobAfterEvent: 0 };
  const limit = cfg.nowMs + cfg.futureToleranceMs;
  for (let i = 0; i < b.n; i++) {
    if (b.eventMs[i] > limit) {
      counts.future++;
      if (cfg.future === 'reject') {
        keep[i] = 0;
        rejects.push({ line: b.line[i], reason: 'future_event_ts' });
        continue;
      }
      flags[i] |= FLAG.future_ts;
    }
    if (dobDays[i] !== NULL_INT && dobDays[i] > Math.floor(b.eventMs[i] / DAY)) {
      counts.dobAfterEvent++;
      if (cfg.dobAfterEvent === 'reject') {
        keep[i] = 0;
        rejects.push({ line: b.line[i], reason: 'dob_after_event' });
        continue;
      }
      flags[i] |= FLAG.dob_after_event;
      dobDays[i] = NULL_INT;
    }
  }
  return { batch: filterRows({ ...b, flags, dobDays }, keep), rejects, counts };
}

/** ZIPs are cleaned once per distinct value (a dictionary), not once per row. */
export function cleanZips(b: RawBatch): { batch: RawBatch; invalidZip: number } {
  const zips = b.zips.map(normalizeZip);
  const bad = b.zips.map((raw, k) => raw !== null && zips[k] === null);
  const flags = b.flags.slice();
  let invalidZip = 0;
  for (let i = 0; i < b.n; i++) {
    if (bad[b.zipIdx[i]]) {
      flags[i] |= FLAG.invalid_zip;
      invalidZip++;
    }
  }
  return { batch: { ...b, zips, flags }, invalidZip };
}

/** Duplicates, ZIPs and vitals in one call (the stage order itself is in stages.ts). */
export function clean(b: RawBatch, cfg: VitalRepairConfig, rules: PulsePressureRule | null = null): { batch: RawBatch; counts: CleanCounts } {
  const d = dropDuplicateEvents(b);
  const z = cleanZips(d.batch);
  const r = repairVitals(z.batch, cfg, rules);
  return { batch: r.batch, counts: { duplicates: d.duplicates, invalidZip: z.invalidZip, ...r.counts } };
}

export function countRowsWith(b: RawBatch, bits: number): number {
  let k = 0;
  for (let i = 0; i < b.n; i++) if (b.flags[i] & bits) k++;
  return k;
}

export { CLIP_BITS };
