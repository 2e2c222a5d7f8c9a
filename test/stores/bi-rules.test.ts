// The BI rules at their boundaries (pure functions; the end-to-end tests check them against DuckDB on real runs).
import { describe, expect, it } from 'vitest';
import { bandIndexOfAge, BAND_NAMES, bpRank, counts, isTachycardia, packedRowSql, unpackRow } from '../../src/stores/bi/rules.js';
import Database from 'better-sqlite3';

describe('BI rules', () => {
  it('ACC/AHA 2017 categories: the higher of the two readings decides', () => {
    const cat = (s: number, d: number) => ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'][bpRank(s, d) - 1];
    expect([cat(119.9, 79.9), cat(120, 79), cat(129.5, 79), cat(130, 60), cat(118, 80), cat(139, 89)]).toEqual([
      'normal', 'elevated', 'elevated', 'stage_1', 'stage_1', 'stage_1',
    ]);
    expect([cat(140, 60), cat(110, 90), cat(180, 120), cat(181, 70), cat(150, 121)]).toEqual(['stage_2', 'stage_2', 'stage_2', 'crisis', 'crisis']);
  });

  it('tachycardia: above 160/min under 2, above 120/min at 2-12, above 100/min from 13', () => {
    expect([isTachycardia(160, 1), isTachycardia(161, 1), isTachycardia(120, 2), isTachycardia(121, 12)]).toEqual([false, true, false, true]);
    expect([isTachycardia(100, 13), isTachycardia(101, 13), isTachycardia(101, 90)]).toEqual([false, true, true]);
  });

  it('age bands', () => {
    expect([null, 0, 1, 2, 12, 13, 17, 18, 39, 40, 64, 65, 89, 90].map((a) => BAND_NAMES[bandIndexOfAge(a)])).toEqual([
      '', '0-1', '0-1', '2-12', '2-12', '13-17', '13-17', '18-39', '18-39', '40-64', '40-64', '65-89', '65-89', '90+',
    ]);
  });

  it('a value counts unless its own flags or (BP) a cross-field rule name it; unit conversions keep it', () => {
    expect(counts('systolic_bp', '')).toBe(true);
    expect(counts('systolic_bp', 'clip_systolic_bp')).toBe(false);
    expect(counts('diastolic_bp', 'clip_systolic_bp')).toBe(true);
    expect(counts('diastolic_bp', 'invalid_dob;flag_bp_order')).toBe(false);
    expect(counts('heart_rate', 'flag_bp_order;flag_pulse_pressure')).toBe(true);
    expect(counts('heart_rate', 'invalid_heart_rate')).toBe(false);
    expect(counts('systolic_bp', 'unit_systolic_bp')).toBe(true);
  });

  it('packs patient, year and age into one exact integer, in SQL, and unpacks it', () => {
    const db = new Database(':memory:');
    const pack = (ref: number, y: number | null, a: number | null) =>
      db.prepare(`SELECT ${packedRowSql('?', '?', '?')} AS p`).pluck().get(ref, y, a) as number;
    expect(unpackRow(pack(2 ** 31 - 1, 9999, 90))).toEqual({ ref: 2 ** 31 - 1, y: 9999, age: 90 });
    expect(unpackRow(pack(1, null, null))).toEqual({ ref: 1, y: 0, age: null });
    expect(unpackRow(pack(123_456, 2024, 0))).toEqual({ ref: 123_456, y: 2024, age: 0 });
    db.close();
  });
});
