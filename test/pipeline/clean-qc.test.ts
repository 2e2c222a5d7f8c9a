import { describe, expect, it } from 'vitest';
import { clean, normalizeZip } from '../../src/pipeline/clean.js';
import { checkThresholds, outlierFences, qc, quantile } from '../../src/pipeline/qc.js';
import { BatchError, RawBatchBuilder, resolveHeader } from '../../src/pipeline/schema.js';
import { CLIP_BITS, FLAG, type RawBatch } from '../../src/pipeline/types.js';

const H = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];
const RANGES = { systolic_bp: [50, 260], diastolic_bp: [25, 160], heart_rate: [20, 250] } as const;
const REPAIR = { ranges: RANGES, out_of_range: 'null', unit_repair: true, swap_repair: true } as const;

function batch(rows: (string | number)[][]): RawBatch {
  const b = new RawBatchBuilder(resolveHeader(H), 'UTC');
  rows.forEach((r, i) => b.add(r.map(String), i + 2));
  return b.finish();
}

describe('clean', () => {
  it.each([
    ['02134', '02134'],
    ['2134', '02134'],
    ['1852', '01852'],
    ['02134-1234', '02134'],
    ['021341234', '02134'],
    ['2134.0', '02134'],
    [' 90210 ', '90210'],
    ['ABCDE', null],
    ['123456', null],
    ['', null],
  ])('ZIP %j -> %j', (raw, expected) => {
    expect(normalizeZip(raw)).toBe(expected);
  });

  // Changed with issue 13: out-of-range values are no longer clipped by default (that invented numbers such
  // as a heart rate of 250 for a 400); they become null with implausible_<column>. Clipping is still there
  // with clean.out_of_range: clip, and this test keeps its old assertions for that mode.
  it('nulls out-of-range vitals and marks each one implausible_<column> (the default)', () => {
    const { batch: b, counts } = clean(
      batch([
        ['p1', '1980-01-01', '2134', '2024-01-01T00:00:00Z', 400, 170, 120],
        ['p1', '1980-01-01', '2134', '2024-01-02T00:00:00Z', 120, 80, 400],
      ]),
      REPAIR,
    );
    expect(Array.from(b.systolic_bp)).toEqual([NaN, 120]);
    expect(Array.from(b.diastolic_bp)).toEqual([NaN, 80]);
    expect(Array.from(b.heart_rate)).toEqual([120, NaN]);
    expect(b.flags[0] & (FLAG.implausible_systolic_bp | FLAG.implausible_diastolic_bp)).toBe(FLAG.implausible_systolic_bp | FLAG.implausible_diastolic_bp);
    expect(b.flags[1] & FLAG.implausible_heart_rate).toBe(FLAG.implausible_heart_rate);
    expect(b.flags[0] & CLIP_BITS).toBe(0);
    expect(counts).toMatchObject({ implausible: 3, clipped: 0 });
    expect(b.zips[b.zipIdx[0]]).toBe('02134');
  });

  it('clean.out_of_range: clip clips out-of-range vitals to the limit and marks each clipped value', () => {
    const { batch: b, counts } = clean(
      batch([
        ['p1', '1980-01-01', '2134', '2024-01-01T00:00:00Z', 400, 170, 120],
        ['p1', '1980-01-01', '2134', '2024-01-02T00:00:00Z', 120, 80, 400],
      ]),
      { ...REPAIR, out_of_range: 'clip' },
    );
    expect(Array.from(b.systolic_bp)).toEqual([260, 120]);
    expect(Array.from(b.diastolic_bp)).toEqual([160, 80]);
    expect(Array.from(b.heart_rate)).toEqual([120, 250]);
    expect(b.flags[0] & (FLAG.clip_systolic_bp | FLAG.clip_diastolic_bp)).toBe(FLAG.clip_systolic_bp | FLAG.clip_diastolic_bp);
    expect(b.flags[1] & FLAG.clip_heart_rate).toBe(FLAG.clip_heart_rate);
    expect(counts.clipped).toBe(3);
    expect(b.zips[b.zipIdx[0]]).toBe('02134');
  });

  it('drops exact duplicate events (same patient, instant and values), keeping the first', () => {
    const row = ['p1', '1980-01-01', '02134', '2024-01-01T00:00:00Z', 120, 80, 70];
    const { batch: b, counts } = clean(
      batch([
        row,
        ['p1', '1980-01-01', '02134', '2024-01-01T00:00:00+00:00', 120, 80, 70], // same instant, other spelling
        ['p1', '1980-01-01', '02134', '2024-01-01T00:00:00Z', 120, 80, 71], // other value: kept
        ['p2', '1980-01-01', '02134', '2024-01-01T00:00:00Z', 120, 80, 70], // other patient: kept
        ['p1', '1980-01-01', '02134', '2024-01-01T00:00:00Z', '', 80, 70],
        ['p1', '1980-01-01', '02134', '2024-01-01T00:00:00Z', '', 80, 70], // null == null here
      ]),
      REPAIR,
    );
    expect(counts.duplicates).toBe(2);
    expect(Array.from(b.line)).toEqual([2, 4, 5, 6]);
  });
});

describe('qc', () => {
  const cfg = { method: 'iqr' as const, iqr_k: 1.5, mad_threshold: 3.5, min_n: 5, age_bands: [] as number[] };
  const rules = { min_pulse_pressure: 10, max_pulse_pressure: 120 };

  it('computes R-7 quantiles', () => {
    const s = Float64Array.from([1, 2, 3, 4, 10]);
    expect(quantile(s, 0.25)).toBe(2);
    expect(quantile(s, 0.5)).toBe(3);
    expect(quantile(Float64Array.from([1, 2, 3, 4]), 0.25)).toBe(1.75);
  });

  it('IQR: flags values outside [q1 - k*IQR, q3 + k*IQR]', () => {
    // q1 = 100, q3 = 110 over 100..110 -> fences 85 and 125
    const values = [100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110];
    expect(outlierFences(Float64Array.from(values).sort(), cfg)).toEqual([102.5 - 1.5 * 5, 107.5 + 1.5 * 5]);
    const rows = [...values, 150].map((v, i) => ['p', '1980-01-01', '02134', `2024-01-${String(i + 1).padStart(2, '0')}`, v, 70, 70]);
    const r = qc(batch(rows), cfg, rules);
    const flagged = Array.from(r.batch.flags).map((f) => (f & FLAG.flag_systolic_bp ? 1 : 0));
    expect(flagged).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const m = r.metrics.find((x) => x.column === 'systolic_bp')!;
    expect(m).toMatchObject({ n: 12, nulls: 0, min: 100, max: 150, flagged: 1, median: 105.5 });
  });

  it('MAD: modified z-score, with a mean-absolute-deviation fallback when MAD is 0', () => {
    const mad = { ...cfg, method: 'mad' as const };
    const s = Float64Array.from([10, 11, 12, 13, 14, 15, 16]).sort();
    // median 13, MAD 2 -> scale 2 / 0.6745, fences 13 -+ 3.5 * 2 / 0.6745
    const [lo, hi] = outlierFences(s, mad)!;
    expect(lo).toBeCloseTo(13 - (3.5 * 2) / 0.6745, 9);
    expect(hi).toBeCloseTo(13 + (3.5 * 2) / 0.6745, 9);
    // 5 of 7 equal: MAD = 0 -> mean absolute deviation (4 + 40) / 7, scaled by 1.253314
    const flat = Float64Array.from([60, 60, 60, 60, 60, 64, 100]).sort();
    const [flo, fhi] = outlierFences(flat, mad)!;
    const w = 3.5 * 1.253314 * (44 / 7);
    expect(flo).toBeCloseTo(60 - w, 9);
    expect(fhi).toBeCloseTo(60 + w, 9);
    expect(outlierFences(Float64Array.from([5, 5, 5, 5, 5]), mad)).toBeNull();
  });

  it('computes fences per age band: an infant heart rate is judged among infants', () => {
    const rows: (string | number)[][] = [];
    for (let i = 0; i < 30; i++) rows.push([`adult${i}`, '1970-01-01', '02134', `2024-01-${String((i % 28) + 1).padStart(2, '0')}`, 120, 80, 65 + (i % 10)]);
    for (let i = 0; i < 8; i++) rows.push([`baby${i}`, '2023-06-01', '02134', `2024-01-${String(i + 1).padStart(2, '0')}`, 85, 50, 135 + i]);
    const banded = qc(batch(rows), { ...cfg, age_bands: [2, 13] }, rules);
    const pooled = qc(batch(rows), { ...cfg, age_bands: [] }, rules);
    const babyFlags = (r: typeof banded) => Array.from(r.batch.flags.subarray(30)).filter((f) => f & FLAG.flag_heart_rate).length;
    expect(babyFlags(pooled)).toBe(8); // judged against adults, every infant is an outlier
    expect(babyFlags(banded)).toBe(0); // 8 infants (>= min_n), judged among themselves: none is an outlier
    const withSpike = [...rows.slice(0, 30), ...rows.slice(30, 37), ['baby7', '2023-06-01', '02134', '2024-01-20', 85, 50, 240]];
    expect(babyFlags(qc(batch(withSpike), { ...cfg, age_bands: [2, 13] }, rules))).toBe(1);
  });

  it('does not judge columns with fewer than min_n values', () => {
    expect(outlierFences(Float64Array.from([1, 2, 300]), cfg)).toBeNull();
  });

  it('cross-field rules: diastolic >= systolic, implausible pulse pressure', () => {
    const r = qc(
      batch([
        ['p', '1980-01-01', '02134', '2024-01-01', 80, 120, 70],
        ['p', '1980-01-01', '02134', '2024-01-02', 120, 115, 70],
        ['p', '1980-01-01', '02134', '2024-01-03', 250, 60, 70],
        ['p', '1980-01-01', '02134', '2024-01-04', 120, 80, 70],
        ['p', '1980-01-01', '02134', '2024-01-05', '', 80, 70],
      ]),
      cfg,
      rules,
    );
    expect(Array.from(r.batch.flags)).toEqual([FLAG.flag_bp_order, FLAG.flag_pulse_pressure, FLAG.flag_pulse_pressure, 0, 0]);
    expect(r.flaggedRows).toBe(3);
  });

  it('batch thresholds: quarantine or warn', () => {
    const rates = { rowsIn: 100, rejected: 30, loaded: 70, flaggedRows: 1 };
    expect(() => checkThresholds(rates, { max_reject_rate: 0.2, max_flagged_rate: 0.5, action: 'quarantine' })).toThrowError(BatchError);
    expect(checkThresholds(rates, { max_reject_rate: 0.2, max_flagged_rate: 0.5, action: 'flag' })).toHaveLength(1);
    expect(checkThresholds(rates, { max_reject_rate: 0.5, max_flagged_rate: 0.5, action: 'quarantine' })).toEqual([]);
  });
});
