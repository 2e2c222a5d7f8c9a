// Per-patient history QC (values and time-of-day rhythm), what the store must append, and the in-memory
// reference of the store's side (HistoryBook).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { checkHistory, HistoryBook, historyAppends, rhythmFlags, transpositions, type PatientHistory } from '../../src/pipeline/history.js';
import { RawBatchBuilder, resolveHeader } from '../../src/pipeline/schema.js';
import { FLAG, type RawBatch } from '../../src/pipeline/types.js';

const H = ['patient_id', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];
const CFG = parseConfig({}, '/tmp', null, {}).history;
const DAY = 86_400_000;

function batch(rows: (string | number)[][]): RawBatch {
  const b = new RawBatchBuilder(resolveHeader(H), 'UTC');
  rows.forEach((r, i) => b.add(r.map(String), i + 2));
  return b.finish();
}
/** Visits of one patient, one a month at 10:05:03, with these systolic values. */
function visits(sys: number[], opts: { id?: string; start?: string; dia?: number; hr?: number } = {}): (string | number)[][] {
  const start = Date.parse(opts.start ?? '2023-01-15T10:05:03Z');
  return sys.map((s, k) => [opts.id ?? 'p1', '1970-01-01', '02134', new Date(start + k * 30 * DAY).toISOString(), s, opts.dia ?? 78, opts.hr ?? 70]);
}
const flagged = (b: RawBatch, bit: number) => Array.from(b.flags).map((f) => (f & bit ? 1 : 0));

describe('history: values', () => {
  it('transpositions of adjacent digits', () => {
    expect(transpositions(128)).toEqual([218, 182]);
    expect(transpositions(121)).toEqual([211, 112]);
    expect(transpositions(75)).toEqual([57]);
    expect(transpositions(80)).toEqual([8]);
    expect(transpositions(110.5)).toEqual([101.5]);
    expect(transpositions(9)).toEqual([]);
  });

  it('flags 128 -> 182 against the patient\'s own readings; 121 -> 112 is ordinary variation and is not flagged', () => {
    const base = [124, 130, 126, 121, 133, 127, 125];
    const r = checkHistory(batch(visits([...base, 182, 112])), [], CFG, 'UTC');
    expect(flagged(r.batch, FLAG.flag_systolic_bp_history)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(r.counts.values).toBe(1);
  });

  it('a transposition is held to a lower bar than an ordinary outlier', () => {
    // 170 and 157 deviate alike from ~127; only 172 (= 127 with two digits swapped) is flagged.
    const base = [124, 130, 126, 127, 133, 127, 125];
    const r = checkHistory(batch(visits([...base, 172, 150])), [], { ...CFG, z: 99 }, 'UTC');
    expect(flagged(r.batch, FLAG.flag_systolic_bp_history).slice(-2)).toEqual([1, 0]);
  });

  it('judges a batch\'s reading against the history the store kept (and not at all without enough of it)', () => {
    const b = batch(visits([182], { start: '2024-06-01T10:05:03Z' }));
    expect(checkHistory(b, [], CFG, 'UTC').counts.values).toBe(0); // one reading, nothing to compare with
    const at = (k: number) => Date.parse('2024-01-01T10:05:03Z') + k * 20 * DAY;
    const stored: PatientHistory = {
      vitals: {
        systolic_bp: [126, 130, 124, 129].map((value, k) => ({ atMs: at(k), value })),
        diastolic_bp: [78, 80, 76, 79].map((value, k) => ({ atMs: at(k), value })),
        heart_rate: [70, 72, 68, 71].map((value, k) => ({ atMs: at(k), value })),
      },
      instants: [0, 1, 2, 3].map(at),
    };
    const r = checkHistory(b, [stored], CFG, 'UTC');
    expect(flagged(r.batch, FLAG.flag_systolic_bp_history)).toEqual([1]);
    expect(r.counts.withHistory).toBe(1);
    // Readings older than window_days do not count.
    expect(checkHistory(b, [stored], { ...CFG, window_days: 30 }, 'UTC').counts.values).toBe(0);
    // Another patient's history is never used: the list is parallel to the batch's patients.
    expect(checkHistory(b, [undefined], CFG, 'UTC').counts.values).toBe(0);
  });

  it('can be switched off (history.enabled: false)', () => {
    const b = batch(visits([124, 130, 126, 121, 133, 182]));
    expect(checkHistory(b, [], { ...CFG, enabled: false }, 'UTC').batch).toBe(b);
  });
});

describe('history: time-of-day rhythm', () => {
  const at = (day: number, hms: string) => Date.parse(`2024-01-01T${hms}Z`) + day * DAY;

  it('flags a reading off the patient\'s time of day (skewed or late), not a hospital stay at its own time', () => {
    const instants = [
      at(0, '10:05:03'), at(40, '10:05:03'), at(95, '10:05:03'), at(150, '10:05:03'),
      at(200, '11:27:03'), // skewed by 82 min
      at(260, '14:40:00'), at(261, '14:40:00'), at(262, '14:40:00'), // a three-day stay, admitted at 14:40
      at(300, '10:05:03'), at(330, '04:05:03'), // late by 6 h
    ];
    const r = rhythmFlags(instants, instants.map(() => true), CFG, 'UTC');
    expect(r.map(Number)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  });

  it('does not judge without a rhythm: too few visits, or times that wander', () => {
    const few = [at(0, '10:05:03'), at(40, '10:05:03'), at(80, '13:00:00')];
    expect(rhythmFlags(few, few.map(() => true), CFG, 'UTC').some(Boolean)).toBe(false);
    const wander = Array.from({ length: 12 }, (_, k) => at(k * 30, `${String(8 + (k % 9)).padStart(2, '0')}:${String((k * 7) % 60).padStart(2, '0')}:00`));
    expect(rhythmFlags(wander, wander.map(() => true), CFG, 'UTC').some(Boolean)).toBe(false);
  });

  it('uses the store\'s instants, and judges only the batch\'s', () => {
    const stored = [at(0, '10:05:03'), at(40, '10:05:03'), at(95, '10:05:03'), at(120, '22:00:00')];
    const b = batch([['p1', '1970-01-01', '02134', new Date(at(150, '11:27:03')).toISOString(), 120, 80, 70]]);
    const h: PatientHistory = { vitals: { systolic_bp: [], diastolic_bp: [], heart_rate: [] }, instants: stored };
    const r = checkHistory(b, [h], CFG, 'UTC');
    expect(flagged(r.batch, FLAG.flag_event_ts_history)).toEqual([1]);
    expect(r.counts.rhythm).toBe(1); // the stored 22:00 outlier is not the batch's to flag
    expect(checkHistory(b, [h], { ...CFG, rhythm: false }, 'UTC').counts.rhythm).toBe(0);
  });

  it('reads the time of day in input.timezone (a clinic keeping local time through daylight saving)', () => {
    // 09:00 in New York: 14:00Z in winter, 13:00Z in summer.
    const local = [Date.parse('2024-01-10T14:00:00Z'), Date.parse('2024-02-10T14:00:00Z'), Date.parse('2024-04-10T13:00:00Z'), Date.parse('2024-06-10T13:00:00Z'), Date.parse('2024-08-10T13:00:00Z'), Date.parse('2024-11-20T14:00:00Z')];
    expect(rhythmFlags(local, local.map(() => true), CFG, 'America/New_York').some(Boolean)).toBe(false);
    expect(rhythmFlags(local, local.map(() => true), CFG, 'UTC').some(Boolean)).toBe(true);
  });
});

describe('history: what the store appends and keeps', () => {
  it('appends every loaded non-null value, and instants except suspect ones; one row per (patient, series, instant)', () => {
    const b = batch([
      ['p1', '1970-01-01', '02134', '2024-01-01T10:00:00Z', 120, '', 70],
      ['p2', '1970-01-01', '02134', '2024-01-02T10:00:00Z', 118, 76, ''],
      ['p2', '1970-01-01', '02134', '2024-01-02T10:00:00Z', 119, 77, ''], // same instant: the later row wins
      ['p2', '1970-01-01', '02134', '2024-01-03T10:00:00Z', '', '', ''], // nothing to append
    ]);
    b.flags[0] |= FLAG.flag_event_ts_history;
    const rows = historyAppends(b, ['key-1', 'key-2'], { readings: 10, instants: 30 });
    const t = (d: string) => Date.parse(`2024-01-0${d}T10:00:00Z`);
    expect(rows).toEqual([
      { patientKey: 'key-1', series: 'systolic_bp', atMs: t('1'), value: 120 },
      { patientKey: 'key-1', series: 'heart_rate', atMs: t('1'), value: 70 },
      { patientKey: 'key-2', series: 'systolic_bp', atMs: t('2'), value: 119 },
      { patientKey: 'key-2', series: 'diastolic_bp', atMs: t('2'), value: 77 },
      { patientKey: 'key-2', series: 'instant', atMs: t('2'), value: null },
    ]);
  });

  it('returns only the newest N rows per patient and series (all a store would keep)', () => {
    const b = batch(visits([120, 121, 122, 123, 124]));
    const rows = historyAppends(b, ['k'], { readings: 2, instants: 3 });
    expect(rows.filter((r) => r.series === 'systolic_bp').map((r) => r.value)).toEqual([123, 124]);
    expect(rows.filter((r) => r.series === 'instant')).toHaveLength(3);
    expect(rows.filter((r) => r.series === 'heart_rate')).toHaveLength(2);
  });

  it('HistoryBook keeps the newest N per patient and series, oldest first, whatever the order of appends', () => {
    const book = new HistoryBook({ readings: 3, instants: 2 });
    const rows = [5, 1, 4, 2, 3].flatMap((k) => [
      { patientKey: 'a', series: 'systolic_bp' as const, atMs: k * DAY, value: 100 + k },
      { patientKey: 'a', series: 'instant' as const, atMs: k * DAY, value: null },
    ]);
    book.append(rows.slice(0, 4));
    book.append(rows.slice(4));
    book.append([{ patientKey: 'a', series: 'systolic_bp', atMs: 4 * DAY, value: 140 }]); // a later batch's row replaces
    const [a, none] = book.lookup(['a', 'b']);
    expect(none).toBeUndefined();
    expect(a!.vitals.systolic_bp).toEqual([{ atMs: 3 * DAY, value: 103 }, { atMs: 4 * DAY, value: 140 }, { atMs: 5 * DAY, value: 105 }]);
    expect(a!.vitals.heart_rate).toEqual([]);
    expect(a!.instants).toEqual([4 * DAY, 5 * DAY]);
    expect(book.patients).toBe(1);
  });
});
