// An independent Parquet reader for tests: DuckDB.
import { DuckDBInstance } from '@duckdb/node-api';

export async function duckQuery(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const reader = await con.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    con.closeSync();
  }
}

export function globOf(dir: string): string {
  return `${dir.replace(/\\/g, '/')}/*.parquet`;
}
