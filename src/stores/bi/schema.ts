// The BI model every store maintains inside each batch transaction (issue 8 part 2): dimensions and KPI tables for
// analysts, and helper tables (bi_*) that hold the exact counts the KPI tables are published from. One list, in the
// TableSpec shape of stores/schema.ts, for both dialects and for the Power BI model generator.
//
// - Published tables (dim_*, kpi_*): what Power BI reads. KPI counts and statistics follow the small-cell rule
//   (small-cells.ts): a cell describing fewer than 11 patients shows NULL.
// - Helper tables (bi_*): exact counts by year, age band, category, vital and value, and per patient_ref the facts
//   a patient-level count needs (which cells the patient is already counted in). Integers, counts and years only:
//   no patient_key, no date finer than a year. Every column is hidden from the Power BI model.
// - A year withheld from the rows (event_year NULL: patients aged 90+) is a cell of its own: NULL in the published
//   tables, the sentinel WITHHELD_YEAR (0) in the helper tables' keys (primary keys cannot hold NULL).
import type { ColumnSpec, ColumnType, TableSpec } from '../schema.js';

const t = (n: number): ColumnType => ({ text: n });
const hidden = (name: string, type: ColumnType): ColumnSpec => ({ name, type, notNull: true, hidden: true });

/** Bump when a rule below (bands, categories, which readings count) changes: the next batch rebuilds every table. */
export const BI_RULES_VERSION = '2';

/** The helper tables' key for "year withheld" (no real event has year 0). */
export const WITHHELD_YEAR = 0;
/** The helper tables' key for "age unknown" (no date of birth). */
export const UNKNOWN_BAND = '';

/** Age bands at the event (age_years; every age of 90 or more is 90 after de-identification). */
export const AGE_BANDS = [
  { band: '0-1', min: 0, max: 1 },
  { band: '2-12', min: 2, max: 12 },
  { band: '13-17', min: 13, max: 17 },
  { band: '18-39', min: 18, max: 39 },
  { band: '40-64', min: 40, max: 64 },
  { band: '65-89', min: 65, max: 89 },
  { band: '90+', min: 90, max: null },
] as const;

/** ACC/AHA 2017 blood-pressure categories, by rank (the higher of the two readings decides). */
export const BP_CATEGORIES = ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'] as const;
export type BpCategory = (typeof BP_CATEGORIES)[number];

export const BI_VITALS = ['systolic_bp', 'diastolic_bp', 'heart_rate'] as const;
export type BiVital = (typeof BI_VITALS)[number];

// ---- published: dimensions ------------------------------------------------------------------------------------

export const DIM_AGE_BAND: TableSpec = {
  name: 'dim_age_band',
  doc: 'age bands at the event: 0-1, 2-12, 13-17, 18-39, 40-64, 65-89, 90+',
  columns: [
    { name: 'age_band', type: t(8), notNull: true },
    { name: 'sort_order', type: 'int', notNull: true, hidden: true },
    { name: 'min_age', type: 'int', notNull: true },
    { name: 'max_age', type: 'int' },
  ],
  primaryKey: ['age_band'],
};

export const DIM_YEAR: TableSpec = {
  name: 'dim_year',
  doc: 'the years that occur in the data (a year withheld for patients aged 90+ is blank in the facts)',
  columns: [{ name: 'event_year', type: 'int', notNull: true }],
  primaryKey: ['event_year'],
};

export const DIM_DATE: TableSpec = {
  name: 'dim_date',
  doc: 'the event dates that occur in the data: filled only in the limited-data-set profile (Safe Harbor keeps no dates)',
  columns: [
    { name: 'event_date', type: 'date', notNull: true },
    { name: 'event_year', type: 'int', notNull: true },
    { name: 'month', type: 'int', notNull: true },
  ],
  primaryKey: ['event_date'],
};

export const DIM_ZIP3: TableSpec = {
  name: 'dim_zip3',
  doc: 'ZIP3 prefixes that occur in the data, with their state where known (000: the restricted prefixes, no state)',
  columns: [
    { name: 'zip3', type: t(3), notNull: true },
    { name: 'state', type: t(2) },
  ],
  primaryKey: ['zip3'],
};

// ---- published: KPIs ------------------------------------------------------------------------------------------

export const KPI_BP_BY_YEAR: TableSpec = {
  name: 'kpi_bp_by_year',
  doc: 'adults (18+) per year in their highest ACC/AHA 2017 blood-pressure category (normal, elevated, stage_1, stage_2, crisis); counts of fewer than 11 patients are blank',
  columns: [
    { name: 'event_year', type: 'int', hidden: true },
    { name: 'bp_category', type: t(10), notNull: true },
    { name: 'patients', type: 'int' },
    { name: 'readings', type: 'int' },
  ],
};

export const KPI_BP_BY_YEAR_AGE_BAND: TableSpec = {
  name: 'kpi_bp_by_year_age_band',
  doc: 'kpi_bp_by_year per age band',
  columns: [
    { name: 'event_year', type: 'int', hidden: true },
    { name: 'age_band', type: t(8), notNull: true, hidden: true },
    { name: 'bp_category', type: t(10), notNull: true },
    { name: 'patients', type: 'int' },
    { name: 'readings', type: 'int' },
  ],
};

export const KPI_HEART_RATE_BY_AGE_BAND: TableSpec = {
  name: 'kpi_heart_rate_by_age_band',
  doc: 'heart-rate readings per year and age band (blank band: age unknown); tachycardia above 160/min under 2, above 120/min at 2-12, above 100/min from 13',
  columns: [
    { name: 'event_year', type: 'int', hidden: true },
    // NULL: readings of patients without a date of birth (their tachycardia cannot be judged).
    { name: 'age_band', type: t(8), hidden: true },
    { name: 'patients', type: 'int' },
    { name: 'readings', type: 'int' },
    { name: 'tachycardia_readings', type: 'int' },
    { name: 'mean_heart_rate', type: 'double' },
  ],
};

export const KPI_VITALS_BY_YEAR: TableSpec = {
  name: 'kpi_vitals_by_year',
  doc: 'per year and vital (systolic_bp, diastolic_bp, heart_rate): n, mean, p10, median, p90',
  columns: [
    { name: 'event_year', type: 'int', hidden: true },
    { name: 'vital', type: t(20), notNull: true },
    { name: 'patients', type: 'int' },
    { name: 'n', type: 'int' },
    { name: 'mean', type: 'double' },
    { name: 'p10', type: 'double' },
    { name: 'median', type: 'double' },
    { name: 'p90', type: 'double' },
  ],
};

export const KPI_QC_BY_BATCH: TableSpec = {
  name: 'kpi_qc_by_batch',
  doc: 'QC per batch (seq = commit order) and vital: rows in, loaded, rejected, duplicates, and reject, flagged, clipped and null shares',
  columns: [
    { name: 'seq', type: 'int', notNull: true },
    { name: 'batch_id', type: t(40), notNull: true },
    { name: 'vital', type: t(20), notNull: true },
    { name: 'rows_in', type: 'int' },
    { name: 'loaded', type: 'int' },
    { name: 'rejected', type: 'int' },
    { name: 'duplicates', type: 'int' },
    { name: 'reject_rate', type: 'double' },
    { name: 'flagged_share', type: 'double' },
    { name: 'clipped_share', type: 'double' },
    { name: 'null_share', type: 'double' },
  ],
  primaryKey: ['seq', 'vital'],
};

// ---- helpers: exact counts (never shown to analysts) --------------------------------------------------------

/** Per patient, year and age band: the highest BP category rank (1-5) of their counted adult readings. */
export const BI_BP_PATIENT_BAND: TableSpec = {
  name: 'bi_bp_patient_band',
  doc: 'helper: highest blood-pressure category rank per patient_ref, year and age band',
  columns: [hidden('patient_ref', 'int'), hidden('event_year', 'int'), hidden('age_band', t(8)), hidden('bp_rank', 'int')],
  primaryKey: ['patient_ref', 'event_year', 'age_band'],
};

/** Per patient and year: the highest BP category rank over all bands. */
export const BI_BP_PATIENT_YEAR: TableSpec = {
  name: 'bi_bp_patient_year',
  doc: 'helper: highest blood-pressure category rank per patient_ref and year',
  columns: [hidden('patient_ref', 'int'), hidden('event_year', 'int'), hidden('bp_rank', 'int')],
  primaryKey: ['patient_ref', 'event_year'],
};

/** Exact counts behind kpi_bp_by_year_age_band: patients whose highest rank this is, readings of this rank. */
export const BI_BP_CELL_BAND: TableSpec = {
  name: 'bi_bp_cell_band',
  doc: 'helper: exact patients and readings per year, age band and blood-pressure category rank',
  columns: [hidden('event_year', 'int'), hidden('age_band', t(8)), hidden('bp_rank', 'int'), hidden('patients', 'int'), hidden('readings', 'int')],
  primaryKey: ['event_year', 'age_band', 'bp_rank'],
};

export const BI_BP_CELL_YEAR: TableSpec = {
  name: 'bi_bp_cell_year',
  doc: 'helper: exact patients and readings per year and blood-pressure category rank',
  columns: [hidden('event_year', 'int'), hidden('bp_rank', 'int'), hidden('patients', 'int'), hidden('readings', 'int')],
  primaryKey: ['event_year', 'bp_rank'],
};

/** Which (year, age band) cells a patient already counts in for heart rate. */
export const BI_HR_PATIENT: TableSpec = {
  name: 'bi_hr_patient',
  doc: 'helper: the year and age band cells each patient_ref has counted heart-rate readings in',
  columns: [hidden('patient_ref', 'int'), hidden('event_year', 'int'), hidden('age_band', t(8))],
  primaryKey: ['patient_ref', 'event_year', 'age_band'],
};

export const BI_HR_CELL: TableSpec = {
  name: 'bi_hr_cell',
  doc: 'helper: exact patients, readings, tachycardia readings and heart-rate sum per year and age band',
  columns: [
    hidden('event_year', 'int'), hidden('age_band', t(8)), hidden('patients', 'int'), hidden('readings', 'int'),
    hidden('tachycardia_readings', 'int'), hidden('sum_heart_rate', 'double'),
  ],
  primaryKey: ['event_year', 'age_band'],
};

/** Which (year, vital) cells a patient already counts in. */
export const BI_VITAL_PATIENT: TableSpec = {
  name: 'bi_vital_patient',
  doc: 'helper: the year and vital cells each patient_ref has counted values in',
  columns: [hidden('patient_ref', 'int'), hidden('event_year', 'int'), hidden('vital', t(20))],
  primaryKey: ['patient_ref', 'event_year', 'vital'],
};

export const BI_VITAL_CELL: TableSpec = {
  name: 'bi_vital_cell',
  doc: 'helper: exact patients per year and vital',
  columns: [hidden('event_year', 'int'), hidden('vital', t(20)), hidden('patients', 'int')],
  primaryKey: ['event_year', 'vital'],
};

/** How often each value of a vital occurs per year: exact quantiles without keeping the rows. */
export const BI_VALUE_COUNTS: TableSpec = {
  name: 'bi_value_counts',
  doc: 'helper: counted values per year and vital, with how often each occurs (exact quantiles)',
  columns: [hidden('event_year', 'int'), hidden('vital', t(20)), hidden('value', 'double'), hidden('n', 'int')],
  primaryKey: ['event_year', 'vital', 'value'],
};

/** The step's own state: which rules built the tables, the last batch applied. */
export const BI_STATE: TableSpec = {
  name: 'bi_state',
  doc: 'helper: the BI rules version the tables were built with, and the last batch applied',
  columns: [hidden('name', t(40)), hidden('value', t(40))],
  primaryKey: ['name'],
};

/** What analysts read (Power BI, `medetl compact` -> masked_out/bi/<name>.parquet), dimensions first. */
export const BI_PUBLISHED_TABLES: readonly TableSpec[] = [
  DIM_YEAR, DIM_DATE, DIM_AGE_BAND, DIM_ZIP3,
  KPI_BP_BY_YEAR, KPI_BP_BY_YEAR_AGE_BAND, KPI_HEART_RATE_BY_AGE_BAND, KPI_VITALS_BY_YEAR, KPI_QC_BY_BATCH,
];

export const BI_HELPER_TABLES: readonly TableSpec[] = [
  BI_BP_PATIENT_BAND, BI_BP_PATIENT_YEAR, BI_BP_CELL_BAND, BI_BP_CELL_YEAR, BI_HR_PATIENT, BI_HR_CELL, BI_VITAL_PATIENT,
  BI_VITAL_CELL, BI_VALUE_COUNTS, BI_STATE,
];

export const BI_TABLES: readonly TableSpec[] = [...BI_PUBLISHED_TABLES, ...BI_HELPER_TABLES];
