// A patient crossing 90 between two releases: the rows release 1 published are masked again in SQLite and in every
// Parquet file (parts and cleaned.parquet, read back by DuckDB); a crash between the commit and the Parquet rewrite
// is recovered by the next writer; `medetl audit` sees a patient who crossed 90 after the last release.
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openWriter } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import { Age90Guard } from '../../src/privacy/age90.js';
import { runFiles } from '../../src/run.js';
import { compactParts } from '../../src/sinks/parquet/compact.js';
import { duckQuery, globOf } from '../helpers/duck.js';
import { eventsCsv, makeProject, TEST_KEY, type EventRow } from '../helpers/project.js';

const row = (patient_id: string, dob: string, event_ts: string, zip = '02134'): EventRow => ({
  patient_id, first_name: 'Given', last_name: 'Family', dob, zip, event_ts, systolic_bp: 120, diastolic_bp: 80, heart_rate: 70,
});

// Ann turns 90 on 2026-03-10; Dee on 2026-05-01.
const RELEASE_1 = [
  row('MRN-ANN', '1936-03-10', '2025-06-01T10:00:00Z'),
  row('MRN-ANN', '1936-03-10', '2025-12-31T23:30:00-05:00'),
  row('MRN-BOB', '1980-01-01', '2025-06-01T10:00:00Z'),
];
const RELEASE_2 = [row('MRN-CAT', '1990-05-05', '2026-04-01T10:00:00Z'), row('MRN-DEE', '1936-05-01', '2026-04-02T10:00:00Z')];

function sqlite(dir: string, sql: string): Record<string, unknown>[] {
  const db = new Database(path.join(dir, 'masked_out', 'cleaned.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** patient_key = HMAC(key, id): the test knows the key. */
const keyOf = async (_dir: string, id: string) => createHmac('sha256', Buffer.from(TEST_KEY, 'hex')).update(id).digest('hex');

async function parquetRows(file: string, key: string): Promise<Record<string, unknown>[]> {
  return duckQuery(`SELECT dob_year, age_years, event_year FROM read_parquet('${file.replace(/\\/g, '/')}') WHERE patient_key = '${key}' ORDER BY age_years`);
}

describe('a patient crossing 90 between two releases', () => {
  it('release 2 masks release 1 again: SQLite, every part and cleaned.parquet; audit sees the next crossing', async () => {
    const p = makeProject();
    writeFileSync(p.file('events_1.csv'), eventsCsv(RELEASE_1));
    // The releases run in a child process (the built CLI), as an operator runs them, with the clock pinned.
    const r1 = p.run(['process', 'events_1.csv'], { env: { MEDETL_NOW: '2026-01-15T12:00:00Z' } });
    expect(r1.stderr).toBe('');
    expect(r1.status).toBe(0);
    const c = loadConfig(p.file('config.yaml'), { MEDETL_HMAC_KEY: TEST_KEY });
    await compactParts(c.resolved.parts, c.resolved.compactParquet, 'snappy');
    const ann = await keyOf(p.dir, 'MRN-ANN');
    const before = sqlite(p.dir, `SELECT dob_year, age_years, event_year FROM cleaned_events WHERE patient_key = '${ann}' ORDER BY event_year`);
    // 89 in release 1: years kept; the Dec 31 local visit (-05:00) is 2025, not 2026.
    expect(before).toEqual([
      { dob_year: 1936, age_years: 89, event_year: 2025 },
      { dob_year: 1936, age_years: 89, event_year: 2025 },
    ]);
    expect(await parquetRows(globOf(p.file('masked_out/parts')), ann)).toHaveLength(2);

    writeFileSync(p.file('events_2.csv'), eventsCsv(RELEASE_2));
    const r2 = p.run(['process', 'events_2.csv'], { env: { MEDETL_NOW: '2026-04-15T12:00:00Z' } });
    expect(r2.stderr).toBe('');
    expect(r2.status).toBe(0);
    const after = sqlite(p.dir, `SELECT dob_year, age_years, event_year FROM cleaned_events WHERE patient_key = '${ann}'`);
    expect(after).toEqual([
      { dob_year: null, age_years: 89, event_year: null },
      { dob_year: null, age_years: 89, event_year: null },
    ]);
    // Bob is untouched.
    const bob = await keyOf(p.dir, 'MRN-BOB');
    expect(sqlite(p.dir, `SELECT dob_year, event_year FROM cleaned_events WHERE patient_key = '${bob}'`)).toEqual([{ dob_year: 1980, event_year: 2025 }]);
    // Every Parquet file under masked_out/ that holds Ann's rows.
    const parts = readdirSync(p.file('masked_out/parts'));
    expect(parts.filter((n) => !n.endsWith('.parquet'))).toEqual([]);
    for (const f of [...parts.map((n) => p.file(`masked_out/parts/${n}`)), p.file('masked_out/cleaned.parquet')]) {
      for (const r of await parquetRows(f, ann)) expect(r).toEqual({ dob_year: null, age_years: 89, event_year: null });
    }
    expect(await parquetRows(p.file('masked_out/cleaned.parquet'), ann)).toHaveLength(2);
    expect(await duckQuery(`SELECT COUNT(*)::INT AS n FROM read_parquet('${p.file('masked_out/cleaned.parquet')}')`)).toEqual([{ n: 5 }]);
    // The ledger records the ZIP3 table of every batch.
    expect(sqlite(p.dir, 'SELECT DISTINCT zip3_vintage, zip3_table_hash, key_mode FROM batches')).toEqual([
      { zip3_vintage: 'census-2020-dhc-p1', zip3_table_hash: '32551bdb3ed76271', key_mode: 'hmac' },
    ]);
    const log = readFileSync(p.file('logs/pipeline.log'), 'utf8');
    expect(log).toMatch(/"event":"age90_remasked".*"patients":1,"rows":2,"batches":1,"ms":\d+/);

    // Audit on the release day: clean. Two weeks after Dee turned 90 and before any release: a finding in the store
    // and in Parquet; the next release masks her.
    const clean = p.run(['audit', '--no-canary'], { env: { MEDETL_NOW: '2026-04-15T12:00:00Z' } });
    expect(clean.stdout).toBe('audit: no findings\n');
    expect(clean.status).toBe(0);
    const late = p.run(['audit', '--no-canary'], { env: { MEDETL_NOW: '2026-05-15T12:00:00Z' } });
    expect(late.status).toBe(6);
    expect(late.stdout).toMatch(/FINDING age90_crossed: masked_out\/cleaned\.sqlite: 1 patient\(s\) aged 90\+ by the audit day still have 1 row\(s\) with a year/);
    expect(late.stdout).toMatch(/FINDING age90_crossed: masked_out\/parts: 1 Parquet row\(s\)/);
    writeFileSync(p.file('events_3.csv'), eventsCsv([row('MRN-EVE', '1970-01-01', '2026-05-10T10:00:00Z')]));
    const c3 = loadConfig(p.file('config.yaml'), { MEDETL_HMAC_KEY: TEST_KEY, MEDETL_NOW: '2026-05-15T12:00:00Z' });
    expect((await runFiles(c3, [p.file('events_3.csv')], { onSuccess: 'keep' })).loaded).toBe(1);
    expect(p.run(['audit', '--no-canary'], { env: { MEDETL_NOW: '2026-05-15T12:00:00Z' } }).stdout).toBe('audit: no findings\n');
  });

  it('a crash between the commit and the Parquet rewrite: the next writer rewrites the parts', async () => {
    const p = makeProject();
    const env = (now: string) => ({ MEDETL_HMAC_KEY: TEST_KEY, MEDETL_NOW: now });
    writeFileSync(p.file('events_1.csv'), eventsCsv(RELEASE_1));
    const c1 = loadConfig(p.file('config.yaml'), env('2026-01-15T12:00:00Z'));
    expect((await runFiles(c1, [p.file('events_1.csv')], { onSuccess: 'keep' })).loaded).toBe(1);
    const ann = await keyOf(p.dir, 'MRN-ANN');

    // Release 2 commits; the process "dies" before the Parquet rewrite (the rewrite fails), and a half-written
    // temporary file of a rewrite lies beside the part.
    const real = Age90Guard.prototype.applyPendingRewrites;
    let calls = 0;
    Age90Guard.prototype.applyPendingRewrites = async function () {
      calls++;
      if (calls === 2) throw Object.assign(new Error('crash'), { code: 'EIO' });
      return real.call(this);
    };
    const [part1] = readdirSync(p.file('masked_out/parts'));
    try {
      writeFileSync(p.file('events_2.csv'), eventsCsv(RELEASE_2));
      const c2 = loadConfig(p.file('config.yaml'), env('2026-04-15T12:00:00Z'));
      expect((await runFiles(c2, [p.file('events_2.csv')], { onSuccess: 'keep' })).loaded).toBe(1);
    } finally {
      Age90Guard.prototype.applyPendingRewrites = real;
    }
    expect(calls).toBe(2);
    writeFileSync(p.file(`masked_out/parts/${part1}.remask.tmp`), 'half a file');
    // The store is masked, the part not yet.
    expect(sqlite(p.dir, `SELECT event_year FROM cleaned_events WHERE patient_key = '${ann}'`)).toEqual([{ event_year: null }, { event_year: null }]);
    expect((await parquetRows(p.file(`masked_out/parts/${part1}`), ann)).map((r) => r.event_year)).toEqual([2025, 2025]);

    // The next writer (any command that opens one) finishes the rewrite at start.
    const w = await openWriter(loadConfig(p.file('config.yaml'), env('2026-04-16T12:00:00Z')));
    await w.close();
    expect(existsSync(p.file(`masked_out/parts/${part1}.remask.tmp`))).toBe(false);
    for (const r of await parquetRows(p.file(`masked_out/parts/${part1}`), ann)) expect(r).toEqual({ dob_year: null, age_years: 89, event_year: null });
    const priv = new Database(p.file('.medetl/private.sqlite'), { readonly: true });
    expect(priv.prepare('SELECT COUNT(*) AS n FROM age90_rewrites').get()).toEqual({ n: 0 });
    priv.close();
  });
});
