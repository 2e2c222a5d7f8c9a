// The same `bi` step SQL on a real PostgreSQL server gives the same tables as on SQLite. Until the PostgreSQL store
// is on this branch, the test replays what real pipeline runs committed to SQLite (events, ledger row, QC metrics of
// each batch, in commit order) into a database of its own, and runs the step's DDL and SQL there through a minimal
// SqlTx over `pg`, one transaction per batch. Every published and helper table is then compared with SQLite's, and
// the published ones with the DuckDB recomputation; the re-mask hook is run on both and compared again.
// TODO(lead): once src/stores/postgres/ is merged, run this through PostgresStore + the runner instead of the replay.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFiles } from '../../src/run.js';
import type { BatchResult } from '../../src/runner.js';
import { biDdl, pgCreateTableSql } from '../../src/stores/bi/ddl.js';
import { BI_TABLES } from '../../src/stores/bi/schema.js';
import { applyBatch, revisePatients } from '../../src/stores/bi/step.js';
import { sqliteSqlTx } from '../../src/stores/sqlite/transaction.js';
import { BATCHES, EVENTS, QC_METRICS } from '../../src/stores/schema.js';
import type { SqlTx } from '../../src/stores/steps.js';
import { pgAvailable, pgDatabase } from '../helpers/services.js';
import { makeProject, type Project } from '../helpers/watch-project.js';
import { eventsFor } from './bi-data.js';
import { COMPARED, Duck, expectedTables, expectSameRows, loadRows, qcOf, type Row } from './bi-expected.js';

/** `?` -> `$n` (the step's SQL has no `?` inside quotes). */
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/** count() and sum() come back as bigint/numeric: numbers, as SQLite gives them; dates stay text. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    if (oid === 1082) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

function pgSqlTx(c: pg.Client): SqlTx {
  return {
    dialect: 'postgres',
    run: async (sql, params = []) => void (await c.query({ text: numbered(sql), values: [...params], types: TYPES })),
    all: async <T>(sql: string, params: readonly unknown[] = []) => (await c.query({ text: numbered(sql), values: [...params], types: TYPES })).rows as T[],
  };
}

/** Rows as sorted JSON, numbers to 12 significant digits (sums of doubles may round differently per engine). */
const sortRows = (rows: Row[]) =>
  rows
    .map((r) => JSON.stringify(Object.fromEntries(Object.keys(r).sort().map((k) => [k, typeof r[k] === 'number' ? Number((r[k] as number).toPrecision(12)) : r[k]]))))
    .sort();

describe('the bi step on a real PostgreSQL server', async () => {
  const available = await pgAvailable();
  let db: Awaited<ReturnType<typeof pgDatabase>>;
  let client: pg.Client;
  let tx: SqlTx;
  let p: Project;
  const results: BatchResult[] = [];

  beforeAll(async () => {
    if (!available) return;
    db = await pgDatabase('medetl_bi');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    tx = pgSqlTx(client);
    await client.query('CREATE SCHEMA medetl; SET search_path TO medetl');
    for (const t of [EVENTS, BATCHES, QC_METRICS]) for (const sql of pgCreateTableSql(t).split(';\n')) await client.query(sql);
    for (const sql of biDdl('postgres')) await client.query(sql);
    p = makeProject({ thresholds: { max_flagged_rate: 1, max_reject_rate: 1 } });
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
    p?.cleanup();
  });

  /** Load a file through the real pipeline into SQLite, then replay that batch into PostgreSQL and run the step. */
  async function loadBatch(name: string, content: string): Promise<void> {
    const file = path.join(p.root, name);
    writeFileSync(file, content);
    await runFiles(p.config(), [file], { onSuccess: 'keep', onBatch: (r) => results.push(r) });
    const ref = results.length;
    const lite = new Database(p.sqlite, { readonly: true });
    const events = lite.prepare('SELECT * FROM events WHERE batch_ref = ? ORDER BY rowid').all(ref) as Row[];
    const ledger = lite.prepare('SELECT * FROM batches WHERE batch_ref = ?').all(ref) as Row[];
    const metrics = lite.prepare('SELECT * FROM qc_metrics WHERE batch_id = ?').all(results.at(-1)!.batchId) as Row[];
    lite.close();
    await client.query('BEGIN');
    try {
      for (const [table, rows] of [['events', events], ['batches', ledger], ['qc_metrics', metrics]] as const) {
        const cols = Object.keys(rows[0]);
        for (let i = 0; i < rows.length; i += 1000) {
          const chunk = rows.slice(i, i + 1000);
          const values = chunk.map((_, r) => `(${cols.map((_, c) => `$${r * cols.length + c + 1}`).join(', ')})`).join(', ');
          await client.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${values}`, chunk.flatMap((r) => cols.map((c) => r[c])));
        }
      }
      await applyBatch(tx, { batchRef: ref, batchId: results.at(-1)!.batchId!, nowMs: Date.now() }, { pageRows: 1000 }); // several cursor pages
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  }

  async function expectPgMatchesDuck(change?: string): Promise<void> {
    const duck = await Duck.open();
    try {
      await loadRows(duck, `${p.parts.replace(/\\/g, '/')}/*.parquet`);
      if (change) await duck.run(change);
      const expected = await expectedTables(duck, qcOf(results));
      for (const table of COMPARED) expectSameRows(table, await tx.all(`SELECT * FROM ${table}`), expected[table]);
    } finally {
      duck.close();
    }
  }

  async function expectPgEqualsSqlite(): Promise<void> {
    const lite = new Database(p.sqlite, { readonly: true });
    try {
      for (const t of BI_TABLES) {
        const a = await tx.all(`SELECT * FROM ${t.name}`);
        const b = lite.prepare(`SELECT * FROM ${t.name}`).all() as Row[];
        expect(sortRows(a), t.name).toEqual(sortRows(b));
      }
    } finally {
      lite.close();
    }
  }

  it.skipIf(!available)('gives the DuckDB recomputation after each batch, and the same tables as SQLite, helpers included', async () => {
    await loadBatch('events_p1.csv', eventsFor({ from: 0, to: 500, readings: 6, seed: 21 }));
    await expectPgMatchesDuck();
    await loadBatch('events_p2.csv', eventsFor({ from: 250, to: 750, readings: 5, seed: 22, raise: { every: 3, by: 30 } }));
    await expectPgMatchesDuck();
    await expectPgEqualsSqlite();
    // A rules change on PostgreSQL: the next batch rebuilds every table from all rows (through the cursor, in pages),
    // and the result equals SQLite's incremental tables, helpers included.
    await client.query("UPDATE bi_state SET value = 'old' WHERE name = 'rules_version'");
    await loadBatch('events_p3.csv', eventsFor({ from: 700, to: 800, readings: 3, seed: 23 }));
    await expectPgMatchesDuck();
    await expectPgEqualsSqlite();
    // The step found the batch's rows through the index it created.
    const plan = await client.query("EXPLAIN SELECT * FROM events e WHERE e.batch_ref = 3");
    expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/bi_events_batch_ref_idx/);
  });

  it.skipIf(!available)('re-masks the same way: revisePatients on both stores gives the same tables, NULL-year cells included', async () => {
    const lite = new Database(p.sqlite);
    const refs = lite.prepare('SELECT DISTINCT patient_ref FROM events WHERE age_years >= 80 ORDER BY patient_ref').pluck().all() as number[];
    expect(refs.length).toBeGreaterThan(20);
    const keys = lite.prepare(`SELECT patient_key FROM patients WHERE patient_ref IN (${refs.join(', ')})`).pluck().all() as string[];
    const ctx = { batchRef: results.length, batchId: results.at(-1)!.batchId!, nowMs: Date.now() };
    const change = `UPDATE events SET event_year = NULL, dob_year = NULL WHERE patient_ref IN (${refs.join(', ')})`;
    const liteTx = sqliteSqlTx(lite);
    lite.exec('BEGIN IMMEDIATE');
    await revisePatients(liteTx, ctx, refs, () => liteTx.run(change));
    lite.exec('COMMIT');
    lite.close();
    await client.query('BEGIN');
    await revisePatients(tx, ctx, refs, () => tx.run(change), { pageRows: 1000 });
    await client.query('COMMIT');
    await expectPgEqualsSqlite();
    await expectPgMatchesDuck(`UPDATE ev SET event_year = NULL, dob_year = NULL WHERE patient_key IN (${keys.map((k) => `'${k}'`).join(', ')})`);
    expect((await tx.all('SELECT * FROM kpi_bp_by_year WHERE event_year IS NULL')).length).toBeGreaterThan(0);
  });
});
