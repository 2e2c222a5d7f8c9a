// The tables the Power BI model is made of, in one list: the fact table `cleaned_events`, resolved column by column
// from the store's own table list (stores/schema.ts: the CLEANED_EVENTS_VIEW select list over EVENTS, PATIENTS and
// BATCHES), and the BI tables every store maintains in the batch transaction (dims and KPIs).
//
// The BI tables are the stores' own specs (stores/bi/schema.ts): the model and the stores cannot drift apart.
import * as BI from '../stores/bi/schema.js';
import { CLEANED_EVENTS_VIEW, RELEASE_TABLES, type ColumnSpec, type TableSpec } from '../stores/schema.js';

/** The CMS cell-size rule the stores apply to KPI cells; the report's own counts over the fact table apply it too. */
export { SMALL_CELL_MIN_PATIENTS } from '../stores/bi/small-cells.js';

/** One model table: where its rows come from (`fact`: masked_out/cleaned.parquet; `bi`: masked_out/bi/<name>.parquet). */
export interface SourceTable extends TableSpec {
  kind: 'fact' | 'bi';
}


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

/** A BI table as the stores create it (stores/bi/schema.ts), read from masked_out/bi/<name>.parquet on the Parquet route. */
const bi = (spec: TableSpec): SourceTable => ({ ...spec, kind: 'bi' });

export const DIM_AGE_BAND = bi(BI.DIM_AGE_BAND);
export const DIM_YEAR = bi(BI.DIM_YEAR);
export const DIM_ZIP3 = bi(BI.DIM_ZIP3);
export const KPI_BP_BY_YEAR = bi(BI.KPI_BP_BY_YEAR);
export const KPI_BP_BY_YEAR_AGE_BAND = bi(BI.KPI_BP_BY_YEAR_AGE_BAND);
export const KPI_HEART_RATE_BY_AGE_BAND = bi(BI.KPI_HEART_RATE_BY_AGE_BAND);
export const KPI_VITALS_BY_YEAR = bi(BI.KPI_VITALS_BY_YEAR);
export const KPI_QC_BY_BATCH = bi(BI.KPI_QC_BY_BATCH);

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
