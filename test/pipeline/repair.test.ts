// Cleaning without invented values: unit repair, swapped blood pressure, out-of-range values, impossible instants,
// and the one stage order (stages.ts) that the runner and `score` share.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { checkInstants, repairVitals } from '../../src/pipeline/clean.js';
import { DAY } from '../../src/pipeline/parse.js';
import { RawBatchBuilder, resolveHeader } from '../../src/pipeline/schema.js';
import { cleanAndCheck } from '../../src/pipeline/stages.js';
import { FLAG, NULL_INT, OUTLIER_BITS, type RawBatch } from '../../src/pipeline/types.js';

const H = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];
const RANGES = { systolic_bp: [50, 260], diastolic_bp: [25, 160], heart_rate: [20, 250] } as const;
const REPAIR = { ranges: RANGES, out_of_range: 'null', unit_repair: true, swap_repair: true } as const;
const RULES = { min_pulse_pressure: 10, max_pulse_pressure: 120 };
const NOW = Date.parse('2026-11-22T08:15:00Z');

function batch(rows: (string | number)[][]): RawBatch {
  const b = new RawBatchBuilder(resolveHeader(H), 'UTC');
  rows.forEach((r, i) => b.add(r.map(String), i + 2));
  return b.finish();
}
const row = (s: number | string, d: number | string, hr: number | string, ts = '2024-01-01T10:00:00Z', dob = '1980-01-01') => ['p1', dob, '02134', ts, s, d, hr];
const values = (b: RawBatch, i: number) => [b.systolic_bp[i], b.diastolic_bp[i], b.heart_rate[i]];

describe('unit repair', () => {
  it('converts kPa blood pressure and Hz heart rate when only the converted value is plausible, flagged unit_<column>', () => {
    const { batch: b, counts } = repairVitals(batch([row(16, 10.7, 1.2), row('16.0', 80, 72), row(120, 80, 72)]), REPAIR, RULES);
    expect(values(b, 0)).toEqual([120, 80.3, 72]);
    expect(b.flags[0] & (FLAG.unit_systolic_bp | FLAG.unit_diastolic_bp | FLAG.unit_heart_rate)).toBe(FLAG.unit_systolic_bp | FLAG.unit_diastolic_bp | FLAG.unit_heart_rate);
    // A kPa systolic with a mmHg diastolic: the raw pair is in the wrong order, the converted one is not.
    expect(values(b, 1)).toEqual([120, 80, 72]);
    expect(b.flags[1]).toBe(FLAG.unit_systolic_bp);
    expect(b.flags[2]).toBe(0);
    expect(counts.converted).toBe(4);
  });

  it('does not convert when the result would put the diastolic at or above the systolic, nor when nothing plausible results', () => {
    // A diastolic of 20 would be 150 "mmHg" as kPa: above the systolic of 90, so it is implausible, not converted.
    const { batch: b } = repairVitals(batch([row(90, 20, 300), row(45, 30, 0.2)]), REPAIR, RULES);
    expect(values(b, 0)).toEqual([90, NaN, NaN]);
    expect(b.flags[0] & (FLAG.implausible_diastolic_bp | FLAG.implausible_heart_rate)).toBe(FLAG.implausible_diastolic_bp | FLAG.implausible_heart_rate);
    expect(b.flags[0] & (FLAG.unit_diastolic_bp | FLAG.unit_heart_rate)).toBe(0);
    // 45 mmHg systolic x 7.5 = 337: not plausible either way; 0.2 Hz = 12/min: not plausible either.
    expect(values(b, 1)).toEqual([NaN, 30, NaN]);
  });

  it('can be switched off (clean.unit_repair: false)', () => {
    const { batch: b } = repairVitals(batch([row(16, 10.7, 1.2)]), { ...REPAIR, unit_repair: false }, RULES);
    expect(values(b, 0)).toEqual([NaN, NaN, NaN]);
  });
});

describe('systolic/diastolic swaps', () => {
  it('swaps back an unambiguous swap (flag swap_bp), including a child and a hypertensive in range', () => {
    const { batch: b, counts } = repairVitals(batch([row(80, 120, 70), row(42, 70, 130), row(95, 150, 80)]), REPAIR, RULES);
    expect([values(b, 0), values(b, 1), values(b, 2)]).toEqual([[120, 80, 70], [70, 42, 130], [150, 95, 80]]);
    for (let i = 0; i < 3; i++) expect(b.flags[i]).toBe(FLAG.swap_bp);
    expect(counts.swapped).toBe(3);
  });

  it('flags what it cannot resolve (flag_bp_order): equal values, an implausible pulse pressure, a diastolic spike', () => {
    const { batch: b } = repairVitals(batch([row(80, 80, 70), row(75, 78, 70), row(120, 220, 70)]), REPAIR, RULES);
    expect(values(b, 0)).toEqual([80, 80, 70]);
    expect(values(b, 1)).toEqual([75, 78, 70]);
    // 220 is no diastolic: a spike or a swapped crisis reading, which one cannot be told. Not swapped; the
    // diastolic is nulled as implausible and the row keeps flag_bp_order.
    expect(values(b, 2)).toEqual([120, NaN, 70]);
    for (let i = 0; i < 3; i++) expect(b.flags[i] & (FLAG.flag_bp_order | FLAG.swap_bp)).toBe(FLAG.flag_bp_order);
    expect(b.flags[2] & FLAG.implausible_diastolic_bp).toBe(FLAG.implausible_diastolic_bp);
  });
});

describe('impossible instants', () => {
  const rows = [
    row(120, 80, 70, '2026-11-22T09:00:00Z'), // 45 min ahead: within the 1 h tolerance
    row(120, 80, 70, '2026-11-23T08:15:00Z'), // a day ahead: future
    row(120, 80, 70, '2024-01-01T10:00:00Z', '2025-05-05'), // born after the event
    row(120, 80, 70, '2024-01-01T10:00:00Z', '2024-01-01'), // born that day: fine
  ];
  const cfg = { nowMs: NOW, futureToleranceMs: 3_600_000, future: 'flag', dobAfterEvent: 'flag' } as const;

  it('flag mode: future_ts, and dob_after_event with the birth date withheld (null)', () => {
    const r = checkInstants(batch(rows), cfg);
    expect(r.rejects).toEqual([]);
    expect(Array.from(r.batch.flags)).toEqual([0, FLAG.future_ts, FLAG.dob_after_event, 0]);
    expect(r.batch.dobDays[2]).toBe(NULL_INT);
    expect(r.batch.dobDays[3]).toBe(Math.floor(Date.parse('2024-01-01') / DAY));
    expect(r.counts).toEqual({ future: 1, dobAfterEvent: 1 });
  });

  it('reject mode: the rows leave the batch as rejects with their lines and reasons', () => {
    const r = checkInstants(batch(rows), { ...cfg, future: 'reject', dobAfterEvent: 'reject' });
    expect(r.rejects).toEqual([{ line: 3, reason: 'future_event_ts' }, { line: 4, reason: 'dob_after_event' }]);
    expect(Array.from(r.batch.line)).toEqual([2, 5]);
  });
});

describe('cleanAndCheck: the stage order', () => {
  const config = (over: Record<string, unknown> = {}) => parseConfig(over, '/tmp', null, {});

  it('rejects from the timestamp checks come back with the batch; flagged rows count future_ts', () => {
    const b = batch([row(120, 80, 70, '2027-01-01T00:00:00Z'), row(120, 80, 70)]);
    const flagged = cleanAndCheck(b, config(), { nowMs: NOW });
    expect(flagged.rejects).toEqual([]);
    expect(flagged.batch.flags[0] & OUTLIER_BITS).toBe(FLAG.future_ts);
    expect(flagged.flaggedRows).toBe(1);
    expect(flagged.counts.future_ts).toBe(1);
    const rejected = cleanAndCheck(b, config({ clean: { future_ts: 'reject' } }), { nowMs: NOW });
    expect(rejected.rejects).toEqual([{ line: 2, reason: 'future_event_ts' }]);
    expect(rejected.batch.n).toBe(1);
  });

  it('out_of_range: clip keeps the old behaviour end to end', () => {
    const b = batch([row(400, 80, 70)]);
    expect(cleanAndCheck(b, config(), { nowMs: NOW }).batch.systolic_bp[0]).toBeNaN();
    const clipped = cleanAndCheck(b, config({ clean: { out_of_range: 'clip' } }), { nowMs: NOW });
    expect(clipped.batch.systolic_bp[0]).toBe(260);
    expect(clipped.clippedRows).toBe(1);
  });

  it('per-column metrics count history flags, implausible and converted values', () => {
    const rows: (string | number)[][] = [];
    for (let d = 1; d <= 6; d++) rows.push(['p1', '1980-01-01', '02134', `2024-0${d}-01T10:00:00Z`, 120 + (d % 3), 80, 70]);
    rows.push(['p1', '1980-01-01', '02134', '2024-07-01T10:00:00Z', 182, 80, 1.2]); // transposed 128, HR in Hz
    rows.push(['p1', '1980-01-01', '02134', '2024-08-01T10:00:00Z', 400, 80, 70]); // implausible
    const q = cleanAndCheck(batch(rows), config(), { nowMs: NOW });
    const m = Object.fromEntries(q.metrics.map((x) => [x.column, x]));
    expect(m.systolic_bp).toMatchObject({ flagged: 1, implausible: 1, converted: 0, nulls: 1 });
    expect(m.heart_rate).toMatchObject({ converted: 1, implausible: 0 });
    expect(q.batch.flags[6] & FLAG.flag_systolic_bp_history).toBe(FLAG.flag_systolic_bp_history);
  });
});
