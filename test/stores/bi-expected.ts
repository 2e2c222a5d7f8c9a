// A second implementation of the BI model, for the tests: the KPI tables recomputed from the masked rows in DuckDB
// SQL (a different engine, written from the rules rather than from stores/bi/maintain.ts), with the same small-cell
// rule applied, and a cell-by-cell comparison.
import Database from 'better-sqlite3';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { expect } from 'vitest';
import type { BatchResult } from '../../src/runner.js';
import { globOf } from '../helpers/duck.js';

export type Row = Record<string, unknown>;

export class Duck {
  private constructor(private readonly con: DuckDBConnection) {}

  static async open(): Promise<Duck> {
    const db = await DuckDBInstance.create(':memory:');
    return new Duck(await db.connect());
  }

  async run(sql: string): Promise<void> {
    await this.con.run(sql);
  }

  async all(sql: string): Promise<Row[]> {
    return (await this.con.runAndReadAll(sql)).getRowObjectsJS() as Row[];
  }

  close(): void {
    this.con.closeSync();
  }
}

const MIN = 11;
const CATEGORIES = "['normal', 'elevated', 'stage_1', 'stage_2', 'crisis']";
const ok = (patients: string, expr: string) => `CASE WHEN coalesce(${patients}, 0) >= ${MIN} THEN ${expr} END`;

/** Load the masked rows (the Parquet parts) into table `ev`, and the classifying views over it. */
export async function loadRows(duck: Duck, partsGlob: string): Promise<void> {
  await duck.run(`CREATE OR REPLACE TABLE ev AS SELECT * FROM read_parquet('${partsGlob}')`);
  await duck.run(`CREATE OR REPLACE VIEW cls AS SELECT *,
      CASE WHEN age_years IS NULL THEN NULL WHEN age_years < 2 THEN '0-1' WHEN age_years < 13 THEN '2-12'
           WHEN age_years < 18 THEN '13-17' WHEN age_years < 40 THEN '18-39' WHEN age_years < 65 THEN '40-64'
           WHEN age_years < 90 THEN '65-89' ELSE '90+' END AS band,
      string_split(coalesce(outlier_flags, ''), ';') AS fl
    FROM ev`);
  // A value counts unless QC flagged, clipped or could not read it; BP values also not when a cross-field rule fired.
  await duck.run(`CREATE OR REPLACE VIEW vals AS SELECT patient_key, event_year, age_years, band, batch_id, fl,
      CASE WHEN NOT list_has_any(fl, ['flag_systolic_bp', 'clip_systolic_bp', 'invalid_systolic_bp', 'flag_bp_order', 'flag_pulse_pressure']) THEN systolic_bp END AS s,
      CASE WHEN NOT list_has_any(fl, ['flag_diastolic_bp', 'clip_diastolic_bp', 'invalid_diastolic_bp', 'flag_bp_order', 'flag_pulse_pressure']) THEN diastolic_bp END AS d,
      CASE WHEN NOT list_has_any(fl, ['flag_heart_rate', 'clip_heart_rate', 'invalid_heart_rate']) THEN heart_rate END AS h
    FROM cls`);
  // The category of a reading: the higher of the systolic and the diastolic category.
  await duck.run(`CREATE OR REPLACE VIEW bp AS SELECT patient_key, event_year, band,
      greatest(CASE WHEN s > 180 THEN 5 WHEN s >= 140 THEN 4 WHEN s >= 130 THEN 3 WHEN s >= 120 THEN 2 ELSE 1 END,
               CASE WHEN d > 120 THEN 5 WHEN d >= 90 THEN 4 WHEN d >= 80 THEN 3 ELSE 1 END) AS cat
    FROM vals WHERE age_years >= 18 AND s IS NOT NULL AND d IS NOT NULL`);
}

export interface QcBatch {
  /** Commit order (batches.seq). */
  seq: number;
  batchId: string;
  rowsIn: number;
  rejected: number;
  duplicates: number;
}

/** Every published BI table as the rules say it should be. */
export async function expectedTables(duck: Duck, batches: readonly QcBatch[]): Promise<Record<string, Row[]>> {
  const bp = (byBand: boolean) => {
    const by = byBand ? ['event_year', 'band'] : ['event_year'];
    const keys = by.join(', ');
    const join = by.map((k) => `r.${k} IS NOT DISTINCT FROM p.${k}`).join(' AND ');
    return `WITH r AS (SELECT ${keys}, cat, count(*)::INTEGER AS readings FROM bp GROUP BY ALL),
      pm AS (SELECT patient_key, ${keys}, max(cat) AS cat FROM bp GROUP BY ALL),
      p AS (SELECT ${keys}, cat, count(*)::INTEGER AS patients FROM pm GROUP BY ALL)
      SELECT r.event_year, ${byBand ? 'r.band AS age_band, ' : ''}${CATEGORIES}[r.cat] AS bp_category,
        ${ok('p.patients', 'p.patients')} AS patients, ${ok('p.patients', 'r.readings')} AS readings
      FROM r LEFT JOIN p ON ${join} AND r.cat = p.cat`;
  };
  const qcValues = batches.map((b) => `('${b.batchId}', ${b.seq}, ${b.rowsIn}, ${b.rejected}, ${b.duplicates})`).join(', ');
  return {
    kpi_bp_by_year: await duck.all(bp(false)),
    kpi_bp_by_year_age_band: await duck.all(bp(true)),
    kpi_heart_rate_by_age_band: await duck.all(`SELECT event_year, age_band, ${ok('pts', 'pts')} AS patients, ${ok('pts', 'readings')} AS readings,
        CASE WHEN age_band IS NOT NULL THEN ${ok('pts', 'tachy')} END AS tachycardia_readings, ${ok('pts', 'mean')} AS mean_heart_rate
      FROM (SELECT event_year, band AS age_band, count(DISTINCT patient_key)::INTEGER AS pts, count(*)::INTEGER AS readings,
              count_if(h > CASE WHEN age_years < 2 THEN 160 WHEN age_years <= 12 THEN 120 ELSE 100 END)::INTEGER AS tachy, avg(h) AS mean
            FROM vals WHERE h IS NOT NULL GROUP BY ALL)`),
    kpi_vitals_by_year: await duck.all(`WITH u AS (
        SELECT patient_key, event_year, 'systolic_bp' AS vital, s AS v FROM vals WHERE s IS NOT NULL
        UNION ALL SELECT patient_key, event_year, 'diastolic_bp', d FROM vals WHERE d IS NOT NULL
        UNION ALL SELECT patient_key, event_year, 'heart_rate', h FROM vals WHERE h IS NOT NULL)
      SELECT event_year, vital, ${ok('pts', 'pts')} AS patients, ${ok('pts', 'n')} AS n, ${ok('pts', 'mean')} AS mean,
        ${ok('pts', 'p10')} AS p10, ${ok('pts', 'median')} AS median, ${ok('pts', 'p90')} AS p90
      FROM (SELECT event_year, vital, count(DISTINCT patient_key)::INTEGER AS pts, count(*)::INTEGER AS n, avg(v) AS mean,
              quantile_cont(v, 0.1) AS p10, quantile_cont(v, 0.5) AS median, quantile_cont(v, 0.9) AS p90 FROM u GROUP BY ALL)`),
    kpi_qc_by_batch: batches.length
      ? await duck.all(`WITH b(batch_id, seq, rows_in, rejected, duplicates) AS (VALUES ${qcValues}),
          v(vital) AS (VALUES ('systolic_bp'), ('diastolic_bp'), ('heart_rate')),
          x AS (SELECT c.batch_id, v.vital, count(*)::INTEGER AS loaded,
                  count_if(list_contains(c.fl, 'flag_' || v.vital) OR list_contains(c.fl, 'flag_' || v.vital || '_history')) AS flagged, count_if(list_contains(c.fl, 'clip_' || v.vital)) AS clipped,
                  count_if(CASE v.vital WHEN 'systolic_bp' THEN c.systolic_bp WHEN 'diastolic_bp' THEN c.diastolic_bp ELSE c.heart_rate END IS NULL) AS nulls
                FROM cls c CROSS JOIN v GROUP BY ALL)
          SELECT b.seq, b.batch_id, x.vital, b.rows_in, x.loaded, b.rejected, b.duplicates,
            b.rejected / b.rows_in AS reject_rate, x.flagged / x.loaded AS flagged_share, x.clipped / x.loaded AS clipped_share,
            x.nulls / x.loaded AS null_share
          FROM b JOIN x ON x.batch_id = b.batch_id`)
      : [],
    dim_year: await duck.all('SELECT DISTINCT event_year FROM ev WHERE event_year IS NOT NULL'),
    dim_zip3: await duck.all("SELECT DISTINCT zip3 FROM ev WHERE zip3 IS NOT NULL UNION SELECT '000'"),
  };
}

/** Key columns of each table (its rows sort and match on them). */
export const KEYS: Record<string, string[]> = {
  kpi_bp_by_year: ['event_year', 'bp_category'],
  kpi_bp_by_year_age_band: ['event_year', 'age_band', 'bp_category'],
  kpi_heart_rate_by_age_band: ['event_year', 'age_band'],
  kpi_vitals_by_year: ['event_year', 'vital'],
  kpi_qc_by_batch: ['seq', 'vital'],
  dim_year: ['event_year'],
  dim_zip3: ['zip3'],
};

const keyOf = (r: Row, keys: string[]) => keys.map((k) => (r[k] === null || r[k] === undefined ? '<null>' : String(r[k]))).join('|');

function close(a: unknown, b: unknown): boolean {
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return a === b;
}

/**
 * Every row and every cell of `actual` equals `expected` (numbers to 1e-9, relative). Only the columns of
 * `expected` are compared (dimension tables may carry more).
 */
export function expectSameRows(table: string, actual: Row[], expected: Row[]): void {
  const keys = KEYS[table];
  const a = new Map(actual.map((r) => [keyOf(r, keys), r]));
  const e = new Map(expected.map((r) => [keyOf(r, keys), r]));
  expect([...a.keys()].sort(), `${table}: the same cells`).toEqual([...e.keys()].sort());
  const wrong: string[] = [];
  for (const [k, er] of e) {
    const ar = a.get(k)!;
    for (const col of Object.keys(er)) if (!close(ar[col], er[col])) wrong.push(`${table} [${k}] ${col}: got ${String(ar[col])}, expected ${String(er[col])}`);
  }
  expect(wrong.slice(0, 20), `${table}: ${wrong.length} cells differ`).toEqual([]);
  expect(actual.length, `${table}: no duplicate cells`).toBe(a.size);
}

export const COMPARED = ['kpi_bp_by_year', 'kpi_bp_by_year_age_band', 'kpi_heart_rate_by_age_band', 'kpi_vitals_by_year', 'kpi_qc_by_batch', 'dim_year', 'dim_zip3'];

export function readTable(file: string, table: string): Row[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM ${table}`).all() as Row[];
  } finally {
    db.close();
  }
}

/** The BI tables of the store equal the DuckDB recomputation over the parts, cell by cell. */
export async function expectModelMatches(sqliteFile: string, partsDir: string, batches: QcBatch[], change?: string): Promise<Record<string, Row[]>> {
  const duck = await Duck.open();
  try {
    await loadRows(duck, globOf(partsDir));
    if (change) await duck.run(change);
    const expected = await expectedTables(duck, batches);
    for (const table of COMPARED) expectSameRows(table, readTable(sqliteFile, table), expected[table]);
    return expected;
  } finally {
    duck.close();
  }
}

export const qcOf = (results: BatchResult[]): QcBatch[] =>
  results.filter((r) => r.status === 'loaded').map((r, i) => ({ seq: i + 1, batchId: r.batchId!, rowsIn: r.rowsIn, rejected: r.rejected, duplicates: r.duplicates }));

