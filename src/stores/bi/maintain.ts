// Incremental maintenance of the BI tables, in the SQL both stores share (CTEs, window functions, ON CONFLICT
// upserts, CREATE TEMP TABLE ... AS; no dialect functions except where `tx.dialect` picks one). Every statement
// touches the rows being applied (a batch, or the rows of a few patients) and the cells of the years they fall in,
// never a scan of all events: batch 50 costs what batch 1 costs.
//
// The shape of one application:
//   1. loadRows: the rows to apply, classified once into a temporary table (tmp_bi_rows): year (0 = withheld), age
//      band ('' = unknown), each vital's value when it counts (else NULL), the BP category rank, tachycardia.
//   2. add / subtract: readings, sums and value counts change by +/- the rows; patient-level counts change only
//      where a patient enters a cell (or, for BP, moves to a higher category: -1 in the old rank, +1 in the new).
//   3. republish: the KPI rows of every touched year are deleted and rewritten from the helper tables, with the
//      small-cell rule applied.
import type { SqlTx } from '../steps.js';
import { AGE_BANDS, BP_CATEGORIES, UNKNOWN_BAND, WITHHELD_YEAR, type BiVital } from './schema.js';
import { published } from './small-cells.js';
import { stateOfZip3 } from './zip3-states.js';

/** Temporary tables of one application (dropped at the end; a rollback drops them too). */
const TEMPS = ['tmp_bi_rows', 'tmp_bi_pb', 'tmp_bi_py', 'tmp_bi_ph', 'tmp_bi_vals', 'tmp_bi_pv', 'tmp_bi_touched', 'tmp_bi_patients'] as const;

/** Which rows to apply: a WHERE condition over `events e`, with its `?` parameters. */
export interface RowFilter {
  where: string;
  params: unknown[];
}

/**
 * The rows of the batch being committed. SQLite: the batch's rows are the newest rowids (one writer appends them in
 * this transaction), so a reverse rowid scan finds where they start without reading older rows. PostgreSQL: the
 * index the step creates on events(batch_ref).
 */
export function batchRows(tx: SqlTx, batchRef: number): RowFilter {
  if (tx.dialect === 'sqlite') {
    return {
      where: 'e.rowid > COALESCE((SELECT x.rowid FROM events x WHERE x.batch_ref <> ? ORDER BY x.rowid DESC LIMIT 1), 0) AND e.batch_ref = ?',
      params: [batchRef, batchRef],
    };
  }
  return { where: 'e.batch_ref = ?', params: [batchRef] };
}

export const ALL_ROWS: RowFilter = { where: '1 = 1', params: [] };

/**
 * The flags that make a value not count: QC named it an outlier (flag_), clip moved it to the range bound (clip_),
 * it was unreadable (invalid_) or implausible (implausible_); for the two BP values also the cross-field rules
 * (flag_bp_order: diastolic >= systolic, flag_pulse_pressure). A unit conversion (unit_*) keeps the value: the
 * converted value is a real reading.
 */
export function excludingFlags(v: BiVital): string[] {
  const own = ['flag', 'clip', 'invalid', 'implausible'].map((p) => `${p}_${v}`);
  return v === 'heart_rate' ? own : [...own, 'flag_bp_order', 'flag_pulse_pressure'];
}

/** Whether the `;`-separated flags column names any of `names` (LIKE with `_` escaped: the same in both dialects). */
function namesAny(col: string, names: readonly string[]): string {
  const wrapped = `(';' || ${col} || ';')`;
  return `(${names.map((n) => `${wrapped} LIKE '%;${n.replace(/_/g, '\\_')};%' ESCAPE '\\'`).join(' OR ')})`;
}

function bandOf(age: string): string {
  const arms = AGE_BANDS.filter((b) => b.max !== null).map((b) => `WHEN ${age} <= ${b.max} THEN '${b.band}'`);
  return `CASE WHEN ${age} IS NULL THEN '${UNKNOWN_BAND}' ${arms.join(' ')} ELSE '${AGE_BANDS[AGE_BANDS.length - 1].band}' END`;
}

/** ACC/AHA 2017, the higher of the two readings decides: crisis > 180 / > 120, stage 2 >= 140 / >= 90, ... */
const BP_RANK =
  'CASE WHEN r.age >= 18 AND r.sv IS NOT NULL AND r.dv IS NOT NULL THEN CASE ' +
  'WHEN r.sv > 180 OR r.dv > 120 THEN 5 WHEN r.sv >= 140 OR r.dv >= 90 THEN 4 WHEN r.sv >= 130 OR r.dv >= 80 THEN 3 ' +
  'WHEN r.sv >= 120 THEN 2 ELSE 1 END END';

/** Tachycardia: above 160/min under 2, above 120/min at 2-12, above 100/min from 13; not judged without an age. */
const TACHY =
  'CASE WHEN r.hv IS NOT NULL AND r.age IS NOT NULL AND r.hv > CASE WHEN r.age < 2 THEN 160 WHEN r.age <= 12 THEN 120 ELSE 100 END ' +
  'THEN 1 ELSE 0 END';

export const CATEGORY_OF_RANK = `CASE c.bp_rank ${BP_CATEGORIES.map((c, i) => `WHEN ${i + 1} THEN '${c}'`).join(' ')} END`;

export async function dropTemps(tx: SqlTx): Promise<void> {
  for (const name of TEMPS) await tx.run(`DROP TABLE IF EXISTS ${name}`);
}

/** (Re)create the set of touched years; loadRows adds to it. */
export async function startTouched(tx: SqlTx): Promise<void> {
  await tx.run('DROP TABLE IF EXISTS tmp_bi_touched');
  await tx.run(`CREATE TEMP TABLE tmp_bi_touched AS SELECT ${WITHHELD_YEAR} AS y WHERE 1 = 0`);
}

/** 1. The rows to apply, classified, into tmp_bi_rows; their years join tmp_bi_touched. */
export async function loadRows(tx: SqlTx, filter: RowFilter): Promise<void> {
  await tx.run('DROP TABLE IF EXISTS tmp_bi_rows');
  const value = (v: BiVital) => `CASE WHEN NOT ${namesAny('e.outlier_flags', excludingFlags(v))} THEN e.${v} END`;
  await tx.run(
    `CREATE TEMP TABLE tmp_bi_rows AS
     SELECT r.patient_ref, r.y, r.age, r.band, r.event_date, r.zip3, r.sv, r.dv, r.hv, ${BP_RANK} AS bp_rank, ${TACHY} AS tachy
     FROM (
       SELECT e.patient_ref AS patient_ref, COALESCE(e.event_year, ${WITHHELD_YEAR}) AS y, e.age_years AS age,
              ${bandOf('e.age_years')} AS band, e.event_date AS event_date, e.zip3 AS zip3,
              ${value('systolic_bp')} AS sv, ${value('diastolic_bp')} AS dv, ${value('heart_rate')} AS hv
       FROM events e WHERE ${filter.where}
     ) r`,
    filter.params,
  );
  await tx.run('INSERT INTO tmp_bi_touched (y) SELECT DISTINCT y FROM tmp_bi_rows r WHERE NOT EXISTS (SELECT 1 FROM tmp_bi_touched t WHERE t.y = r.y)');
}

/** The patients a revision applies to, into tmp_bi_patients. */
export async function loadPatients(tx: SqlTx, patientRefs: readonly number[]): Promise<void> {
  await tx.run('DROP TABLE IF EXISTS tmp_bi_patients');
  await tx.run('CREATE TEMP TABLE tmp_bi_patients AS SELECT 0 AS patient_ref WHERE 1 = 0');
  const unique = [...new Set(patientRefs)];
  for (let i = 0; i < unique.length; i += 500) {
    const chunk = unique.slice(i, i + 500);
    await tx.run(`INSERT INTO tmp_bi_patients (patient_ref) VALUES ${chunk.map(() => '(?)').join(', ')}`, chunk);
  }
}

const upsertAdd = (table: string, key: string, cols: readonly string[]) =>
  `ON CONFLICT (${key}) DO UPDATE SET ${cols.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(', ')}`;

/** The rows' readings, sums and value counts, times `sign` (+1 add, -1 subtract). Patient counts are not touched. */
async function rowCounts(tx: SqlTx, sign: 1 | -1): Promise<void> {
  await tx.run(
    `INSERT INTO bi_bp_cell_band (event_year, age_band, bp_rank, patients, readings)
     SELECT y, band, bp_rank, 0, ${sign} * COUNT(*) FROM tmp_bi_rows WHERE bp_rank IS NOT NULL GROUP BY y, band, bp_rank
     ${upsertAdd('bi_bp_cell_band', 'event_year, age_band, bp_rank', ['readings'])}`,
  );
  await tx.run(
    `INSERT INTO bi_bp_cell_year (event_year, bp_rank, patients, readings)
     SELECT y, bp_rank, 0, ${sign} * COUNT(*) FROM tmp_bi_rows WHERE bp_rank IS NOT NULL GROUP BY y, bp_rank
     ${upsertAdd('bi_bp_cell_year', 'event_year, bp_rank', ['readings'])}`,
  );
  await tx.run(
    `INSERT INTO bi_hr_cell (event_year, age_band, patients, readings, tachycardia_readings, sum_heart_rate)
     SELECT y, band, 0, ${sign} * COUNT(*), ${sign} * SUM(tachy), ${sign} * SUM(hv) FROM tmp_bi_rows WHERE hv IS NOT NULL GROUP BY y, band
     ${upsertAdd('bi_hr_cell', 'event_year, age_band', ['readings', 'tachycardia_readings', 'sum_heart_rate'])}`,
  );
  await tx.run('DROP TABLE IF EXISTS tmp_bi_vals');
  await tx.run(
    `CREATE TEMP TABLE tmp_bi_vals AS
     SELECT patient_ref, y, 'systolic_bp' AS vital, sv AS value FROM tmp_bi_rows WHERE sv IS NOT NULL
     UNION ALL SELECT patient_ref, y, 'diastolic_bp', dv FROM tmp_bi_rows WHERE dv IS NOT NULL
     UNION ALL SELECT patient_ref, y, 'heart_rate', hv FROM tmp_bi_rows WHERE hv IS NOT NULL`,
  );
  await tx.run(
    `INSERT INTO bi_value_counts (event_year, vital, value, n)
     SELECT y, vital, value, ${sign} * COUNT(*) FROM tmp_bi_vals WHERE 1 = 1 GROUP BY y, vital, value
     ${upsertAdd('bi_value_counts', 'event_year, vital, value', ['n'])}`,
  );
}

/** 2a. Add the rows: counts, then patients entering cells (or moving up a BP category), then the dimensions. */
export async function addRows(tx: SqlTx): Promise<void> {
  await rowCounts(tx, 1);

  // BP per patient, year and age band: the batch's highest rank against the rank already counted.
  await tx.run('DROP TABLE IF EXISTS tmp_bi_pb');
  await tx.run(
    'CREATE TEMP TABLE tmp_bi_pb AS SELECT patient_ref, y, band, MAX(bp_rank) AS r FROM tmp_bi_rows WHERE bp_rank IS NOT NULL GROUP BY patient_ref, y, band',
  );
  await movePatients(tx, {
    batch: 'tmp_bi_pb', helper: 'bi_bp_patient_band', cells: 'bi_bp_cell_band', join: 'o.event_year = b.y AND o.age_band = b.band',
    keyCols: ['event_year', 'age_band'], batchKeys: ['b.y', 'b.band'], helperKeys: ['o.event_year', 'o.age_band'],
  });
  // BP per patient and year, over every band.
  await tx.run('DROP TABLE IF EXISTS tmp_bi_py');
  await tx.run('CREATE TEMP TABLE tmp_bi_py AS SELECT patient_ref, y, MAX(r) AS r FROM tmp_bi_pb GROUP BY patient_ref, y');
  await movePatients(tx, {
    batch: 'tmp_bi_py', helper: 'bi_bp_patient_year', cells: 'bi_bp_cell_year', join: 'o.event_year = b.y',
    keyCols: ['event_year'], batchKeys: ['b.y'], helperKeys: ['o.event_year'],
  });

  // Heart rate: patients new to a (year, band) cell.
  await tx.run('DROP TABLE IF EXISTS tmp_bi_ph');
  await tx.run('CREATE TEMP TABLE tmp_bi_ph AS SELECT DISTINCT patient_ref, y, band FROM tmp_bi_rows WHERE hv IS NOT NULL');
  await tx.run(
    `INSERT INTO bi_hr_cell (event_year, age_band, patients, readings, tachycardia_readings, sum_heart_rate)
     SELECT b.y, b.band, COUNT(*), 0, 0, 0 FROM tmp_bi_ph b
     WHERE NOT EXISTS (SELECT 1 FROM bi_hr_patient p WHERE p.patient_ref = b.patient_ref AND p.event_year = b.y AND p.age_band = b.band)
     GROUP BY b.y, b.band
     ${upsertAdd('bi_hr_cell', 'event_year, age_band', ['patients'])}`,
  );
  await tx.run(
    'INSERT INTO bi_hr_patient (patient_ref, event_year, age_band) SELECT patient_ref, y, band FROM tmp_bi_ph WHERE 1 = 1 ON CONFLICT DO NOTHING',
  );

  // Vitals: patients new to a (year, vital) cell.
  await tx.run('DROP TABLE IF EXISTS tmp_bi_pv');
  await tx.run('CREATE TEMP TABLE tmp_bi_pv AS SELECT DISTINCT patient_ref, y, vital FROM tmp_bi_vals');
  await tx.run(
    `INSERT INTO bi_vital_cell (event_year, vital, patients)
     SELECT b.y, b.vital, COUNT(*) FROM tmp_bi_pv b
     WHERE NOT EXISTS (SELECT 1 FROM bi_vital_patient p WHERE p.patient_ref = b.patient_ref AND p.event_year = b.y AND p.vital = b.vital)
     GROUP BY b.y, b.vital
     ${upsertAdd('bi_vital_cell', 'event_year, vital', ['patients'])}`,
  );
  await tx.run('INSERT INTO bi_vital_patient (patient_ref, event_year, vital) SELECT patient_ref, y, vital FROM tmp_bi_pv WHERE 1 = 1 ON CONFLICT DO NOTHING');

  await addDimensions(tx);
}

interface PatientCells {
  /** The batch's highest rank per patient and cell key: columns patient_ref, <keys>, r. */
  batch: string;
  helper: string;
  cells: string;
  join: string;
  keyCols: string[];
  batchKeys: string[];
  helperKeys: string[];
}

/**
 * A patient counts once per cell key, in their highest rank: +1 where they enter, and -1 in the old rank / +1 in
 * the new where the batch raises their rank. Then the patient's rank is raised (never lowered).
 */
async function movePatients(tx: SqlTx, p: PatientCells): Promise<void> {
  const keys = p.keyCols.join(', ');
  const on = `o.patient_ref = b.patient_ref AND ${p.join}`;
  await tx.run(
    `INSERT INTO ${p.cells} (${keys}, bp_rank, patients, readings)
     SELECT ${p.keyCols.map((k) => `d.${k}`).join(', ')}, d.bp_rank, SUM(d.dp), 0 FROM (
       SELECT ${p.batchKeys.map((k, i) => `${k} AS ${p.keyCols[i]}`).join(', ')}, b.r AS bp_rank, 1 AS dp
       FROM ${p.batch} b LEFT JOIN ${p.helper} o ON ${on} WHERE o.bp_rank IS NULL OR o.bp_rank < b.r
       UNION ALL
       SELECT ${p.helperKeys.map((k, i) => `${k} AS ${p.keyCols[i]}`).join(', ')}, o.bp_rank, -1
       FROM ${p.batch} b JOIN ${p.helper} o ON ${on} WHERE o.bp_rank < b.r
     ) d WHERE 1 = 1 GROUP BY ${p.keyCols.map((k) => `d.${k}`).join(', ')}, d.bp_rank
     ${upsertAdd(p.cells, `${keys}, bp_rank`, ['patients'])}`,
  );
  await tx.run(
    `INSERT INTO ${p.helper} (patient_ref, ${keys}, bp_rank) SELECT b.patient_ref, ${p.batchKeys.join(', ')}, b.r FROM ${p.batch} b WHERE 1 = 1
     ON CONFLICT (patient_ref, ${keys}) DO UPDATE SET bp_rank = excluded.bp_rank WHERE excluded.bp_rank > ${p.helper}.bp_rank`,
  );
}

/** 2b. Subtract the rows (every counted row of the patients in tmp_bi_patients), and every patient count of theirs. */
export async function subtractPatients(tx: SqlTx): Promise<void> {
  await rowCounts(tx, -1);
  const mine = 'patient_ref IN (SELECT patient_ref FROM tmp_bi_patients)';
  await tx.run(
    `INSERT INTO bi_bp_cell_band (event_year, age_band, bp_rank, patients, readings)
     SELECT event_year, age_band, bp_rank, -COUNT(*), 0 FROM bi_bp_patient_band WHERE ${mine} GROUP BY event_year, age_band, bp_rank
     ${upsertAdd('bi_bp_cell_band', 'event_year, age_band, bp_rank', ['patients'])}`,
  );
  await tx.run(
    `INSERT INTO bi_bp_cell_year (event_year, bp_rank, patients, readings)
     SELECT event_year, bp_rank, -COUNT(*), 0 FROM bi_bp_patient_year WHERE ${mine} GROUP BY event_year, bp_rank
     ${upsertAdd('bi_bp_cell_year', 'event_year, bp_rank', ['patients'])}`,
  );
  await tx.run(
    `INSERT INTO bi_hr_cell (event_year, age_band, patients, readings, tachycardia_readings, sum_heart_rate)
     SELECT event_year, age_band, -COUNT(*), 0, 0, 0 FROM bi_hr_patient WHERE ${mine} GROUP BY event_year, age_band
     ${upsertAdd('bi_hr_cell', 'event_year, age_band', ['patients'])}`,
  );
  await tx.run(
    `INSERT INTO bi_vital_cell (event_year, vital, patients)
     SELECT event_year, vital, -COUNT(*) FROM bi_vital_patient WHERE ${mine} GROUP BY event_year, vital
     ${upsertAdd('bi_vital_cell', 'event_year, vital', ['patients'])}`,
  );
  // Their years are touched too (they are the rows' years unless the rows changed under us).
  for (const helper of ['bi_bp_patient_year', 'bi_hr_patient', 'bi_vital_patient']) {
    await tx.run(
      `INSERT INTO tmp_bi_touched (y) SELECT DISTINCT h.event_year FROM ${helper} h
       WHERE h.${mine} AND NOT EXISTS (SELECT 1 FROM tmp_bi_touched t WHERE t.y = h.event_year)`,
    );
  }
  for (const helper of ['bi_bp_patient_band', 'bi_bp_patient_year', 'bi_hr_patient', 'bi_vital_patient']) {
    await tx.run(`DELETE FROM ${helper} WHERE ${mine}`);
  }
}

/** Years, dates (limited data set only: Safe Harbor rows carry no date) and ZIP3 prefixes seen. */
async function addDimensions(tx: SqlTx): Promise<void> {
  await tx.run(`INSERT INTO dim_year (event_year) SELECT DISTINCT y FROM tmp_bi_rows WHERE y <> ${WITHHELD_YEAR} ON CONFLICT DO NOTHING`);
  const [year, month] =
    tx.dialect === 'sqlite'
      ? ["CAST(strftime('%Y', event_date) AS INTEGER)", "CAST(strftime('%m', event_date) AS INTEGER)"]
      : ['CAST(EXTRACT(YEAR FROM event_date) AS integer)', 'CAST(EXTRACT(MONTH FROM event_date) AS integer)'];
  await tx.run(
    `INSERT INTO dim_date (event_date, event_year, month) SELECT d.event_date, ${year}, ${month}
     FROM (SELECT DISTINCT event_date FROM tmp_bi_rows WHERE event_date IS NOT NULL) d WHERE 1 = 1 ON CONFLICT DO NOTHING`,
  );
  const fresh = await tx.all<{ zip3: string }>(
    'SELECT DISTINCT r.zip3 AS zip3 FROM tmp_bi_rows r WHERE r.zip3 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dim_zip3 d WHERE d.zip3 = r.zip3)',
  );
  for (const { zip3 } of fresh) {
    await tx.run('INSERT INTO dim_zip3 (zip3, state) VALUES (?, ?) ON CONFLICT DO NOTHING', [zip3, stateOfZip3(zip3)]);
  }
}

/** 3. Rewrite the KPI rows of every touched year from the helper tables, applying the small-cell rule. */
export async function republish(tx: SqlTx): Promise<void> {
  const touched = 'IN (SELECT y FROM tmp_bi_touched)';
  // Cells a subtraction emptied.
  await tx.run(`DELETE FROM bi_bp_cell_band WHERE event_year ${touched} AND patients = 0 AND readings = 0`);
  await tx.run(`DELETE FROM bi_bp_cell_year WHERE event_year ${touched} AND patients = 0 AND readings = 0`);
  await tx.run(`DELETE FROM bi_hr_cell WHERE event_year ${touched} AND patients = 0 AND readings = 0`);
  await tx.run(`DELETE FROM bi_vital_cell WHERE event_year ${touched} AND patients = 0`);
  await tx.run(`DELETE FROM bi_value_counts WHERE event_year ${touched} AND n = 0`);

  const year = `NULLIF(c.event_year, ${WITHHELD_YEAR})`;
  await tx.run(`DELETE FROM kpi_bp_by_year WHERE COALESCE(event_year, ${WITHHELD_YEAR}) ${touched}`);
  await tx.run(
    `INSERT INTO kpi_bp_by_year (event_year, bp_category, patients, readings)
     SELECT ${year}, ${CATEGORY_OF_RANK}, ${published('c.patients', 'c.patients')}, ${published('c.readings', 'c.patients')}
     FROM bi_bp_cell_year c WHERE c.event_year ${touched}`,
  );
  await tx.run(`DELETE FROM kpi_bp_by_year_age_band WHERE COALESCE(event_year, ${WITHHELD_YEAR}) ${touched}`);
  await tx.run(
    `INSERT INTO kpi_bp_by_year_age_band (event_year, age_band, bp_category, patients, readings)
     SELECT ${year}, c.age_band, ${CATEGORY_OF_RANK}, ${published('c.patients', 'c.patients')}, ${published('c.readings', 'c.patients')}
     FROM bi_bp_cell_band c WHERE c.event_year ${touched}`,
  );
  await tx.run(`DELETE FROM kpi_heart_rate_by_age_band WHERE COALESCE(event_year, ${WITHHELD_YEAR}) ${touched}`);
  await tx.run(
    `INSERT INTO kpi_heart_rate_by_age_band (event_year, age_band, patients, readings, tachycardia_readings, mean_heart_rate)
     SELECT ${year}, NULLIF(c.age_band, '${UNKNOWN_BAND}'), ${published('c.patients', 'c.patients')}, ${published('c.readings', 'c.patients')},
            CASE WHEN c.age_band <> '${UNKNOWN_BAND}' THEN ${published('c.tachycardia_readings', 'c.patients')} END,
            ${published('c.sum_heart_rate / c.readings', 'c.patients')}
     FROM bi_hr_cell c WHERE c.event_year ${touched} AND c.readings > 0`,
  );
  // Exact quantiles from the value counts (R-7, as quantile() in pipeline/qc.ts): h = (n - 1) p, in integer
  // arithmetic (p = k / 10), interpolated between the values at ranks floor(h) and ceil(h).
  await tx.run(`DELETE FROM kpi_vitals_by_year WHERE COALESCE(event_year, ${WITHHELD_YEAR}) ${touched}`);
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
     JOIN bi_vital_cell c ON c.event_year = t.event_year AND c.vital = t.vital
     WHERE 1 = 1`,
  );
}

/** One row per vital for the batch, from its ledger row and QC metrics (shares of the rows loaded). */
export async function addQcRows(tx: SqlTx, batch: { batchRef: number } | 'all'): Promise<void> {
  const share = (col: string) => `CASE WHEN b.loaded > 0 THEN CAST(${col} AS DOUBLE PRECISION) / b.loaded END`;
  await tx.run(
    `INSERT INTO kpi_qc_by_batch (batch_ref, batch_id, vital, rows_in, loaded, rejected, duplicates, reject_rate, flagged_share, clipped_share, null_share)
     SELECT b.batch_ref, b.batch_id, m.column_name, b.rows_in, b.loaded, b.rejected, b.duplicates,
            CASE WHEN b.rows_in > 0 THEN CAST(b.rejected AS DOUBLE PRECISION) / b.rows_in END,
            ${share('m.flagged')}, ${share('m.clipped')}, ${share('m.nulls')}
     FROM batches b JOIN qc_metrics m ON m.batch_id = b.batch_id
     WHERE ${batch === 'all' ? '1 = 1' : 'b.batch_ref = ?'}
     ON CONFLICT (batch_ref, vital) DO NOTHING`,
    batch === 'all' ? [] : [batch.batchRef],
  );
}

/** Empty every helper and KPI table (a rules change rebuilds them from all rows). Dimensions stay. */
export async function clearAll(tx: SqlTx, tables: readonly string[]): Promise<void> {
  for (const t of tables) await tx.run(`DELETE FROM ${t}`);
}
