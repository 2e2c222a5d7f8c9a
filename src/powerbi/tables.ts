// The tables the Power BI model is made of, in one list: the fact table `cleaned_events`, resolved column by column
// from the store's own table list (stores/schema.ts: the CLEANED_EVENTS_VIEW select list over EVENTS, PATIENTS and
// BATCHES), and the BI tables every store maintains in the batch transaction (dims and KPIs).
//
// The BI tables are written here in the stores' own TableSpec shape, exactly as the stores create them (issue 8
// part 2). When stores/schema.ts exports them, import them here instead and delete the copies: nothing else changes.
import { CLEANED_EVENTS_VIEW, RELEASE_TABLES, type ColumnSpec, type TableSpec } from '../stores/schema.js';

/** The CMS cell-size rule the stores apply to KPI cells; the report's own counts over the fact table apply it too. */
export const SMALL_CELL_MIN_PATIENTS = 11;

/** One model table: where its rows come from (`fact`: masked_out/cleaned.parquet; `bi`: masked_out/bi/<name>.parquet). */
export interface SourceTable extends TableSpec {
  kind: 'fact' | 'bi';
}

const t = (n: number): ColumnSpec['type'] => ({ text: n });

/**
 * The fact table's columns, in the view's order, each with the spec of the table column it selects. Throws when the
 * view's select list names a column the store's tables do not have: the model and the stores cannot drift apart.
 */
export function cleanedEventsColumns(view: { select: string } = CLEANED_EVENTS_VIEW, tables: readonly TableSpec[] = RELEASE_TABLES): ColumnSpec[] {
  const m = /^\s*SELECT\s+(.+?)\s+FROM\s+(.+)$/is.exec(view.select);
  if (!m) throw new Error('cleaned_events: the view is not a SELECT ... FROM ...');
  const aliases = new Map<string, TableSpec>();
  for (const [, table, alias] of m[2].matchAll(/(?:FROM|JOIN|^)\s*(\w+)\s+(?:AS\s+)?(\w+)/gi)) {
    const spec = tables.find((x) => x.name === table);
    if (spec) aliases.set(alias, spec);
  }
  return m[1].split(',').map((item) => {
    const ref = /^\s*(\w+)\.(\w+)\s*$/.exec(item);
    if (!ref) throw new Error(`cleaned_events: "${item.trim()}" is not a plain alias.column reference`);
    const col = aliases.get(ref[1])?.columns.find((c) => c.name === ref[2]);
    if (!col) throw new Error(`cleaned_events: ${ref[1]}.${ref[2]} is not a column of the store's tables`);
    return col;
  });
}

export const CLEANED_EVENTS: SourceTable = {
  kind: 'fact',
  name: CLEANED_EVENTS_VIEW.name,
  doc: CLEANED_EVENTS_VIEW.doc,
  columns: cleanedEventsColumns(),
};

export const DIM_AGE_BAND: SourceTable = {
  kind: 'bi',
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

export const DIM_YEAR: SourceTable = {
  kind: 'bi',
  name: 'dim_year',
  doc: 'the years that occur in the data (a year withheld for patients aged 90+ is blank in the facts)',
  columns: [{ name: 'event_year', type: 'int', notNull: true }],
  primaryKey: ['event_year'],
};

export const DIM_ZIP3: SourceTable = {
  kind: 'bi',
  name: 'dim_zip3',
  doc: 'ZIP3 prefixes with their state where known (000: the restricted prefixes, no state)',
  columns: [
    { name: 'zip3', type: t(3), notNull: true },
    { name: 'state', type: t(2) },
  ],
  primaryKey: ['zip3'],
};

export const KPI_BP_BY_YEAR: SourceTable = {
  kind: 'bi',
  name: 'kpi_bp_by_year',
  doc: 'adults (18+) per year in their highest ACC/AHA 2017 blood-pressure category (normal, elevated, stage_1, stage_2, crisis); counts of fewer than 11 patients are blank',
  columns: [
    { name: 'event_year', type: 'int', hidden: true },
    { name: 'bp_category', type: t(10), notNull: true },
    { name: 'patients', type: 'int' },
    { name: 'readings', type: 'int' },
  ],
};

export const KPI_BP_BY_YEAR_AGE_BAND: SourceTable = {
  kind: 'bi',
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

export const KPI_HEART_RATE_BY_AGE_BAND: SourceTable = {
  kind: 'bi',
  name: 'kpi_heart_rate_by_age_band',
  doc: 'heart-rate readings per year and age band; tachycardia above 160/min under 2, above 120/min at 2-12, above 100/min from 13',
  columns: [
    { name: 'event_year', type: 'int', hidden: true },
    { name: 'age_band', type: t(8), notNull: true, hidden: true },
    { name: 'patients', type: 'int' },
    { name: 'readings', type: 'int' },
    { name: 'tachycardia_readings', type: 'int' },
    { name: 'mean_heart_rate', type: 'double' },
  ],
};

export const KPI_VITALS_BY_YEAR: SourceTable = {
  kind: 'bi',
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

export const KPI_QC_BY_BATCH: SourceTable = {
  kind: 'bi',
  name: 'kpi_qc_by_batch',
  doc: 'QC per batch (batch_ref = commit order) and vital: rows in, loaded, rejected, duplicates, and reject, flagged, clipped and null shares',
  columns: [
    { name: 'batch_ref', type: 'int', notNull: true },
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
};

/** Every table of the model, the fact table first. */
export const MODEL_TABLES: readonly SourceTable[] = [
  CLEANED_EVENTS,
  DIM_YEAR,
  DIM_AGE_BAND,
  DIM_ZIP3,
  KPI_BP_BY_YEAR,
  KPI_BP_BY_YEAR_AGE_BAND,
  KPI_HEART_RATE_BY_AGE_BAND,
  KPI_VITALS_BY_YEAR,
  KPI_QC_BY_BATCH,
];
