// DDL of the BI tables for each dialect, idempotent (run whenever a writer opens the store): the tables, the seed
// rows of the dimensions, and on PostgreSQL the index on events(batch_ref) that finds a batch's rows (SQLite finds
// them by rowid; see maintain.ts).
import type { ColumnType, TableSpec } from '../schema.js';
import { createTableSql } from '../sqlite/ddl.js';
import { AGE_BANDS, BI_TABLES } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

// PostgreSQL DDL from a TableSpec: unqualified names (the store runs step DDL with the release schema on the
// search_path). A stand-in until stores/ddl.ts (the shared generator for both dialects) is on main.
function pgType(t: ColumnType): string {
  if (typeof t === 'object') return `varchar(${t.text})`;
  return { int: 'integer', bigint: 'bigint', double: 'double precision', date: 'date', timestamp: 'timestamp', longtext: 'text' }[t];
}

export function pgCreateTableSql(t: TableSpec): string {
  const lines = t.columns.map((c) => `  ${c.name} ${pgType(c.type)}${c.notNull ? ' NOT NULL' : ''}`);
  if (t.primaryKey?.length) lines.push(`  PRIMARY KEY (${t.primaryKey.join(', ')})`);
  for (const u of t.unique ?? []) lines.push(`  UNIQUE (${u.join(', ')})`);
  const out = [`CREATE TABLE IF NOT EXISTS ${t.name} (\n${lines.join(',\n')}\n)`];
  for (const ix of t.indexes ?? []) out.push(`CREATE INDEX IF NOT EXISTS ${t.name}_${ix.join('_')}_idx ON ${t.name} (${ix.join(', ')})`);
  return out.join(';\n');
}

/** Rows the dimensions start with. */
function seeds(): string[] {
  const bands = AGE_BANDS.map((b, i) => `('${b.band}', ${i + 1}, ${b.min}, ${b.max ?? 'NULL'})`).join(', ');
  return [
    `INSERT INTO dim_age_band (age_band, sort_order, min_age, max_age) VALUES ${bands} ON CONFLICT (age_band) DO NOTHING`,
    // 000: the prefix Safe Harbor puts in place of the restricted ones; no state.
    "INSERT INTO dim_zip3 (zip3, state) VALUES ('000', NULL) ON CONFLICT (zip3) DO NOTHING",
  ];
}

export function biDdl(dialect: Dialect): string[] {
  if (dialect === 'sqlite') return [...BI_TABLES.map((t) => createTableSql(t)), ...seeds()];
  return [
    ...BI_TABLES.flatMap((t) => pgCreateTableSql(t).split(';\n')),
    'CREATE INDEX IF NOT EXISTS bi_events_batch_ref_idx ON events (batch_ref)',
    ...seeds(),
  ];
}
