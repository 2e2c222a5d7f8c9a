// Incremental maintenance of the BI tables, in SQL both stores share (multi-row INSERT ... ON CONFLICT upserts,
// window functions, CTEs); where the dialects differ (finding and paging a batch's rows) `tx.dialect` picks. Every
// statement touches only the rows being applied (a batch, or the rows of a few patients), the helper rows of their
// patients, and the cells of the years they fall in; never all events: batch 50 costs what batch 1 costs.
//
// One application:
//   1. read: the rows, once, page by page (SQLite: rowid windows; PostgreSQL: a cursor), tallied in memory
//      (rules.ts: a pure function of the rows). Reading the rows once and tallying them measured ~2x cheaper than
//      grouping them in SQL (several passes and sorts) on SQLite.
//   2. write: readings, sums and value counts change by +/- the tally. Patient-level counts change only where a
//      patient enters a cell, or (BP) moves to a higher category: -1 in the old rank, +1 in the new one. For that the
//      helper rows of the tally's patients are read first (by patient_ref, the leading key column).
//   3. republish: the KPI rows of every touched year are deleted and rewritten from the helper tables, with the
//      small-cell rule applied; the quantiles come from the value counts.
import type { SqlTx } from '../steps.js';
import { BAND_NAMES, bandIndex, counts, emptyTally, key, packedRowSql, tallyRows, unkey, type BiRow, type Tally } from './rules.js';
import { BI_VITALS, BP_CATEGORIES, UNKNOWN_BAND, WITHHELD_YEAR } from './schema.js';
import { published } from './small-cells.js';
import { stateOfZip3 } from './zip3-states.js';

/** Which rows to apply: a condition over `events e`. Integers only, written into the text (a PostgreSQL cursor takes no parameters). */
export interface RowFilter {
  where: string;
  /** SQLite: every row has a larger rowid (the batch's rows start after it). */
  afterRowid?: number;
}

const int = (n: number): string => {
  if (!Number.isSafeInteger(n)) throw new Error(`bi: not an integer: ${n}`);
  return String(n);
};
const intList = (ns: Iterable<number>): string => [...ns].map(int).join(', ');

/**
 * The rows of the batch being committed. SQLite: they are the newest rowids (one writer appends them in this
 * transaction), so a reverse rowid scan finds where they start without reading older rows. PostgreSQL: the index the
 * step creates on events(batch_ref).
 */
export async function batchRows(tx: SqlTx, batchRef: number): Promise<RowFilter> {
  if (tx.dialect === 'sqlite') {
    const [{ start }] = await tx.all<{ start: number }>(
      `SELECT COALESCE((SELECT x.rowid FROM events x WHERE x.batch_ref <> ${int(batchRef)} ORDER BY x.rowid DESC LIMIT 1), 0) AS start`,
    );
    return { where: `e.batch_ref = ${int(batchRef)}`, afterRowid: start };
  }
  return { where: `e.batch_ref = ${int(batchRef)}` };
}

/** The filter as one condition (SQLite: with its rowid bound, so the scan starts at the batch's rows). */
const cond = (f: RowFilter) => (f.afterRowid === undefined ? f.where : `e.rowid > ${int(f.afterRowid)} AND ${f.where}`);

export const ALL_ROWS: RowFilter = { where: '1 = 1' };

export function patientRows(refs: readonly number[], exceptBatchRef: number | null): RowFilter {
  return { where: `e.patient_ref IN (${intList(refs)})${exceptBatchRef === null ? '' : ` AND e.batch_ref <> ${int(exceptBatchRef)}`}` };
}

/** An SQL text literal for an outlier_flags text (flag names are lower-case words and `;`; anything else is refused). */
function flagsLiteral(flags: string): string {
  if (!/^[a-z0-9_;]*$/.test(flags)) throw new Error('bi: unexpected characters in outlier_flags');
  return `'${flags}'`;
}

/** What one pass over the rows finds: their flag combinations, ZIP3 prefixes, and whether any is dated. */
interface Survey {
  combos: string[];
  zip3s: string[];
  dated: boolean;
}

async function survey(tx: SqlTx, filter: RowFilter): Promise<Survey> {
  const rows = await tx.all<{ f: string; z: string | null; dated: number }>(
    `SELECT DISTINCT e.outlier_flags AS f, e.zip3 AS z, CASE WHEN e.event_date IS NULL THEN 0 ELSE 1 END AS dated FROM events e WHERE ${cond(filter)}`,
  );
  return {
    combos: [...new Set(rows.map((r) => r.f))],
    zip3s: [...new Set(rows.map((r) => r.z).filter((z): z is string => z !== null))],
    dated: rows.some((r) => Number(r.dated) === 1),
  };
}

/**
 * The columns the step reads: patient, year and age packed, and each vital's value only where it counts. The flag
 * combinations of the rows are few (outlier_flags is a dictionary), so each is judged once here (rules.ts: counts)
 * and the SQL keeps or drops values by combination.
 */
function columnsFor(combos: readonly string[]): string {
  const values = BI_VITALS.map((v, i) => {
    const bad = combos.filter((f) => !counts(v, f));
    return `${bad.length ? `CASE WHEN e.outlier_flags NOT IN (${bad.map(flagsLiteral).join(', ')}) THEN e.${v} END` : `e.${v}`} AS ${'sdh'[i]}`;
  });
  return `${packedRowSql('e.patient_ref', 'e.event_year', 'e.age_years')} AS p, ${values.join(', ')}`;
}
const PAGE_ROWS = 65_536;

/** The rows matching `filter`, page by page, so a million-row batch never sits in memory as objects at once. */
export async function* rowPages(tx: SqlTx, filter: RowFilter, combos: readonly string[], pageRows = PAGE_ROWS): AsyncGenerator<BiRow[]> {
  const columns = columnsFor(combos);
  if (tx.dialect === 'sqlite') {
    // Pages are rowid windows: no sort, and no rowid column to read back.
    const [{ hi }] = await tx.all<{ hi: number }>('SELECT COALESCE(MAX(rowid), 0) AS hi FROM events');
    for (let lo = filter.afterRowid ?? 0; lo < hi; lo += pageRows) {
      const rows = await tx.all<BiRow>(`SELECT ${columns} FROM events e WHERE ${filter.where} AND e.rowid > ${int(lo)} AND e.rowid <= ${int(lo + pageRows)}`);
      if (rows.length) yield rows;
    }
    return;
  }
  // PostgreSQL: a cursor in the batch transaction.
  await tx.run(`DECLARE medetl_bi_rows NO SCROLL CURSOR FOR SELECT ${columns} FROM events e WHERE ${filter.where}`);
  try {
    for (;;) {
      const rows = await tx.all<BiRow>(`FETCH FORWARD ${int(pageRows)} FROM medetl_bi_rows`);
      if (rows.length) yield rows;
      if (rows.length < pageRows) return;
    }
  } finally {
    await tx.run('CLOSE medetl_bi_rows').catch(() => undefined); // a failed transaction has closed it already
  }
}

/** Multi-row INSERTs of at most ~2,000 parameters each. */
async function insertRows(tx: SqlTx, head: string, rows: readonly unknown[][], tail: string): Promise<void> {
  if (!rows.length) return;
  const width = rows[0].length;
  const per = Math.max(1, Math.floor(2000 / width));
  const one = `(${Array(width).fill('?').join(', ')})`;
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    await tx.run(`${head} VALUES ${chunk.map(() => one).join(', ')} ${tail}`, chunk.flat());
  }
}

const addOnConflict = (table: string, key: string, cols: readonly string[]) =>
  `ON CONFLICT (${key}) DO UPDATE SET ${cols.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(', ')}`;

const vitalName = (i: number) => BI_VITALS[i];

/** Readings, sums and value counts of the tally, times `sign` (+1 add, -1 subtract). */
async function writeRowCounts(tx: SqlTx, t: Tally, sign: 1 | -1): Promise<void> {
  await insertRows(
    tx, 'INSERT INTO bi_bp_cell_band (event_year, age_band, bp_rank, patients, readings)',
    [...t.bpBand].map(([k, n]) => {
      const c = unkey.cellBand(k);
      return [c.y, BAND_NAMES[c.band], c.rank, 0, sign * n];
    }),
    addOnConflict('bi_bp_cell_band', 'event_year, age_band, bp_rank', ['readings']),
  );
  await insertRows(
    tx, 'INSERT INTO bi_bp_cell_year (event_year, bp_rank, patients, readings)',
    [...t.bpYear].map(([k, n]) => {
      const c = unkey.cellYear(k);
      return [c.y, c.rank, 0, sign * n];
    }),
    addOnConflict('bi_bp_cell_year', 'event_year, bp_rank', ['readings']),
  );
  await insertRows(
    tx, 'INSERT INTO bi_hr_cell (event_year, age_band, patients, readings, tachycardia_readings, sum_heart_rate)',
    [...t.hr].map(([k, h]) => {
      const c = unkey.hrCell(k);
      return [c.y, BAND_NAMES[c.band], 0, sign * h.readings, sign * h.tachy, sign * h.sum];
    }),
    addOnConflict('bi_hr_cell', 'event_year, age_band', ['readings', 'tachycardia_readings', 'sum_heart_rate']),
  );
  const values: unknown[][] = [];
  for (const [k, m] of t.values) {
    const c = unkey.vitalCell(k);
    for (const [v, n] of m) values.push([c.y, vitalName(c.vital), v, sign * n]);
  }
  await insertRows(tx, 'INSERT INTO bi_value_counts (event_year, vital, value, n)', values, addOnConflict('bi_value_counts', 'event_year, vital, value', ['n']));
}

/** The helper rows of some patients (keys as in rules.ts): BP ranks per band and year, heart-rate and vital cells. */
interface PatientHelpers {
  band: Map<number, number>;
  year: Map<number, number>;
  hr: Set<number>;
  vital: Set<number>;
}

const VITAL_INDEX = new Map<string, number>(BI_VITALS.map((v, i) => [v, i]));

async function readHelpers(tx: SqlTx, refs: readonly number[], years: Set<number> | null): Promise<PatientHelpers> {
  const h: PatientHelpers = { band: new Map(), year: new Map(), hr: new Set(), vital: new Set() };
  for (let i = 0; i < refs.length; i += 500) {
    const where = `patient_ref IN (${intList(refs.slice(i, i + 500))})${years ? ` AND event_year IN (${intList(years)})` : ''}`;
    for (const r of await tx.all<{ p: number; y: number; b: string; k: number }>(
      `SELECT patient_ref AS p, event_year AS y, age_band AS b, bp_rank AS k FROM bi_bp_patient_band WHERE ${where}`,
    ))
      h.band.set(key.patientBand(r.p, r.y, bandIndex(r.b)), r.k);
    for (const r of await tx.all<{ p: number; y: number; k: number }>(`SELECT patient_ref AS p, event_year AS y, bp_rank AS k FROM bi_bp_patient_year WHERE ${where}`))
      h.year.set(key.patientYear(r.p, r.y), r.k);
    for (const r of await tx.all<{ p: number; y: number; b: string }>(`SELECT patient_ref AS p, event_year AS y, age_band AS b FROM bi_hr_patient WHERE ${where}`))
      h.hr.add(key.patientBand(r.p, r.y, bandIndex(r.b)));
    for (const r of await tx.all<{ p: number; y: number; v: string }>(`SELECT patient_ref AS p, event_year AS y, vital AS v FROM bi_vital_patient WHERE ${where}`))
      h.vital.add(key.patientVital(r.p, r.y, VITAL_INDEX.get(r.v)!));
  }
  return h;
}

interface PatientDeltas {
  /** cellBand -> change in patients. */
  band: Map<number, number>;
  /** cellYear -> change. */
  year: Map<number, number>;
  /** hrCell -> change. */
  hr: Map<number, number>;
  /** vitalCell -> change. */
  vital: Map<number, number>;
}

const noDeltas = (): PatientDeltas => ({ band: new Map(), year: new Map(), hr: new Map(), vital: new Map() });
const bump = (m: Map<number, number>, k: number, by: number) => m.set(k, (m.get(k) ?? 0) + by);

/** Patient-count changes per cell, written as upserts. */
async function writePatientDeltas(tx: SqlTx, d: PatientDeltas): Promise<void> {
  const nonZero = (m: Map<number, number>) => [...m].filter(([, n]) => n !== 0);
  await insertRows(
    tx, 'INSERT INTO bi_bp_cell_band (event_year, age_band, bp_rank, patients, readings)',
    nonZero(d.band).map(([k, n]) => {
      const c = unkey.cellBand(k);
      return [c.y, BAND_NAMES[c.band], c.rank, n, 0];
    }),
    addOnConflict('bi_bp_cell_band', 'event_year, age_band, bp_rank', ['patients']),
  );
  await insertRows(
    tx, 'INSERT INTO bi_bp_cell_year (event_year, bp_rank, patients, readings)',
    nonZero(d.year).map(([k, n]) => {
      const c = unkey.cellYear(k);
      return [c.y, c.rank, n, 0];
    }),
    addOnConflict('bi_bp_cell_year', 'event_year, bp_rank', ['patients']),
  );
  await insertRows(
    tx, 'INSERT INTO bi_hr_cell (event_year, age_band, patients, readings, tachycardia_readings, sum_heart_rate)',
    nonZero(d.hr).map(([k, n]) => {
      const c = unkey.hrCell(k);
      return [c.y, BAND_NAMES[c.band], n, 0, 0, 0];
    }),
    addOnConflict('bi_hr_cell', 'event_year, age_band', ['patients']),
  );
  await insertRows(
    tx, 'INSERT INTO bi_vital_cell (event_year, vital, patients)',
    nonZero(d.vital).map(([k, n]) => {
      const c = unkey.vitalCell(k);
      return [c.y, vitalName(c.vital), n];
    }),
    addOnConflict('bi_vital_cell', 'event_year, vital', ['patients']),
  );
}

/** Add a tally: counts, then patients entering cells (or moving up a BP category). */
async function addTally(tx: SqlTx, t: Tally): Promise<void> {
  await writeRowCounts(tx, t, 1);
  const old = await readHelpers(tx, [...t.patients], t.years);
  const delta = noDeltas();
  const bandRows: unknown[][] = [];
  for (const [k, rank] of t.patientBand) {
    const was = old.band.get(k);
    if (was !== undefined && was >= rank) continue;
    const p = unkey.patientBand(k);
    if (was !== undefined) bump(delta.band, key.cellBand(p.y, p.band, was), -1);
    bump(delta.band, key.cellBand(p.y, p.band, rank), 1);
    bandRows.push([p.ref, p.y, BAND_NAMES[p.band], rank]);
  }
  const yearRows: unknown[][] = [];
  for (const [k, rank] of t.patientYear) {
    const was = old.year.get(k);
    if (was !== undefined && was >= rank) continue;
    const p = unkey.patientYear(k);
    if (was !== undefined) bump(delta.year, key.cellYear(p.y, was), -1);
    bump(delta.year, key.cellYear(p.y, rank), 1);
    yearRows.push([p.ref, p.y, rank]);
  }
  const hrRows: unknown[][] = [];
  for (const k of t.hrPatients) {
    if (old.hr.has(k)) continue;
    const p = unkey.patientBand(k);
    bump(delta.hr, key.hrCell(p.y, p.band), 1);
    hrRows.push([p.ref, p.y, BAND_NAMES[p.band]]);
  }
  const vitalRows: unknown[][] = [];
  for (const k of t.vitalPatients) {
    if (old.vital.has(k)) continue;
    const p = unkey.patientVital(k);
    bump(delta.vital, key.vitalCell(p.y, p.vital), 1);
    vitalRows.push([p.ref, p.y, vitalName(p.vital)]);
  }
  await writePatientDeltas(tx, delta);
  await insertRows(tx, 'INSERT INTO bi_bp_patient_band (patient_ref, event_year, age_band, bp_rank)', bandRows,
    'ON CONFLICT (patient_ref, event_year, age_band) DO UPDATE SET bp_rank = excluded.bp_rank');
  await insertRows(tx, 'INSERT INTO bi_bp_patient_year (patient_ref, event_year, bp_rank)', yearRows,
    'ON CONFLICT (patient_ref, event_year) DO UPDATE SET bp_rank = excluded.bp_rank');
  await insertRows(tx, 'INSERT INTO bi_hr_patient (patient_ref, event_year, age_band)', hrRows, 'ON CONFLICT DO NOTHING');
  await insertRows(tx, 'INSERT INTO bi_vital_patient (patient_ref, event_year, vital)', vitalRows, 'ON CONFLICT DO NOTHING');
}

/** Years, dates (limited data set only: Safe Harbor rows carry no date) and ZIP3 prefixes of the rows. */
async function addDimensions(tx: SqlTx, filter: RowFilter, years: Set<number>, seen: Survey): Promise<void> {
  await insertRows(tx, 'INSERT INTO dim_year (event_year)', [...years].filter((y) => y !== WITHHELD_YEAR).map((y) => [y]), 'ON CONFLICT DO NOTHING');
  await insertRows(tx, 'INSERT INTO dim_zip3 (zip3, state)', seen.zip3s.map((z) => [z, stateOfZip3(z)]), 'ON CONFLICT DO NOTHING');
  if (!seen.dated) return;
  const dates = await tx.all<{ d: string }>(`SELECT DISTINCT e.event_date AS d FROM events e WHERE ${cond(filter)} AND e.event_date IS NOT NULL`);
  await insertRows(tx, 'INSERT INTO dim_date (event_date, event_year, month)', dates.map(({ d }) => [d, Number(d.slice(0, 4)), Number(d.slice(5, 7))]), 'ON CONFLICT DO NOTHING');
}

/** Apply the rows matching `filter` (add). Returns the years touched (WITHHELD_YEAR for rows without one). */
export async function addRows(tx: SqlTx, filter: RowFilter, pageRows?: number): Promise<Set<number>> {
  const seen = await survey(tx, filter);
  const years = new Set<number>();
  for await (const page of rowPages(tx, filter, seen.combos, pageRows)) {
    const t = tallyRows(emptyTally(), page);
    await addTally(tx, t);
    for (const y of t.years) years.add(y);
  }
  await addDimensions(tx, filter, years, seen);
  return years;
}

/**
 * Subtract every contribution of some patients: their counted rows (`filter`) from the readings, sums and value
 * counts, and every patient count their helper rows hold, which are then deleted. Returns the years touched.
 */
export async function subtractPatients(tx: SqlTx, refs: readonly number[], filter: RowFilter, pageRows?: number): Promise<Set<number>> {
  const years = new Set<number>();
  for await (const page of rowPages(tx, filter, (await survey(tx, filter)).combos, pageRows)) {
    const t = tallyRows(emptyTally(), page);
    await writeRowCounts(tx, t, -1);
    for (const y of t.years) years.add(y);
  }
  for (let i = 0; i < refs.length; i += 500) {
    const chunk = refs.slice(i, i + 500);
    const h = await readHelpers(tx, chunk, null);
    const delta = noDeltas();
    for (const [k, rank] of h.band) {
      const p = unkey.patientBand(k);
      bump(delta.band, key.cellBand(p.y, p.band, rank), -1);
      years.add(p.y);
    }
    for (const [k, rank] of h.year) {
      const p = unkey.patientYear(k);
      bump(delta.year, key.cellYear(p.y, rank), -1);
      years.add(p.y);
    }
    for (const k of h.hr) {
      const p = unkey.patientBand(k);
      bump(delta.hr, key.hrCell(p.y, p.band), -1);
      years.add(p.y);
    }
    for (const k of h.vital) {
      const p = unkey.patientVital(k);
      bump(delta.vital, key.vitalCell(p.y, p.vital), -1);
      years.add(p.y);
    }
    await writePatientDeltas(tx, delta);
    for (const table of ['bi_bp_patient_band', 'bi_bp_patient_year', 'bi_hr_patient', 'bi_vital_patient']) {
      await tx.run(`DELETE FROM ${table} WHERE patient_ref IN (${intList(chunk)})`);
    }
  }
  return years;
}

const CATEGORY_OF_RANK = `CASE c.bp_rank ${BP_CATEGORIES.map((c, i) => `WHEN ${i + 1} THEN '${c}'`).join(' ')} END`;

/** Rewrite the KPI rows of the given years (WITHHELD_YEAR: the withheld-year cells) from the helper tables. */
export async function republish(tx: SqlTx, years: Set<number>): Promise<void> {
  if (years.size === 0) return;
  const touched = `IN (${intList(years)})`;
  // Cells a subtraction emptied.
  await tx.run(`DELETE FROM bi_bp_cell_band WHERE event_year ${touched} AND patients = 0 AND readings = 0`);
  await tx.run(`DELETE FROM bi_bp_cell_year WHERE event_year ${touched} AND patients = 0 AND readings = 0`);
  await tx.run(`DELETE FROM bi_hr_cell WHERE event_year ${touched} AND patients = 0 AND readings = 0`);
  await tx.run(`DELETE FROM bi_vital_cell WHERE event_year ${touched} AND patients = 0`);
  await tx.run(`DELETE FROM bi_value_counts WHERE event_year ${touched} AND n = 0`);

  const year = `NULLIF(c.event_year, ${WITHHELD_YEAR})`;
  const kpiYears = `COALESCE(event_year, ${WITHHELD_YEAR}) ${touched}`;
  await tx.run(`DELETE FROM kpi_bp_by_year WHERE ${kpiYears}`);
  await tx.run(
    `INSERT INTO kpi_bp_by_year (event_year, bp_category, patients, readings)
     SELECT ${year}, ${CATEGORY_OF_RANK}, ${published('c.patients', 'c.patients')}, ${published('c.readings', 'c.patients')}
     FROM bi_bp_cell_year c WHERE c.event_year ${touched}`,
  );
  await tx.run(`DELETE FROM kpi_bp_by_year_age_band WHERE ${kpiYears}`);
  await tx.run(
    `INSERT INTO kpi_bp_by_year_age_band (event_year, age_band, bp_category, patients, readings)
     SELECT ${year}, c.age_band, ${CATEGORY_OF_RANK}, ${published('c.patients', 'c.patients')}, ${published('c.readings', 'c.patients')}
     FROM bi_bp_cell_band c WHERE c.event_year ${touched}`,
  );
  await tx.run(`DELETE FROM kpi_heart_rate_by_age_band WHERE ${kpiYears}`);
  await tx.run(
    `INSERT INTO kpi_heart_rate_by_age_band (event_year, age_band, patients, readings, tachycardia_readings, mean_heart_rate)
     SELECT ${year}, NULLIF(c.age_band, '${UNKNOWN_BAND}'), ${published('c.patients', 'c.patients')}, ${published('c.readings', 'c.patients')},
            CASE WHEN c.age_band <> '${UNKNOWN_BAND}' THEN ${published('c.tachycardia_readings', 'c.patients')} END,
            ${published('c.sum_heart_rate / c.readings', 'c.patients')}
     FROM bi_hr_cell c WHERE c.event_year ${touched} AND c.readings > 0`,
  );
  // Exact quantiles from the value counts (R-7, as quantile() in pipeline/qc.ts): h = (n - 1) p in integer
  // arithmetic (p = k / 10), interpolated between the values at ranks floor(h) and ceil(h) of the sorted values.
  await tx.run(`DELETE FROM kpi_vitals_by_year WHERE ${kpiYears}`);
  await tx.run(
    `INSERT INTO kpi_vitals_by_year (event_year, vital, patients, n, mean, p10, median, p90)
     WITH cum AS (
       SELECT v.event_year, v.vital, v.value, v.n,
              SUM(v.n) OVER (PARTITION BY v.event_year, v.vital ORDER BY v.value ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
       FROM bi_value_counts v WHERE v.event_year ${touched} AND v.n > 0
     ), t AS (
       SELECT event_year, vital, SUM(n) AS total, SUM(value * n) AS total_sum FROM cum GROUP BY event_year, vital
     ), q AS (
       SELECT t.event_year, t.vital, k.p, (t.total - 1) * k.p / 10 AS lo, ((t.total - 1) * k.p) % 10 AS rem
       FROM t CROSS JOIN (SELECT 1 AS p UNION ALL SELECT 5 UNION ALL SELECT 9) k
     ), qv AS (
       SELECT q.event_year, q.vital, q.p, a.value + (b.value - a.value) * q.rem / 10.0 AS qval
       FROM q
       JOIN cum a ON a.event_year = q.event_year AND a.vital = q.vital AND a.cum - a.n <= q.lo AND q.lo < a.cum
       JOIN cum b ON b.event_year = q.event_year AND b.vital = q.vital
                AND b.cum - b.n <= q.lo + CASE WHEN q.rem > 0 THEN 1 ELSE 0 END AND q.lo + CASE WHEN q.rem > 0 THEN 1 ELSE 0 END < b.cum
     ), s AS (
       SELECT event_year, vital, MAX(CASE WHEN p = 1 THEN qval END) AS p10, MAX(CASE WHEN p = 5 THEN qval END) AS median,
              MAX(CASE WHEN p = 9 THEN qval END) AS p90
       FROM qv GROUP BY event_year, vital
     )
     SELECT NULLIF(t.event_year, ${WITHHELD_YEAR}), t.vital, ${published('c.patients', 'c.patients')}, ${published('t.total', 'c.patients')},
            ${published('t.total_sum / t.total', 'c.patients')}, ${published('s.p10', 'c.patients')}, ${published('s.median', 'c.patients')},
            ${published('s.p90', 'c.patients')}
     FROM t JOIN s ON s.event_year = t.event_year AND s.vital = t.vital
     JOIN bi_vital_cell c ON c.event_year = t.event_year AND c.vital = t.vital`,
  );
}

/** One row per vital for the batch (or every batch), from its ledger row and QC metrics: shares of the rows loaded. */
export async function addQcRows(tx: SqlTx, batch: { batchRef: number } | 'all'): Promise<void> {
  const share = (col: string) => `CASE WHEN b.loaded > 0 THEN CAST(${col} AS DOUBLE PRECISION) / b.loaded END`;
  await tx.run(
    `INSERT INTO kpi_qc_by_batch (seq, batch_id, vital, rows_in, loaded, rejected, duplicates, reject_rate, flagged_share, clipped_share, null_share)
     SELECT b.seq, b.batch_id, m.column_name, b.rows_in, b.loaded, b.rejected, b.duplicates,
            CASE WHEN b.rows_in > 0 THEN CAST(b.rejected AS DOUBLE PRECISION) / b.rows_in END,
            ${share('m.flagged')}, ${share('m.clipped')}, ${share('m.nulls')}
     FROM batches b JOIN qc_metrics m ON m.batch_id = b.batch_id
     WHERE ${batch === 'all' ? '1 = 1' : `b.batch_ref = ${int(batch.batchRef)}`}
     ON CONFLICT (seq, vital) DO NOTHING`,
  );
}

/** Empty tables (a rules change rebuilds them from all rows). */
export async function clearAll(tx: SqlTx, tables: readonly string[]): Promise<void> {
  for (const t of tables) await tx.run(`DELETE FROM ${t}`);
}
