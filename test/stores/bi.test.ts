// The BI model in the SQLite store, built by real pipeline runs (the runner, the store, the Parquet sink): every KPI
// cell is checked against a second implementation in DuckDB over the Parquet parts, after one batch, after a batch
// that moves patients up a category, after the tables were rebuilt, and around a re-masking that withholds years.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFiles } from '../../src/run.js';
import type { BatchResult } from '../../src/runner.js';
import { BI_HELPER_TABLES, BI_PUBLISHED_TABLES, BI_RULES_VERSION, BI_TABLES } from '../../src/stores/bi/schema.js';
import { SMALL_CELL_MIN_PATIENTS } from '../../src/stores/bi/small-cells.js';
import { stateOfZip3 } from '../../src/stores/bi/zip3-states.js';
import { sharedPath } from '../helpers/services.js';
import { makeProject, type Project } from '../helpers/watch-project.js';
import { eventsFor } from './bi-data.js';
import { expectModelMatches, qcOf, readTable, type Row } from './bi-expected.js';

describe('BI model (SQLite store, real pipeline runs)', () => {
  let p: Project;
  const results: BatchResult[] = [];
  const load = async (name: string, content: string) => {
    const file = path.join(p.root, name);
    writeFileSync(file, content);
    await runFiles(p.config(), [file], { onSuccess: 'keep', onBatch: (r) => results.push(r) });
    expect(results.at(-1)?.status).toBe('loaded');
  };

  beforeAll(() => {
    p = makeProject({ thresholds: { max_flagged_rate: 1, max_reject_rate: 1 } });
  });
  afterAll(() => p.cleanup());

  it('after one batch: every KPI cell equals an independent recomputation from the rows', async () => {
    await load('events_b1.csv', eventsFor({ from: 0, to: 700, readings: 8, seed: 1 }));
    const expected = await expectModelMatches(p.sqlite, p.parts, qcOf(results));
    // Big enough that many cells pass the 11-patient rule, and some do not, in every KPI table.
    for (const table of ['kpi_bp_by_year_age_band', 'kpi_heart_rate_by_age_band']) {
      const rows = expected[table];
      expect(rows.filter((r) => r.patients !== null).length, table).toBeGreaterThan(10);
      expect(rows.filter((r) => r.patients === null).length, table).toBeGreaterThan(2);
    }
    expect(expected.kpi_bp_by_year.filter((r) => r.patients !== null).length).toBeGreaterThan(10);
  });

  it('after a second batch that moves patients up a category (and adds new ones): still equal, cell by cell', async () => {
    const before = readTable(p.sqlite, 'bi_bp_patient_year');
    await load('events_b2.csv', eventsFor({ from: 300, to: 1000, readings: 6, seed: 2, raise: { every: 3, by: 30 } }));
    await expectModelMatches(p.sqlite, p.parts, qcOf(results));
    // Patients counted in batch 1 now count in a higher category: the patient-level counts moved.
    const rank = new Map(before.map((r) => [`${r.patient_ref}|${r.event_year}`, r.bp_rank as number]));
    const moved = readTable(p.sqlite, 'bi_bp_patient_year').filter((r) => (rank.get(`${r.patient_ref}|${r.event_year}`) ?? 99) < (r.bp_rank as number));
    expect(moved.length).toBeGreaterThan(50);
  });

  it('rebuilds every table from all rows when the rules version changes (or the tables are new on a loaded store)', async () => {
    const db = new Database(p.sqlite);
    db.exec("UPDATE bi_state SET value = 'old' WHERE name = 'rules_version'; DELETE FROM kpi_vitals_by_year; DELETE FROM bi_value_counts; UPDATE bi_hr_cell SET patients = 0");
    db.close();
    await load('events_b3.csv', eventsFor({ from: 900, to: 1100, readings: 3, seed: 3 }));
    await expectModelMatches(p.sqlite, p.parts, qcOf(results));
    expect(readTable(p.sqlite, 'bi_state').find((r) => r.name === 'rules_version')?.value).toBe(BI_RULES_VERSION);
  });

  it('publishes NULL for every count and statistic of a cell under 11 patients, and keeps the exact numbers in the helpers', () => {
    const cells = readTable(p.sqlite, 'bi_bp_cell_band');
    const small = cells.filter((c) => (c.patients as number) < SMALL_CELL_MIN_PATIENTS && (c.readings as number) > 0);
    expect(small.length).toBeGreaterThan(0);
    const kpi = readTable(p.sqlite, 'kpi_bp_by_year_age_band');
    for (const c of small) {
      // the withheld year (patients aged 90+) is key 0 in the helpers and NULL in the published table
      const row = kpi.find((k) => (k.event_year ?? 0) === c.event_year && k.age_band === c.age_band && k.bp_category === ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'][(c.bp_rank as number) - 1]);
      expect(row).toMatchObject({ patients: null, readings: null });
    }
    for (const r of readTable(p.sqlite, 'kpi_vitals_by_year')) {
      if (r.patients === null) expect([r.n, r.mean, r.p10, r.median, r.p90]).toEqual([null, null, null, null, null]);
      else expect(r.patients as number).toBeGreaterThanOrEqual(SMALL_CELL_MIN_PATIENTS);
    }
  });

  it('helper tables hold integers, counts and years only, every column hidden from the model', () => {
    for (const t of BI_HELPER_TABLES) {
      expect(t.columns.every((c) => c.hidden), t.name).toBe(true);
      expect(t.columns.map((c) => c.name)).not.toContain('patient_key');
      expect(t.columns.some((c) => c.type === 'date' || c.type === 'timestamp'), t.name).toBe(false);
    }
    const db = new Database(p.sqlite, { readonly: true });
    const keys = new Set(db.prepare('SELECT patient_key FROM patients').pluck().all() as string[]);
    const leaked: string[] = [];
    for (const t of BI_TABLES) {
      for (const r of db.prepare(`SELECT * FROM ${t.name}`).all() as Row[]) for (const v of Object.values(r)) if (keys.has(v as string)) leaked.push(t.name);
    }
    db.close();
    expect(keys.size).toBeGreaterThan(1000);
    expect(leaked).toEqual([]);
  });

  it('dim_zip3 has every prefix seen, with its state; 000 has none', () => {
    const rows = readTable(p.sqlite, 'dim_zip3');
    const state = new Map(rows.map((r) => [r.zip3, r.state]));
    expect(state.get('000')).toBeNull();
    expect(state.get('021')).toBe('MA'); // Cambridge
    expect(state.get('100')).toBe('NY');
    for (const [z, st] of state) if (z !== '000') expect(st, String(z)).toBe(stateOfZip3(z as string));
    // prefixes allocated inside another state's block (the census allow-list publishes few of them as themselves)
    expect(stateOfZip3('733')).toBe('TX'); // Austin (an IRS prefix inside Oklahoma's block)
    expect(stateOfZip3('885')).toBe('TX'); // El Paso (inside New Mexico's block)
    expect(stateOfZip3('055')).toBe('MA'); // Andover (inside Vermont's block)
    expect(stateOfZip3('200')).toBe('DC');
    expect(stateOfZip3('995')).toBe('AK');
  });

  it('the SQLite ODBC driver reports every BI column with its declared type (integer, double, varchar, date)', () => {
    const probe = spawnSync('isql', ['--version'], { encoding: 'utf8' });
    if (probe.error) throw new Error('isql not found: apt-get install -y unixodbc libsqliteodbc (.ci/run does this)');
    const input = BI_PUBLISHED_TABLES.map((t) => `help ${t.name}\n`).join('');
    const r = spawnSync('isql', ['-b', '-k', '-x0x09', `Driver=SQLite3;Database=${p.sqlite}`], { input, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const got = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const f = line.split('\t');
      if (f.length > 5) got.set(`${f[2]}.${f[3]}`, `${f[4]} ${f[5]}`);
    }
    const odbc = (t: (typeof BI_TABLES)[number]['columns'][number]['type']) =>
      typeof t === 'object' ? `12 VARCHAR(${t.text})` : { int: '4 INTEGER', double: '8 DOUBLE', date: '9 DATE' }[t as 'int'];
    for (const t of BI_PUBLISHED_TABLES) for (const c of t.columns) expect(got.get(`${t.name}.${c.name}`), `${t.name}.${c.name}`).toBe(odbc(c.type));
  });
});

describe('ZIP3 states', () => {
  it('every ZIP3 of the Census 2020 ZCTAs has a state', () => {
    const dir = sharedPath('data/zip3-population');
    if (!dir) return;
    const prefixes = readFileSync(path.join(dir, 'zip3_population_2020.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect(prefixes.length).toBeGreaterThan(800);
    expect(prefixes.filter((z) => stateOfZip3(z) === null)).toEqual([]);
    expect(stateOfZip3('000')).toBeNull();
  });
});
