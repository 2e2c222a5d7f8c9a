// CREATE TABLE / INDEX / VIEW text for both stores, generated from the table lists in schema.ts, so SQLite and
// PostgreSQL hold the same tables and columns. Types are the ones Power BI's connectors read back as typed:
//   SQLite (through the SQLite ODBC driver, which maps declared types by prefix): VARCHAR(n), INTEGER, DOUBLE,
//   DATE, TIMESTAMP, TEXT.   PostgreSQL: varchar(n), integer, bigint, double precision, date, timestamp, text.
// Every statement is idempotent (IF NOT EXISTS / OR REPLACE); the caller runs them in one transaction.
import { CLEANED_EVENTS_VIEW, RELEASE_TABLES, type ColumnType, type TableSpec } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** A name that needs no quoting anywhere: lower case, digits and `_`, not starting with a digit. */
export const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** A quoted identifier (both dialects accept double quotes). Names come from schema.ts or the validated config. */
export function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

export function columnType(type: ColumnType, dialect: Dialect): string {
  if (typeof type === 'object') return dialect === 'sqlite' ? `VARCHAR(${type.text})` : `varchar(${type.text})`;
  const sqlite: Record<typeof type, string> = {
    int: 'INTEGER', bigint: 'INTEGER', double: 'DOUBLE', date: 'DATE', timestamp: 'TIMESTAMP', longtext: 'TEXT',
  };
  const postgres: Record<typeof type, string> = {
    int: 'integer', bigint: 'bigint', double: 'double precision', date: 'date', timestamp: 'timestamp', longtext: 'text',
  };
  return (dialect === 'sqlite' ? sqlite : postgres)[type];
}

/**
 * Where the tables go. PostgreSQL: a schema (`medetl`). SQLite: an attached database name (`private`), or none for
 * the main database.
 */
export interface DdlTarget {
  dialect: Dialect;
  schema?: string;
}

const qualified = (t: DdlTarget, name: string) => (t.schema ? `${ident(t.schema)}.${ident(name)}` : ident(name));
const list = (cols: readonly string[]) => cols.map(ident).join(', ');

/** Index names are unique per schema (PostgreSQL) or database (SQLite): table name + columns. */
export function indexName(table: string, cols: readonly string[]): string {
  return `${table}_${cols.join('_')}_idx`;
}

export function createTable(spec: TableSpec, t: DdlTarget): string {
  const lines = spec.columns.map((c) => `  ${ident(c.name)} ${columnType(c.type, t.dialect)}${c.notNull ? ' NOT NULL' : ''}`);
  if (spec.primaryKey) lines.push(`  PRIMARY KEY (${list(spec.primaryKey)})`);
  for (const u of spec.unique ?? []) lines.push(`  UNIQUE (${list(u)})`);
  return `CREATE TABLE IF NOT EXISTS ${qualified(t, spec.name)} (\n${lines.join(',\n')}\n)`;
}

export function createIndexes(spec: TableSpec, t: DdlTarget): string[] {
  return (spec.indexes ?? []).map((cols) => {
    const name = indexName(spec.name, cols);
    // SQLite qualifies the index name (it lives in the table's database); PostgreSQL qualifies the table (the index
    // is created in the table's schema).
    return t.dialect === 'sqlite'
      ? `CREATE INDEX IF NOT EXISTS ${qualified(t, name)} ON ${ident(spec.name)} (${list(cols)})`
      : `CREATE INDEX IF NOT EXISTS ${ident(name)} ON ${qualified(t, spec.name)} (${list(cols)})`;
  });
}

/** The analysts' view. Its tables are qualified with the target's schema (PostgreSQL binds them at creation). */
export function createCleanedEventsView(t: DdlTarget): string {
  const known = new Set(RELEASE_TABLES.map((s) => s.name));
  const select = CLEANED_EVENTS_VIEW.select.replace(/\b(FROM|JOIN) ([a-z_]+)\b/g, (m, kw: string, name: string) =>
    known.has(name) ? `${kw} ${qualified(t, name)}` : m,
  );
  return t.dialect === 'sqlite'
    ? `CREATE VIEW IF NOT EXISTS ${qualified(t, CLEANED_EVENTS_VIEW.name)} AS ${select}`
    : `CREATE OR REPLACE VIEW ${qualified(t, CLEANED_EVENTS_VIEW.name)} AS ${select}`;
}

/** Tables, then their indexes, for one group of tables (RELEASE_TABLES or PRIVATE_TABLES). */
export function createTables(tables: readonly TableSpec[], t: DdlTarget): string[] {
  return [...tables.map((s) => createTable(s, t)), ...tables.flatMap((s) => createIndexes(s, t))];
}

/** The release group: every table of RELEASE_TABLES, their indexes, and the cleaned_events view. */
export function releaseDdl(t: DdlTarget): string[] {
  return [...createTables(RELEASE_TABLES, t), createCleanedEventsView(t)];
}
