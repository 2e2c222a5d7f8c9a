// The Power BI semantic model as data: tables with typed columns and DAX measures, and the relationships of the star.
// tmdl.ts renders it; the report (pages.ts) may only name what is here, and the tests check that it does.
import type { ColumnSpec } from '../stores/schema.js';
import { MODEL_TABLES, SMALL_CELL_MIN_PATIENTS, type SourceTable } from './tables.js';

export type DataType = 'int64' | 'double' | 'string' | 'dateTime';

export interface ModelColumn {
  name: string;
  dataType: DataType;
  /** A date without time of day (TMDL dataType dateTime, annotated as a date). */
  isDate: boolean;
  hidden: boolean;
  /** Counts add up; keys, years, statistics and rates do not. */
  summarizeBy: 'sum' | 'none';
  formatString?: string;
  sortByColumn?: string;
}

export interface ModelMeasure {
  name: string;
  /** DAX. Every measure returns blank rather than a number when its cells are blank (small cells, no rows). */
  expression: string;
  formatString: string;
  description: string;
}

export interface ModelTable {
  name: string;
  description: string;
  source: SourceTable;
  columns: ModelColumn[];
  measures: ModelMeasure[];
}

export interface ModelRelationship {
  /** A stable name: from-table_column_to-table. */
  name: string;
  fromTable: string;
  fromColumn: string;
  toTable: string;
  toColumn: string;
}

export interface SemanticModel {
  tables: ModelTable[];
  relationships: ModelRelationship[];
}

const COUNT_COLUMNS = new Set(['patients', 'readings', 'tachycardia_readings', 'n', 'rows_in', 'loaded', 'rejected', 'duplicates']);
const SHARE_COLUMNS = new Set(['reject_rate', 'flagged_share', 'clipped_share', 'null_share']);

function dataTypeOf(c: ColumnSpec): DataType {
  if (c.type === 'int' || c.type === 'bigint') return 'int64';
  if (c.type === 'double') return 'double';
  if (c.type === 'date' || c.type === 'timestamp') return 'dateTime';
  return 'string';
}

function modelColumn(c: ColumnSpec): ModelColumn {
  const dataType = dataTypeOf(c);
  const counted = COUNT_COLUMNS.has(c.name);
  let formatString: string | undefined;
  if (c.type === 'date') formatString = 'Short Date';
  else if (SHARE_COLUMNS.has(c.name)) formatString = '0.0%';
  else if (counted) formatString = '#,0';
  else if (dataType === 'int64') formatString = '0';
  else if (dataType === 'double') formatString = '0.0';
  return { name: c.name, dataType, isDate: c.type === 'date', hidden: c.hidden === true, summarizeBy: counted ? 'sum' : 'none', formatString };
}

const MIN = SMALL_CELL_MIN_PATIENTS;

/** The measures, by table. Counts over the fact table apply the same small-cell rule as the stores' KPI tables. */
const MEASURES: Record<string, ModelMeasure[]> = {
  cleaned_events: [
    {
      name: 'Patients',
      expression: `VAR n = DISTINCTCOUNT(cleaned_events[patient_key])\nRETURN IF(n >= ${MIN}, n)`,
      formatString: '#,0',
      description: `distinct patients; blank for a cell of fewer than ${MIN} patients`,
    },
    {
      name: 'Readings',
      expression: `IF(DISTINCTCOUNT(cleaned_events[patient_key]) >= ${MIN}, COUNTROWS(cleaned_events))`,
      formatString: '#,0',
      description: `readings (rows); blank for a cell of fewer than ${MIN} patients`,
    },
  ],
  kpi_bp_by_year: [
    {
      name: 'Hypertension prevalence',
      expression:
        'DIVIDE(\n    CALCULATE(SUM(kpi_bp_by_year[patients]), kpi_bp_by_year[bp_category] IN {"stage_1", "stage_2", "crisis"}),\n    SUM(kpi_bp_by_year[patients])\n)',
      formatString: '0.0%',
      description: 'adults whose highest category in the year is stage 1 or above (ACC/AHA 2017), over adults with a counted reading; patient-years, published cells only',
    },
    {
      name: 'BP patients',
      expression: 'SUM(kpi_bp_by_year[patients])',
      formatString: '#,0',
      description: 'adults per highest blood-pressure category (patient-years); blank cells are small cells',
    },
  ],
  kpi_bp_by_year_age_band: [
    {
      name: 'BP patients by age band',
      expression: 'SUM(kpi_bp_by_year_age_band[patients])',
      formatString: '#,0',
      description: 'adults per highest blood-pressure category and age band (patient-years)',
    },
  ],
  kpi_heart_rate_by_age_band: [
    {
      name: 'Tachycardia share',
      expression: 'DIVIDE(SUM(kpi_heart_rate_by_age_band[tachycardia_readings]), SUM(kpi_heart_rate_by_age_band[readings]))',
      formatString: '0.0%',
      description: 'heart-rate readings above the age band\'s tachycardia threshold, over heart-rate readings (published cells only)',
    },
  ],
  kpi_vitals_by_year: [
    { name: 'Median value', expression: 'AVERAGE(kpi_vitals_by_year[median])', formatString: '0.0', description: 'the median of a vital in a year (one row per year and vital)' },
    { name: 'Mean value', expression: 'AVERAGE(kpi_vitals_by_year[mean])', formatString: '0.0', description: 'the mean of a vital in a year (one row per year and vital)' },
  ],
  kpi_qc_by_batch: [
    {
      name: 'Reject rate',
      expression: 'DIVIDE(SUM(kpi_qc_by_batch[rejected]), SUM(kpi_qc_by_batch[rows_in]))',
      formatString: '0.0%',
      description: 'rejected rows over rows in',
    },
    { name: 'Flagged share', expression: 'AVERAGE(kpi_qc_by_batch[flagged_share])', formatString: '0.0%', description: 'share of values QC flagged (per vital, or the mean over vitals)' },
    { name: 'Clipped share', expression: 'AVERAGE(kpi_qc_by_batch[clipped_share])', formatString: '0.0%', description: 'share of values clipped to the physiologic range' },
  ],
};

/** Many-side columns -> the dimension they point at: every table that has the column joins its dimension. */
const DIMENSION_KEYS: { column: string; table: string }[] = [
  { column: 'event_year', table: 'dim_year' },
  { column: 'age_band', table: 'dim_age_band' },
  { column: 'zip3', table: 'dim_zip3' },
];

export function buildModel(tables: readonly SourceTable[] = MODEL_TABLES): SemanticModel {
  const modelTables: ModelTable[] = tables.map((source) => {
    const columns = source.columns.map(modelColumn);
    if (source.name === 'dim_age_band') columns.find((c) => c.name === 'age_band')!.sortByColumn = 'sort_order';
    return { name: source.name, description: source.doc, source, columns, measures: MEASURES[source.name] ?? [] };
  });
  const relationships: ModelRelationship[] = [];
  for (const table of modelTables) {
    if (table.name.startsWith('dim_')) continue;
    for (const key of DIMENSION_KEYS) {
      if (!table.columns.some((c) => c.name === key.column) || !modelTables.some((x) => x.name === key.table)) continue;
      relationships.push({
        name: `${table.name}_${key.column}_${key.table}`,
        fromTable: table.name,
        fromColumn: key.column,
        toTable: key.table,
        toColumn: key.column,
      });
    }
  }
  return { tables: modelTables, relationships };
}
