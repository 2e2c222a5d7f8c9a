// SQLite DDL from the table lists in stores/schema.ts. Declared types are chosen so the SQLite ODBC driver reports
// them right: VARCHAR -> text, INTEGER -> integer, DOUBLE -> double, DATE -> date (YYYY-MM-DD), TIMESTAMP.
import type { ColumnType, TableSpec } from '../schema.js';

function sqliteType(t: ColumnType): string {
  if (typeof t === 'object') return `VARCHAR(${t.text})`;
  return { int: 'INTEGER', bigint: 'INTEGER', double: 'DOUBLE', date: 'DATE', timestamp: 'TIMESTAMP', longtext: 'TEXT' }[t];
}

export function createTableSql(t: TableSpec): string {
  const pk = t.primaryKey ?? [];
  // A single integer key is the rowid itself: no second index, and inserts append.
  const rowidKey = pk.length === 1 && ['int', 'bigint'].includes(t.columns.find((c) => c.name === pk[0])?.type as string);
  const cols = t.columns.map((c) => {
    const key = rowidKey && c.name === pk[0] ? ' PRIMARY KEY' : '';
    return `  ${c.name} ${rowidKey && c.name === pk[0] ? 'INTEGER' : sqliteType(c.type)}${key}${c.notNull && !key ? ' NOT NULL' : ''}`;
  });
  if (pk.length && !rowidKey) cols.push(`  PRIMARY KEY (${pk.join(', ')})`);
  for (const u of t.unique ?? []) cols.push(`  UNIQUE (${u.join(', ')})`);
  const out = [`CREATE TABLE IF NOT EXISTS ${t.name} (\n${cols.join(',\n')}\n);`];
  for (const ix of t.indexes ?? []) out.push(`CREATE INDEX IF NOT EXISTS ix_${t.name}_${ix.join('_')} ON ${t.name} (${ix.join(', ')});`);
  return out.join('\n');
}

export function createViewSql(name: string, select: string): string {
  return `CREATE VIEW IF NOT EXISTS ${name} AS ${select};`;
}
