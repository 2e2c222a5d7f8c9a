// Stage 2, clean: ZIP to 5 digits, physiologic clipping (marked per value), duplicate events dropped.
// Pure: batch in, batch and counts out. Timestamps are already UTC instants (schema converts them).
import { CLIP_BITS, FLAG, VITALS, type RawBatch, type Vital } from './types.js';

export type Ranges = Record<Vital, readonly [number, number]>;

export interface CleanCounts {
  duplicates: number;
  clipped: number;
  invalidZip: number;
}

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
  const flags = b.flags.slice();
  const out: RawBatch = { ...b, flags };
  let clipped = 0;
  for (const v of VITALS) {
    const [lo, hi] = ranges[v];
    const col = b[v].slice();
    const bit = FLAG[`clip_${v}`];
    for (let i = 0; i < b.n; i++) {
      const x = col[i];
      if (x < lo) col[i] = lo;
      else if (x > hi) col[i] = hi;
      else continue;
      flags[i] |= bit;
      clipped++;
    }
    out[v] = col;
  }
  return { batch: out, clipped };
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

export function clean(b: RawBatch, ranges: Ranges): { batch: RawBatch; counts: CleanCounts } {
  const d = dropDuplicateEvents(b);
  const z = cleanZips(d.batch);
  const c = clipVitals(z.batch, ranges);
  return { batch: c.batch, counts: { duplicates: d.duplicates, clipped: c.clipped, invalidZip: z.invalidZip } };
}

export function countRowsWith(b: RawBatch, bits: number): number {
  let k = 0;
  for (let i = 0; i < b.n; i++) if (b.flags[i] & bits) k++;
  return k;
}

export { CLIP_BITS };
