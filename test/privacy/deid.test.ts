// De-identification rules judged per patient and at release: the 90+ category, the event's own calendar day, future
// birth dates, with a pinned processing instant (the runner passes MEDETL_NOW's instant as nowMs).
import { describe, expect, it } from 'vitest';
import { parseKey } from '../../src/config/key.js';
import { zip3Table } from '../../src/config/zip3.js';
import { clockFrom } from '../../src/core/time.js';
import { cleanZips } from '../../src/pipeline/clean.js';
import { deidentifyWithFacts, processingDay, turn90Day, type PatientAgeFacts } from '../../src/pipeline/deid.js';
import { daysFromCivil, eventCalendarDay, parseEventTime, type EventTime } from '../../src/pipeline/parse.js';
import { RawBatchBuilder, resolveHeader } from '../../src/pipeline/schema.js';
import { FLAG, NULL_INT } from '../../src/pipeline/types.js';
import { auditMaskedBatch } from '../../src/privacy/batch-audit.js';

const key = parseKey('ab'.repeat(32));
const H = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];
const census = zip3Table('census2020');

function run(rows: string[][], nowIso: string, o: { zone?: string; prior?: (keys: number) => PatientAgeFacts; floorDay?: number } = {}) {
  const nowMs = clockFrom({ MEDETL_NOW: nowIso })();
  const b = new RawBatchBuilder(resolveHeader(H), o.zone ?? 'UTC');
  rows.forEach((r, i) => b.add([r[0], r[1], '02134', r[2], '120', '80', '70'], i + 2));
  const raw = cleanZips(b.finish()).batch;
  return {
    raw,
    ...deidentifyWithFacts(raw, {
      key, profile: 'safe_harbor', zip3: census, batchId: 'B', nowMs, zone: o.zone, prior: o.prior?.(raw.patientIds.length), releaseFloorDay: o.floorDay,
    }),
  };
}

describe('ages over 89, per patient and at release', () => {
  it('MEDETL_NOW pins the processing instant; a bad value is refused', () => {
    expect(clockFrom({ MEDETL_NOW: '2026-03-01T00:00:00Z' })()).toBe(Date.UTC(2026, 2, 1));
    expect(clockFrom({ MEDETL_NOW: ' 2026-03-01T00:00:00Z ' })()).toBe(Date.UTC(2026, 2, 1));
    expect(() => clockFrom({ MEDETL_NOW: 'yesterday' })).toThrow(/MEDETL_NOW must be an ISO 8601 instant/);
  });

  it('the 89/90 pair in one year: both readings lose their years, the 90 is capped, the 89 keeps its age', () => {
    // Born 1935-06-15: 89 on 2025-03-01, 90 on 2025-09-01. Released 2025-10-01.
    const { masked, counts } = run(
      [
        ['p', '1935-06-15', '2025-03-01T10:00:00Z'],
        ['p', '1935-06-15', '2025-09-01T10:00:00Z'],
        ['young', '1980-01-01', '2025-09-01T10:00:00Z'],
      ],
      '2025-10-01T00:00:00Z',
    );
    expect(Array.from(masked.ageYears)).toEqual([89, 90, 45]);
    expect(Array.from(masked.dobYear)).toEqual([NULL_INT, NULL_INT, 1980]);
    expect(Array.from(masked.eventYear)).toEqual([NULL_INT, NULL_INT, 2025]);
    expect(counts).toMatchObject({ patientsAged90: 1, agesCapped: 1, dobYearsWithheld: 2, eventYearsWithheld: 2 });
  });

  it('90 at the release (not at any event) withholds every year of the patient; 89 at the release keeps them', () => {
    const rows = [['p', '1935-06-15', '2020-01-01T10:00:00Z']];
    expect(Array.from(run(rows, '2025-06-14T12:00:00Z').masked.eventYear)).toEqual([2020]);
    const at90 = run(rows, '2025-06-15T00:00:00Z').masked;
    expect(Array.from(at90.eventYear)).toEqual([NULL_INT]);
    expect(Array.from(at90.dobYear)).toEqual([NULL_INT]);
    expect(Array.from(at90.ageYears)).toEqual([84]);
  });

  it('the earliest birth date seen decides; a row without one is masked when the patient is 90+', () => {
    const { masked } = run(
      [
        ['p', '1950-01-01', '2024-01-01T00:00:00Z'],
        ['p', '1930-01-01', '2024-02-01T00:00:00Z'],
        ['p', '', '2024-03-01T00:00:00Z'],
      ],
      '2024-06-01T00:00:00Z',
    );
    expect(Array.from(masked.eventYear)).toEqual([NULL_INT, NULL_INT, NULL_INT]);
    expect(Array.from(masked.dobYear)).toEqual([NULL_INT, NULL_INT, NULL_INT]);
    // The 1950 row's own age is 74, but the patient is 94 by the earliest birth date: capped.
    expect(Array.from(masked.ageYears)).toEqual([90, 90, NULL_INT]);
  });

  it('facts of earlier batches (prior) mask a batch whose rows have no birth date', () => {
    const turn90 = turn90Day(daysFromCivil(1930, 1, 1));
    const prior = (n: number): PatientAgeFacts => ({ turn90Day: new Int32Array(n).fill(turn90), maxEventDay: new Int32Array(n).fill(NULL_INT) });
    const { masked, facts } = run([['p', '', '2024-03-01T00:00:00Z']], '2024-06-01T00:00:00Z', { prior });
    expect(masked.eventYear[0]).toBe(NULL_INT);
    expect(facts.aged90[0]).toBe(1);
  });

  it('the release clock never goes back: a floor from an earlier release keeps a crossed patient masked', () => {
    const rows = [['p', '1935-06-15', '2020-01-01T10:00:00Z']];
    const floor = daysFromCivil(2025, 7, 1);
    expect(run(rows, '2025-01-01T00:00:00Z', { floorDay: floor }).masked.eventYear[0]).toBe(NULL_INT);
  });

  it('a 29 February birthday turns 90 on 1 March in a common year', () => {
    expect(turn90Day(daysFromCivil(1936, 2, 29))).toBe(daysFromCivil(2026, 3, 1));
    expect(turn90Day(daysFromCivil(1932, 2, 29))).toBe(daysFromCivil(2022, 3, 1));
  });

  it('the batch self-audit fails on a row of a 90+ patient that keeps a year', () => {
    const { masked, facts } = run([['p', '1935-06-15', '2025-09-01T10:00:00Z']], '2025-10-01T00:00:00Z');
    expect(auditMaskedBatch(masked, facts, { profile: 'safe_harbor', zip3: census, keyMode: 'hmac' }).result).toBe('pass');
    (masked.eventYear as Int32Array)[0] = 2025;
    const r = auditMaskedBatch(masked, facts, { profile: 'safe_harbor', zip3: census, keyMode: 'hmac' });
    expect(r.result).toBe('fail');
    expect(r.findings.join()).toMatch(/age90_years: 1 row/);
  });
});

describe("calendar dates in the event's own zone", () => {
  const t: EventTime = { ms: 0, day: 0 };

  it('a timestamp with an offset is dated at that offset: 2024-12-31T23:30:00-05:00 is 2024', () => {
    expect(parseEventTime('2024-12-31T23:30:00-05:00', 'UTC', t)).toBe(true);
    expect(new Date(t.ms).toISOString()).toBe('2025-01-01T04:30:00.000Z');
    expect(t.day).toBe(daysFromCivil(2024, 12, 31));
    const { masked } = run([['p', '1980-07-01', '2024-12-31T23:30:00-05:00']], '2026-01-01T00:00:00Z');
    expect(masked.eventYear[0]).toBe(2024);
    expect(masked.ageYears[0]).toBe(44);
  });

  it('one without an offset is dated in input.timezone; Z at UTC', () => {
    expect(parseEventTime('2024-12-31 23:30', 'America/New_York', t)).toBe(true);
    expect(t.day).toBe(daysFromCivil(2024, 12, 31));
    expect(new Date(t.ms).toISOString()).toBe('2025-01-01T04:30:00.000Z');
    expect(parseEventTime('2025-01-01T00:30:00+14:00', 'UTC', t)).toBe(true);
    expect(t.day).toBe(daysFromCivil(2025, 1, 1));
    expect(parseEventTime('12/31/2024 23:59:59', 'Asia/Tokyo', t)).toBe(true);
    expect(t.day).toBe(eventCalendarDay(2024, 12, 31));
    expect(parseEventTime('2024-02-30T00:00:00Z', 'UTC', t)).toBe(false);
  });

  it('ages at the event use the local day: a birthday on the local day counts', () => {
    // Born 1980-01-01; the event is on 2025-01-01 at 00:30 in Tokyo (2024-12-31 in UTC): 45 there.
    const { masked } = run([['p', '1980-01-01', '2025-01-01T00:30:00+09:00']], '2026-01-01T00:00:00Z');
    expect(masked.ageYears[0]).toBe(45);
    expect(masked.eventYear[0]).toBe(2025);
  });

  it('the processing day is the calendar day in input.timezone', () => {
    const ms = Date.UTC(2025, 0, 1, 3, 0);
    expect(processingDay(ms, 'UTC')).toBe(daysFromCivil(2025, 1, 1));
    expect(processingDay(ms, 'America/Los_Angeles')).toBe(daysFromCivil(2024, 12, 31));
  });

  it('a birth date after the processing day becomes null with the future_dob flag', () => {
    const { masked, counts } = run(
      [
        ['p', '2026-05-01', '2026-01-01T00:00:00Z'],
        ['q', '2025-12-31', '2026-01-01T00:00:00Z'],
      ],
      '2026-01-01T12:00:00Z',
    );
    expect(masked.dobYear[0]).toBe(NULL_INT);
    expect(masked.ageYears[0]).toBe(NULL_INT);
    expect(masked.flagTexts[masked.flagIdx[0]]).toContain('future_dob');
    expect(masked.dobYear[1]).toBe(2025);
    expect(masked.flagTexts[masked.flagIdx[1]]).not.toContain('future_dob');
    expect(counts.futureDobs).toBe(1);
    expect(FLAG.future_dob).toBeGreaterThan(0);
  });
});
