import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseKey } from '../../src/config/key.js';
import { HHS_2000_RESTRICTED, zip3Table } from '../../src/config/zip3.js';
import { cleanZips } from '../../src/pipeline/clean.js';
import { ageInYears, deidentify, eventFingerprints, flagText, zip3Of, type MaskedBatch } from '../../src/pipeline/deid.js';
import { daysFromCivil } from '../../src/pipeline/parse.js';
import { RawBatchBuilder, resolveHeader } from '../../src/pipeline/schema.js';
import { FLAG, NULL_INT } from '../../src/pipeline/types.js';

const KEY_HEX = 'ab'.repeat(32);
const key = parseKey(KEY_HEX);
const hhs = zip3Table('hhs2000');
const NOW = Date.UTC(2026, 10, 22, 12);
const H = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];

function masked(rows: string[][], profile: 'safe_harbor' | 'limited_data_set' = 'safe_harbor'): MaskedBatch {
  const b = new RawBatchBuilder(resolveHeader(H), 'UTC');
  rows.forEach((r, i) => b.add(r, i + 2));
  return deidentify(cleanZips(b.finish()).batch, { key, profile, zip3: hhs, batchId: 'B1', nowMs: NOW });
}

describe('de-identification (Safe Harbor)', () => {
  it('patient_key is HMAC-SHA256(key, patient_id) in hex', () => {
    const m = masked([['MRN-001', '1980-01-01', '02134', '2024-01-01T00:00:00Z', '120', '80', '70']]);
    const expected = createHmac('sha256', Buffer.from(KEY_HEX, 'hex')).update('MRN-001').digest('hex');
    expect(m.patientKeys[m.patientKeyIdx[0]]).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps only the year of birth and event dates; event_date only in the limited data set profile', () => {
    const row = ['p', '1980-07-15', '02134', '2024-07-14T23:30:00Z', '120', '80', '70'];
    const m = masked([row]);
    expect(m.dobYear[0]).toBe(1980);
    expect(m.eventYear[0]).toBe(2024);
    expect(m.ageYears[0]).toBe(43); // the birthday is the next day
    expect(m.eventDate[0]).toBe(NULL_INT);
    const l = masked([row], 'limited_data_set');
    expect(l.eventDate[0]).toBe(daysFromCivil(2024, 7, 14));
  });

  it('ages 90 and over are one group (90) and their birth year is withheld, at the event or today', () => {
    const m = masked([
      ['old-at-event', '1920-01-01', '02134', '2015-06-01', '120', '80', '70'], // 95 at the event
      ['old-now', '1935-06-01', '02134', '2010-01-01', '120', '80', '70'], // 74 then, 91 today
      ['exactly-89', '1936-12-01', '02134', '2026-11-21', '120', '80', '70'], // 89 at the event and now
    ]);
    expect(Array.from(m.ageYears)).toEqual([90, 74, 89]);
    expect(Array.from(m.dobYear)).toEqual([NULL_INT, NULL_INT, 1936]);
  });

  it('ages are whole years, birthdays counted on the day', () => {
    const d = (y: number, mo: number, da: number) => daysFromCivil(y, mo, da);
    expect(ageInYears(d(2000, 2, 29), d(2001, 2, 28))).toBe(0);
    expect(ageInYears(d(2000, 2, 29), d(2001, 3, 1))).toBe(1);
    expect(ageInYears(d(1980, 5, 6), d(2024, 5, 6))).toBe(44);
    expect(ageInYears(d(1980, 5, 6), d(2024, 5, 5))).toBe(43);
  });

  it('ZIP to ZIP3; HHS small-population prefixes become 000 (hhs2000 table)', () => {
    for (const p of HHS_2000_RESTRICTED) expect(zip3Of(`${p}45`, hhs)).toBe('000');
    expect(HHS_2000_RESTRICTED).toHaveLength(17);
    expect(zip3Of('02134', hhs)).toBe('021');
    expect(zip3Of(null, hhs)).toBeNull();
    const m = masked([
      ['a', '1980-01-01', '3601', '2024-01-01', '120', '80', '70'],
      ['b', '1980-01-01', '10201-1234', '2024-01-01', '120', '80', '70'],
      ['c', '1980-01-01', 'n/a', '2024-01-01', '120', '80', '70'],
    ]);
    expect(Array.from(m.zip3Idx, (i) => m.zip3s[i])).toEqual(['000', '000', null]);
  });

  it('outlier_flags lists flag names', () => {
    expect(flagText(0)).toBe('');
    expect(flagText(FLAG.flag_heart_rate | FLAG.clip_heart_rate)).toBe('clip_heart_rate;flag_heart_rate');
  });

  it('event fingerprints are keyed: same event same value, another key another value', () => {
    const b = new RawBatchBuilder(resolveHeader(H), 'UTC');
    b.add(['p', '1980-01-01', '02134', '2024-01-01T00:00:00Z', '120', '80', '70'], 2);
    b.add(['p', '1980-01-01', '02134', '2024-01-01T00:00:00Z', '120', '80', '71'], 3);
    const raw = b.finish();
    const f1 = eventFingerprints(raw, key);
    expect(f1[0]).not.toBe(f1[1]);
    expect(eventFingerprints(raw, key)[0]).toBe(f1[0]);
    expect(eventFingerprints(raw, parseKey('cd'.repeat(32)))[0]).not.toBe(f1[0]);
    expect(f1[0] >= 0n).toBe(true);
  });

  it('a MaskedBatch cannot be made outside deid.ts (type-level brand)', () => {
    // @ts-expect-error: the brand symbol is private to deid.ts
    const fake: MaskedBatch = { batchId: 'x', n: 0 };
    expect(fake).toBeDefined();
  });
});
