// Where each model table reads its rows, per route, as Power Query M: the partition of every table and the M
// parameters (expressions.tmdl) that hold the paths and servers, so they can be changed in Power BI Desktop
// (Transform data > Edit parameters).
//   parquet   Import: Parquet.Document over masked_out/cleaned.parquet and masked_out/bi/<table>.parquet
//   sqlite    Import: Odbc.DataSource over the SQLite ODBC driver (Power BI's ODBC connector is Import-only)
//   postgres  DirectQuery: Power BI's PostgreSQL connector, PostgreSQL.Database(server, database)
import type { DataType, ModelTable } from './model.js';

export type SourceKind = 'parquet' | 'sqlite' | 'postgres';
export type PartitionMode = 'import' | 'directQuery';

export interface SourceOptions {
  kind: SourceKind;
  /** parquet: the masked_out folder (absolute). */
  maskedOut?: string;
  /** sqlite: the database file (absolute). */
  sqliteFile?: string;
  /** sqlite: the ODBC driver's registered name. Christian Werner's driver registers "SQLite3 ODBC Driver" on Windows. */
  odbcDriver?: string;
  /** postgres: host[:port], database and schema. */
  pgServer?: string;
  pgDatabase?: string;
  pgSchema?: string;
}

export interface MParameter {
  name: string;
  value: string;
  description: string;
}

export interface Partition {
  mode: PartitionMode;
  /** The M expression (a let ... in ... block). */
  source: string;
}

/** An M text literal. M has no backslash escapes; a quote is doubled. */
export const mText = (s: string): string => `"${s.replace(/"/g, '""')}"`;

const M_TYPE: Record<DataType, string> = { int64: 'Int64.Type', double: 'type number', string: 'type text', dateTime: 'type datetime' };

export const DEFAULT_ODBC_DRIVER = 'SQLite3 ODBC Driver';

export function modeOf(kind: SourceKind): PartitionMode {
  return kind === 'postgres' ? 'directQuery' : 'import';
}

export function parametersOf(o: SourceOptions): MParameter[] {
  switch (o.kind) {
    case 'parquet':
      return [{ name: 'MaskedOutFolder', value: required(o.maskedOut, 'maskedOut'), description: 'the masked_out folder medetl writes (cleaned.parquet and bi/)' }];
    case 'sqlite':
      return [
        { name: 'SqliteDatabase', value: required(o.sqliteFile, 'sqliteFile'), description: 'masked_out/cleaned.sqlite' },
        { name: 'SqliteOdbcDriver', value: o.odbcDriver ?? DEFAULT_ODBC_DRIVER, description: 'the SQLite ODBC driver name (Windows: SQLite3 ODBC Driver)' },
      ];
    case 'postgres':
      return [
        { name: 'PgServer', value: o.pgServer ?? 'localhost', description: 'PostgreSQL host[:port]' },
        { name: 'PgDatabase', value: o.pgDatabase ?? 'medetl', description: 'PostgreSQL database' },
        { name: 'PgSchema', value: o.pgSchema ?? 'medetl', description: 'the schema medetl writes its tables to' },
      ];
  }
}

function required(v: string | undefined, what: string): string {
  if (!v) throw new Error(`powerbi source: ${what} is required`);
  return v;
}

function letIn(steps: [string, string][]): string {
  const body = steps.map(([n, e], i) => `    ${n} = ${e}${i < steps.length - 1 ? ',' : ''}`);
  return ['let', ...body, 'in', `    ${steps[steps.length - 1][0]}`].join('\n');
}

/** Keep the model's columns (in order) and give each its type: Import routes only; DirectQuery keeps the server's types. */
function typedSteps(table: ModelTable, from: string): [string, string][] {
  const cols = table.columns.map((c) => mText(c.name)).join(', ');
  const types = table.columns.map((c) => `{${mText(c.name)}, ${c.isDate ? 'type date' : M_TYPE[c.dataType]}}`).join(', ');
  return [
    ['Columns', `Table.SelectColumns(${from}, {${cols}})`],
    ['Typed', `Table.TransformColumnTypes(Columns, {${types}})`],
  ];
}

export function partitionOf(table: ModelTable, o: SourceOptions): Partition {
  const mode = modeOf(o.kind);
  // Join with the separator the folder itself uses: C:\medetl\masked_out -> \, /home/me/masked_out -> /.
  const sep = /^[A-Za-z]:\\|^\\\\/.test(o.maskedOut ?? '') ? '\\' : '/';
  switch (o.kind) {
    case 'parquet': {
      const rel = table.source.kind === 'fact' ? `${sep}cleaned.parquet` : `${sep}bi${sep}${table.name}.parquet`;
      return { mode, source: letIn([['Source', `Parquet.Document(File.Contents(MaskedOutFolder & ${mText(rel)}))`], ...typedSteps(table, 'Source')]) };
    }
    case 'sqlite':
      return {
        mode,
        source: letIn([
          // NoCreat: a wrong path is an error, not a new empty database; Timeout: wait for the writer's commit (ms).
          ['Source', `Odbc.DataSource("Driver={" & SqliteOdbcDriver & "};Database=" & SqliteDatabase & ";NoCreat=1;Timeout=5000", [HierarchicalNavigation = false])`],
          ['Data', `Source{[Name = ${mText(table.name)}]}[Data]`],
          ...typedSteps(table, 'Data'),
        ]),
      };
    case 'postgres':
      return {
        mode,
        source: letIn([
          ['Source', 'PostgreSQL.Database(PgServer, PgDatabase)'],
          ['Data', `Source{[Schema = PgSchema, Item = ${mText(table.name)}]}[Data]`],
        ]),
      };
  }
}
