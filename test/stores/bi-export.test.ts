// The Parquet side of the BI model: `medetl compact` writes masked_out/bi/<table>.parquet (read back by DuckDB with
// the SQLite tables' rows and types) next to cleaned.parquet, and a real `watch` keeps both current by itself after
// batches (the re-compactor), leaving no temporary file, and removing those a killed process left.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLedger } from '../../src/compose.js';
import { runFiles } from '../../src/run.js';
import { Compactor } from '../../src/sinks/parquet/compactor.js';
import { silentLogger } from '../../src/ops/log.js';
import { BI_PUBLISHED_TABLES } from '../../src/stores/bi/schema.js';
import { duckQuery } from '../helpers/duck.js';
import { makeProject, runCli, waitFor, type Project } from '../helpers/watch-project.js';
import { walk } from '../helpers/project.js';
import { eventsFor } from './bi-data.js';
import { readTable, type Row } from './bi-expected.js';

const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

const project = (extra: Record<string, unknown> = {}) => {
  const p = makeProject({ thresholds: { max_flagged_rate: 1, max_reject_rate: 1 }, ...extra });
  projects.push(p);
  return p;
};
const slash = (f: string) => f.replace(/\\/g, '/');
const biFile = (p: Project, t: string) => path.join(p.root, 'masked_out', 'bi', `${t}.parquet`);
const cleaned = (p: Project) => path.join(p.root, 'masked_out', 'cleaned.parquet');
const rowsIn = async (file: string) => Number((await duckQuery(`SELECT count(*)::INTEGER AS n FROM '${slash(file)}'`))[0].n);
const temps = (p: Project) => walk(path.join(p.root, 'masked_out')).filter((f) => f.endsWith('.tmp'));

/** Rows as sorted JSON with numbers to 12 digits and dates as YYYY-MM-DD (DuckDB gives Date objects). */
function canon(rows: Row[]): string[] {
  const v = (x: unknown) => (typeof x === 'number' ? Number(x.toPrecision(12)) : x instanceof Date ? x.toISOString().slice(0, 10) : x);
  return rows.map((r) => JSON.stringify(Object.fromEntries(Object.keys(r).sort().map((k) => [k, v(r[k])])))).sort();
}

describe('BI tables as Parquet', () => {
  it('medetl compact writes every published BI table that DuckDB reads with the rows and types of the SQLite tables', async () => {
    // The limited-data-set profile keeps event dates, so dim_date has rows too.
    const p = project({ deid: { profile: 'limited_data_set' } });
    for (const [i, plan] of [{ from: 0, to: 400, readings: 5, seed: 31 }, { from: 200, to: 600, readings: 4, seed: 32 }].entries()) {
      const f = path.join(p.root, `events_x${i}.csv`);
      writeFileSync(f, eventsFor(plan));
      await runFiles(p.config(), [f], { onSuccess: 'keep' });
    }
    const r = runCli(p, ['compact']);
    expect((await r.exit).code, r.stderr()).toBe(0);
    expect(r.stdout.join('\n')).toMatch(/wrote masked_out\/cleaned\.parquet: \d+ rows from 2 parts/);
    expect(await rowsIn(cleaned(p))).toBe(readTable(p.sqlite, 'events').length);
    const duckType = { int: 'INTEGER', double: 'DOUBLE', date: 'DATE' } as Record<string, string>;
    for (const t of BI_PUBLISHED_TABLES) {
      const file = biFile(p, t.name);
      const types = await duckQuery(`DESCRIBE SELECT * FROM '${slash(file)}'`);
      expect(types.map((c) => [c.column_name, c.column_type]), t.name).toEqual(
        t.columns.map((c) => [c.name, typeof c.type === 'object' ? 'VARCHAR' : duckType[c.type]]),
      );
      const fromSqlite = readTable(p.sqlite, t.name);
      expect(canon(await duckQuery(`SELECT * FROM '${slash(file)}'`)), t.name).toEqual(canon(fromSqlite));
    }
    expect(readTable(p.sqlite, 'kpi_vitals_by_year').length).toBeGreaterThan(10);
    // dim_date: every date of the rows, with its year and month.
    const dates = await duckQuery(`SELECT DISTINCT event_date::VARCHAR AS d, year(event_date)::INTEGER AS y, month(event_date)::INTEGER AS m FROM '${slash(cleaned(p))}'`);
    expect(dates.length).toBeGreaterThan(300);
    expect(canon(readTable(p.sqlite, 'dim_date'))).toEqual(canon(dates.map((r) => ({ event_date: r.d, event_year: r.y, month: r.m }))));
    expect(temps(p)).toEqual([]);
  });

  it('the compactor writes once per new batch, never twice for the same ledger, and one compaction at a time', async () => {
    const p = project();
    const f = path.join(p.root, 'events_c0.csv');
    writeFileSync(f, eventsFor({ from: 0, to: 150, readings: 4, seed: 41 }));
    await runFiles(p.config(), [f], { onSuccess: 'keep' });
    const config = p.config();
    const c = new Compactor({
      maskedOut: config.resolved.maskedOut, outFile: config.resolved.compactParquet, compression: 'snappy', intervalMs: 60_000,
      openReader: () => openLedger(config), log: silentLogger(),
    });
    const running = c.run();
    for (let i = 0; i < 5; i++) c.poke();
    await Promise.all([c.drain(), c.drain(), c.drain()]);
    expect(c.stats.compactions).toBe(1);
    c.poke();
    await c.drain(); // nothing committed since: nothing rewritten
    expect(c.stats).toMatchObject({ compactions: 1, failures: 0 });
    c.stop();
    await running;
    expect(await rowsIn(cleaned(p))).toBe(readTable(p.sqlite, 'events').length);
  });

  it('a running watch keeps cleaned.parquet and bi/*.parquet current after batches, and leaves no temporary file', async () => {
    const p = project({ watch: { stable_ms: 50, rescan_ms: 200 }, sinks: { parquet: { auto_compact_ms: 300 } } });
    // Left by a compaction that was killed (a pid that is not running): removed when the compactor starts.
    const stale = path.join(p.root, 'masked_out', 'bi', 'kpi_bp_by_year.parquet.999999.tmp');
    mkdirSync(path.dirname(stale), { recursive: true });
    writeFileSync(stale, 'partial');
    const w = runCli(p, ['watch']);
    try {
      await w.waitForLine(/watching/);
      p.drop('events_w1.csv', eventsFor({ from: 0, to: 300, readings: 4, seed: 51 }));
      const stored = () => (existsSync(p.sqlite) ? readTable(p.sqlite, 'events').length : -1);
      const qcRows = async () => (existsSync(biFile(p, 'kpi_qc_by_batch')) ? rowsIn(biFile(p, 'kpi_qc_by_batch')) : -1);
      await waitFor(async () => (await qcRows()) === 3 && (await rowsIn(cleaned(p))) === stored(), 30_000, 'batch 1 compacted');
      expect(existsSync(stale)).toBe(false);
      p.drop('events_w2.csv', eventsFor({ from: 300, to: 500, readings: 4, seed: 52 }));
      await waitFor(async () => (await qcRows()) === 6 && (await rowsIn(cleaned(p))) === stored(), 30_000, 'both batches compacted');
      const kpi = await duckQuery(`SELECT sum(readings)::INTEGER AS n FROM '${slash(biFile(p, 'kpi_bp_by_year'))}' WHERE readings IS NOT NULL`);
      expect(Number(kpi[0].n)).toBeGreaterThan(100);
    } finally {
      w.proc.kill('SIGTERM');
    }
    expect((await w.exit).code).toBe(0);
    expect(temps(p)).toEqual([]);
    expect(readdirSync(path.join(p.root, 'masked_out', 'bi')).sort()).toEqual(BI_PUBLISHED_TABLES.map((t) => `${t.name}.parquet`).sort());
  });
});
