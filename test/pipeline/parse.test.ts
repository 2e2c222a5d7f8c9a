import { describe, expect, it } from 'vitest';
import { civilFromDays, daysFromCivil, parseDateDays, parseDecimal, parseTimestamp } from '../../src/pipeline/parse.js';

describe('timestamps', () => {
  const at = Date.UTC(2024, 4, 1, 10, 0, 0);
  it.each([
    ['2024-05-01T10:00:00Z', at],
    ['2024-05-01T10:00:00.250Z', at + 250],
    ['2024-05-01T12:00:00+02:00', at],
    ['2024-05-01T12:00:00+0200', at],
    ['2024-05-01T05:00:00-05', at],
    ['2024-05-01 10:00:00', at],
    ['2024-05-01T10:00', at],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['05/01/2024', Date.UTC(2024, 4, 1)],
    ['05/01/2024 10:00:00', at],
    [' 2024-05-01T10:00:00Z ', at],
  ])('reads %s', (raw, expected) => {
    expect(parseTimestamp(raw, 'UTC')).toBe(expected);
  });

  it.each(['', 'bad', '2024-13-01', '2024-02-30T00:00:00Z', '2024-05-01T25:00:00Z', '2024-05-01T10:00:00Q', '1,2024', '2024/05/01'])(
    'rejects %j',
    (raw) => {
      expect(parseTimestamp(raw, 'UTC')).toBeNaN();
    },
  );

  it('reads a time without a zone in the configured zone, across DST', () => {
    // New York: EST (-5) in January, EDT (-4) in July.
    expect(parseTimestamp('2024-01-15 08:00:00', 'America/New_York')).toBe(Date.UTC(2024, 0, 15, 13));
    expect(parseTimestamp('2024-07-15 08:00:00', 'America/New_York')).toBe(Date.UTC(2024, 6, 15, 12));
    // An explicit offset wins over the zone.
    expect(parseTimestamp('2024-07-15T08:00:00Z', 'America/New_York')).toBe(Date.UTC(2024, 6, 15, 8));
  });
});

describe('dates and decimals', () => {
  it('reads birth dates as calendar dates', () => {
    expect(parseDateDays('1970-01-02')).toBe(1);
    expect(parseDateDays('02/29/2000')).toBe(daysFromCivil(2000, 2, 29));
    expect(parseDateDays('1999-02-29')).toBeNaN();
    expect(parseDateDays('1980-01-02T00:00:00Z')).toBe(daysFromCivil(1980, 1, 2));
  });

  it('round-trips day numbers over four centuries', () => {
    for (let d = -50_000; d < 100_000; d += 37) {
      const [y, m, dd] = civilFromDays(d);
      expect(daysFromCivil(y, m, dd)).toBe(d);
      const js = new Date(d * 86_400_000);
      expect([y, m, dd]).toEqual([js.getUTCFullYear(), js.getUTCMonth() + 1, js.getUTCDate()]);
    }
  });

  it('turns typos into NaN and empty cells into null, never 0', () => {
    expect(parseDecimal('120')).toBe(120);
    expect(parseDecimal(' 98.6 ')).toBe(98.6);
    expect(parseDecimal('-1.5')).toBe(-1.5);
    expect(parseDecimal('')).toBeNull();
    expect(parseDecimal('  ')).toBeNull();
    for (const typo of ['12O', '1,20', 'N/A', '1e3', '0x10', '.', '-', '1.2.3', 'Infinity']) expect(parseDecimal(typo)).toBeNaN();
  });
});
