// Stage 1, schema: the header contract and per-row type coercion into a columnar RawBatch.
// zod checks the header (once per file, ~5 ms); rows are coerced by hand-written parsers (parse.ts).
import { z } from 'zod';
import { BatchError } from '../core/errors.js';
import { parseDateDays, parseDecimal, parseEventTime, type EventTime } from './parse.js';
import { FLAG, NULL_INT, type RawBatch, type Reject, type RejectReason } from './types.js';

export const REQUIRED_COLUMNS = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'] as const;
export const OPTIONAL_COLUMNS = ['first_name', 'last_name'] as const;
type Required = (typeof REQUIRED_COLUMNS)[number];

export { BatchError };

const normalize = (h: string) => h.replace(/^\uFEFF/, '').trim().toLowerCase().replace(/\s+/g, '_');

const headerSchema = z
  .array(z.string())
  .transform((cols) => cols.map(normalize))
  .superRefine((cols, ctx) => {
    const missing = REQUIRED_COLUMNS.filter((c) => !cols.includes(c));
    if (missing.length) ctx.addIssue({ code: 'custom', message: `missing_columns:${missing.join(',')}` });
    const seen = new Set<string>();
    const dup = cols.filter((c) => c !== '' && (seen.has(c) ? true : (seen.add(c), false)));
    const dupRequired = dup.filter((c) => (REQUIRED_COLUMNS as readonly string[]).includes(c));
    if (dupRequired.length) ctx.addIssue({ code: 'custom', message: `duplicate_columns:${dupRequired.join(',')}` });
  });

export interface HeaderMap {
  patientId: number;
  dob: number;
  zip: number;
  eventTs: number;
  systolic: number;
  diastolic: number;
  heartRate: number;
  /** Fields per record, from the header. */
  width: number;
}

/** Resolve column positions; names match case- and whitespace-insensitively, in any order. */
export function resolveHeader(fields: string[]): HeaderMap {
  const r = headerSchema.safeParse(fields);
  if (!r.success) {
    const [code, cols] = r.error.issues[0].message.split(':');
    const what = code === 'missing_columns' ? 'missing required column(s)' : 'duplicate column(s)';
    throw new BatchError(code, `${what}: ${cols}`, { columns: cols.split(','), lines: [1] });
  }
  const at = (c: Required) => r.data.indexOf(c);
  return {
    patientId: at('patient_id'), dob: at('dob'), zip: at('zip'), eventTs: at('event_ts'),
    systolic: at('systolic_bp'), diastolic: at('diastolic_bp'), heartRate: at('heart_rate'), width: r.data.length,
  };
}

/** Builds a RawBatch row by row with growable typed arrays. Names are never read. */
export class RawBatchBuilder {
  n = 0;
  rowsIn = 0;
  readonly rejects: Reject[] = [];
  private cap = 1024;
  private line = new Int32Array(this.cap);
  private patientIdx = new Int32Array(this.cap);
  private dobDays = new Int32Array(this.cap);
  private zipIdx = new Int32Array(this.cap);
  private eventMs = new Float64Array(this.cap);
  private eventDay = new Int32Array(this.cap);
  private readonly ts: EventTime = { ms: 0, day: 0 };
  private vit = [new Float64Array(this.cap), new Float64Array(this.cap), new Float64Array(this.cap)];
  private flags = new Uint32Array(this.cap);
  private readonly patients = new Map<string, number>();
  private readonly patientIds: string[] = [];
  private readonly zipMap = new Map<string, number>();
  private readonly zips: (string | null)[] = [];

  constructor(
    private readonly header: HeaderMap,
    private readonly zone: string,
    /** Expected rows (e.g. file size / bytes per row): sizes the columns once instead of doubling them. */
    expectedRows = 1024,
  ) {
    if (expectedRows > this.cap) {
      this.cap = Math.ceil(expectedRows);
      this.line = new Int32Array(this.cap);
      this.patientIdx = new Int32Array(this.cap);
      this.dobDays = new Int32Array(this.cap);
      this.zipIdx = new Int32Array(this.cap);
      this.eventMs = new Float64Array(this.cap);
      this.eventDay = new Int32Array(this.cap);
      this.vit = [new Float64Array(this.cap), new Float64Array(this.cap), new Float64Array(this.cap)];
      this.flags = new Uint32Array(this.cap);
    }
  }

  private grow(): void {
    this.cap = Math.ceil(this.cap * 1.5);
    const g = <T extends Int32Array | Float64Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(this.cap);
      b.set(a);
      return b;
    };
    this.line = g(this.line);
    this.patientIdx = g(this.patientIdx);
    this.dobDays = g(this.dobDays);
    this.zipIdx = g(this.zipIdx);
    this.eventMs = g(this.eventMs);
    this.eventDay = g(this.eventDay);
    this.vit = this.vit.map(g);
    this.flags = g(this.flags);
  }

  private reject(line: number, reason: RejectReason): void {
    this.rejects.push({ line, reason });
  }

  add(fields: string[], line: number): void {
    this.rowsIn++;
    const h = this.header;
    if (fields.length !== h.width) return this.reject(line, 'wrong_field_count');
    const pid = fields[h.patientId].trim();
    if (pid === '') return this.reject(line, 'missing_patient_id');
    const ts = this.ts;
    if (!parseEventTime(fields[h.eventTs], this.zone, ts)) return this.reject(line, 'invalid_event_ts');
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    let flags = 0;
    this.line[i] = line;
    let p = this.patients.get(pid);
    if (p === undefined) {
      p = this.patientIds.length;
      this.patients.set(pid, p);
      this.patientIds.push(pid);
    }
    this.patientIdx[i] = p;
    const dobRaw = fields[h.dob];
    const dob = dobRaw.length === 0 ? NaN : parseDateDays(dobRaw);
    if (Number.isNaN(dob)) {
      if (dobRaw.trim() !== '') flags |= FLAG.invalid_dob;
      this.dobDays[i] = NULL_INT;
    } else this.dobDays[i] = dob;
    const zipRaw = fields[h.zip];
    let z = this.zipMap.get(zipRaw);
    if (z === undefined) {
      z = this.zips.length;
      this.zipMap.set(zipRaw, z);
      const t = zipRaw.trim();
      this.zips.push(t === '' ? null : t);
    }
    this.zipIdx[i] = z;
    this.eventMs[i] = ts.ms;
    this.eventDay[i] = ts.day;
    const sys = parseDecimal(fields[h.systolic]);
    const dia = parseDecimal(fields[h.diastolic]);
    const hr = parseDecimal(fields[h.heartRate]);
    this.vit[0][i] = sys === null ? NaN : sys;
    this.vit[1][i] = dia === null ? NaN : dia;
    this.vit[2][i] = hr === null ? NaN : hr;
    if (sys !== null && Number.isNaN(sys)) flags |= FLAG.invalid_systolic_bp;
    if (dia !== null && Number.isNaN(dia)) flags |= FLAG.invalid_diastolic_bp;
    if (hr !== null && Number.isNaN(hr)) flags |= FLAG.invalid_heart_rate;
    this.flags[i] = flags;
  }

  /** The batch; its columns are views of the builder's arrays (no copy). */
  finish(): RawBatch {
    const n = this.n;
    return {
      kind: 'raw',
      n,
      line: this.line.subarray(0, n),
      patientIdx: this.patientIdx.subarray(0, n),
      patientIds: this.patientIds,
      dobDays: this.dobDays.subarray(0, n),
      zipIdx: this.zipIdx.subarray(0, n),
      zips: this.zips,
      eventMs: this.eventMs.subarray(0, n),
      eventDay: this.eventDay.subarray(0, n),
      systolic_bp: this.vit[0].subarray(0, n),
      diastolic_bp: this.vit[1].subarray(0, n),
      heart_rate: this.vit[2].subarray(0, n),
      flags: this.flags.subarray(0, n),
    };
  }
}

export function countRejects(rejects: readonly Reject[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rejects) out[r.reason] = (out[r.reason] ?? 0) + 1;
  return out;
}
