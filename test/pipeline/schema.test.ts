import { describe, expect, it } from 'vitest';
import { BatchError, RawBatchBuilder, countRejects, resolveHeader } from '../../src/pipeline/schema.js';
import { FLAG, NULL_INT } from '../../src/pipeline/types.js';

function build(lines: string[][], header: string[]) {
  const b = new RawBatchBuilder(resolveHeader(header), 'UTC');
  lines.forEach((l, i) => b.add(l, i + 2));
  return { b, raw: b.finish() };
}

describe('schema', () => {
  it('matches header names case- and whitespace-insensitively in any order, dropping extra columns', () => {
    const header = [' HEART_RATE', 'extra', 'Event_TS ', 'zip', 'DOB', 'Patient_Id', 'first_name', 'systolic_bp', 'Diastolic_BP'];
    const { raw } = build([['70', 'ignored', '2024-01-01T00:00:00Z', '02134', '1980-05-06', 'p1', 'Ann', '120', '80']], header);
    expect(raw.n).toBe(1);
    expect(raw.heart_rate[0]).toBe(70);
    expect(raw.systolic_bp[0]).toBe(120);
    expect(raw.patientIds).toEqual(['p1']);
    expect(raw.zips).toEqual(['02134']);
    expect(Object.keys(raw)).not.toContain('first_name');
  });

  it('names every missing required column', () => {
    try {
      resolveHeader(['patient_id', 'dob', 'event_ts', 'heart_rate']);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BatchError);
      expect((e as BatchError).code).toBe('missing_columns');
      expect((e as BatchError).details.columns).toEqual(['zip', 'systolic_bp', 'diastolic_bp']);
    }
  });

  it('rejects rows without a usable patient_id or event_ts by line, and keeps the rest', () => {
    const h = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];
    const { b, raw } = build(
      [
        ['p1', '1980-01-01', '02134', '2024-01-01', '120', '80', '70'],
        ['  ', '1980-01-01', '02134', '2024-01-01', '120', '80', '70'],
        ['p2', '1980-01-01', '02134', 'yesterday', '120', '80', '70'],
        ['p3', '1980-01-01', '02134', '2024-01-01', '120', '80'],
        ['p4', 'not a date', '', '2024-01-02', '12O', '', 'N/A'],
      ],
      h,
    );
    expect(b.rowsIn).toBe(5);
    expect(b.rejects).toEqual([
      { line: 3, reason: 'missing_patient_id' },
      { line: 4, reason: 'invalid_event_ts' },
      { line: 5, reason: 'wrong_field_count' },
    ]);
    expect(countRejects(b.rejects)).toEqual({ missing_patient_id: 1, invalid_event_ts: 1, wrong_field_count: 1 });
    expect(raw.n).toBe(2);
    expect(Array.from(raw.line)).toEqual([2, 6]);
    // Typos become null (NaN) with a flag; an empty cell is null without one.
    expect(raw.systolic_bp[1]).toBeNaN();
    expect(raw.diastolic_bp[1]).toBeNaN();
    expect(raw.heart_rate[1]).toBeNaN();
    expect(raw.dobDays[1]).toBe(NULL_INT);
    expect(raw.flags[1]).toBe(FLAG.invalid_systolic_bp | FLAG.invalid_heart_rate | FLAG.invalid_dob);
    expect(raw.zips[raw.zipIdx[1]]).toBeNull();
  });
});
