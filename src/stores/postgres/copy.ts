// A MaskedBatch as the text of `COPY events FROM STDIN` (PostgreSQL's text format: tab-separated, `\N` for NULL,
// backslash escapes), produced chunk by chunk as the COPY stream asks for more (backpressure): never one giant
// string. Columns in EVENTS order (schema.ts): patient_ref, batch_ref, dob_year, age_years, event_year, event_date,
// zip3, systolic_bp, diastolic_bp, heart_rate, outlier_flags.
import { Readable } from 'node:stream';
import type { MaskedBatch } from '../../pipeline/deid.js';
import { isoDate } from '../../pipeline/parse.js';
import { NULL_INT } from '../../pipeline/types.js';
import { EVENTS } from '../schema.js';

export const EVENTS_COPY_COLUMNS = EVENTS.columns.map((c) => c.name);

const NULL = '\\N';

/** A text value in COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyText(s: string | null): string {
  if (s === null) return NULL;
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
}

/** Small integers (years, ages) as text, made once. */
const SMALL_INTS: string[] = [];
const int = (v: number) => (v === NULL_INT ? NULL : v >= 0 && v < 4096 ? (SMALL_INTS[v] ??= String(v)) : String(v));

/** About this many characters per chunk handed to the stream (PostgreSQL's own COPY chunks are 64 kB). */
const CHUNK_CHARS = 1 << 16;

/**
 * Rows [from, to) of the batch as COPY text. `patientRef[i]` is the patient_ref of the batch's patient index i
 * (the store resolved them first).
 */
export function eventsCopyStream(b: MaskedBatch, from: number, to: number, patientRef: Int32Array, batchRef: number): Readable {
  // Dictionaries are encoded once per batch, not once per row; so are the patient references.
  const zip3 = b.zip3s.map(copyText);
  const flags = b.flagTexts.map(copyText);
  const patient = Array.from(patientRef, String);
  // Vitals repeat (one decimal, a few thousand distinct values): number-to-text once per value. NaN is a missing
  // value; JS's shortest round-trip form is valid float8 input (1e-7, Infinity).
  const doubles = new Map<number, string>();
  const dbl = (v: number) => {
    let t = doubles.get(v);
    if (t === undefined) {
      t = Number.isNaN(v) ? NULL : String(v);
      if (doubles.size < 65_536) doubles.set(v, t);
    }
    return t;
  };
  const dates = new Map<number, string>();
  const date = (d: number) => {
    if (d === NULL_INT) return NULL;
    let t = dates.get(d);
    if (t === undefined) dates.set(d, (t = isoDate(d)));
    return t;
  };
  const batch = String(batchRef);
  let i = from;
  return new Readable({
    // The COPY stream pulls; each read() produces one chunk and returns, so memory stays at a few chunks.
    read() {
      if (i >= to) {
        this.push(null);
        return;
      }
      let s = '';
      while (i < to && s.length < CHUNK_CHARS) {
        s +=
          patient[b.patientKeyIdx[i]] + '\t' + batch + '\t' + int(b.dobYear[i]) + '\t' + int(b.ageYears[i]) + '\t' +
          int(b.eventYear[i]) + '\t' + date(b.eventDate[i]) + '\t' + zip3[b.zip3Idx[i]] + '\t' + dbl(b.systolic_bp[i]) + '\t' +
          dbl(b.diastolic_bp[i]) + '\t' + dbl(b.heart_rate[i]) + '\t' + flags[b.flagIdx[i]] + '\n';
        i++;
      }
      this.push(s);
    },
  });
}

/** Fingerprints as COPY text, one bigint a line, in chunks. */
export function bigintCopyStream(values: BigInt64Array): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i >= values.length) {
        this.push(null);
        return;
      }
      const end = Math.min(values.length, i + 4096);
      let s = '';
      for (; i < end; i++) s += values[i] + '\n';
      this.push(s);
    },
  });
}
