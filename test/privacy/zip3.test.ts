// ZIP3 tables as allow-lists from current Census data: the embedded figures are the files of ../shared byte for
// byte; prefixes on both sides of the 20,000 line in each vintage; prefixes with no population; the config key.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CENSUS_2010_CSV, CENSUS_2020_CSV, censusPopulations, HHS_2000_RESTRICTED, zip3Table, zip3TableByVintage } from '../../src/config/zip3.js';
import { sharedPath } from '../helpers/services.js';

describe('embedded ZIP3 populations', () => {
  it('equal the files in ../shared/data/zip3-population byte for byte, with the README hashes', () => {
    const dir = sharedPath('data/zip3-population');
    if (!dir) return;
    const readme = readFileSync(path.join(dir, 'README.md'), 'utf8');
    for (const [year, csv, name] of [[2020, CENSUS_2020_CSV, 'census2020'], [2010, CENSUS_2010_CSV, 'census2010']] as const) {
      const file = readFileSync(path.join(dir, `zip3_population_${year}.csv`), 'utf8');
      expect(csv).toBe(file);
      const sha = createHash('sha256').update(file).digest('hex');
      expect(readme).toContain(sha);
      expect(zip3Table(name).sha256).toBe(sha);
      expect(zip3Table(name).hash).toBe(sha.slice(0, 16));
      expect(censusPopulations(csv).size).toBe(894);
    }
  });

  it('2020: published only above 20,000 people; 000 at or below, and for prefixes with no population', () => {
    const t = zip3Table('census2020');
    // Just above the line: 576 = 20,310, 999 = 21,178, 830 = 22,696 (830 is 000 on the 2000 HHS list).
    expect(t.publish('576')).toBe('576');
    expect(t.publish('830')).toBe('830');
    expect(t.publish('999')).toBe('999');
    // At or below: 369 = 17,596, 036 = 13,153, 202 = 0 (a ZCTA with no people).
    expect(t.publish('369')).toBe('000');
    expect(t.publish('036')).toBe('000');
    expect(t.publish('202')).toBe('000');
    // No ZCTA at all: military 090, Guam 969, unassigned 000.
    for (const p of ['090', '969', '000', '008']) expect(t.publish(p)).toBe('000');
    expect([...t.restricted].sort()).toEqual(
      ['036', '059', '102', '202', '203', '204', '205', '369', '556', '692', '753', '772', '821', '823', '878', '879', '884', '893'],
    );
    expect(t.allowed!.size).toBe(894 - 18);
    expect(t.publish('021')).toBe('021');
  });

  it('2010: the line falls elsewhere for 830 and 369', () => {
    const t = zip3Table('census2010');
    expect(t.publish('830')).toBe('830'); // 20,661
    expect(t.publish('831')).toBe('831'); // 22,374
    expect(t.publish('369')).toBe('000'); // 19,164
    expect(t.publish('772')).toBe('000'); // 0
    expect(t.publish('090')).toBe('000'); // no ZCTA
    expect(t.restricted.size).toBe(18);
  });

  it('hhs2000 stays selectable: the 17 prefixes of the HHS list are 000, every other prefix passes', () => {
    const t = zip3Table('hhs2000');
    for (const p of HHS_2000_RESTRICTED) expect(t.publish(p)).toBe('000');
    expect(t.publish('830')).toBe('000');
    expect(t.publish('369')).toBe('369');
    expect(t.publish('090')).toBe('090');
    // The hash the ledger always recorded for this list.
    expect(t.hash).toBe(createHash('sha256').update([...HHS_2000_RESTRICTED].sort().join(',')).digest('hex').slice(0, 16));
  });

  it('a ledger vintage names its table', () => {
    for (const n of ['census2020', 'census2010', 'hhs2000'] as const) expect(zip3TableByVintage(zip3Table(n).vintage)).toBe(zip3Table(n));
    expect(zip3TableByVintage('nope')).toBeNull();
  });
});

describe('config: deid.zip3_table', () => {
  const parse = (input: unknown) => parseConfig(input, '/tmp/medetl-zip3-cfg', null, {});

  it('defaults to census2020 and accepts census2010 and hhs2000', () => {
    expect(parse({}).zip3.name).toBe('census2020');
    expect(parse({ deid: { zip3_table: 'census2010' } }).zip3.vintage).toBe('census-2010-sf1-p1');
    expect(parse({ deid: { zip3_table: 'hhs2000' } }).zip3.name).toBe('hhs2000');
    expect(() => parse({ deid: { zip3_table: 'census2000' } })).toThrow(/deid.zip3_table must be one of "census2020", "census2010", "hhs2000"/);
  });

  it('the old zip3_restricted key is refused with what to do instead', () => {
    expect(() => parse({ zip3_restricted: { version: 'x', source: 'y', prefixes: ['036'] } })).toThrow(
      /zip3_restricted is no longer read.*deid.zip3_table to census2020/s,
    );
  });

  it('the shipped config.yaml parses and uses the defaults', async () => {
    const { loadConfig } = await import('../../src/config/load.js');
    const c = loadConfig(path.resolve('config.yaml'), { MEDETL_HMAC_KEY: 'ab'.repeat(32) });
    expect(c.deid).toEqual({ profile: 'safe_harbor', key_mode: 'hmac', zip3_table: 'census2020', safe_file_names: '^events_[0-9_-]+\\.csv$' });
  });
});
