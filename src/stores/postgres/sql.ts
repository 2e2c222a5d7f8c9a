// The SqlTx of stores/steps.ts on a PostgreSQL connection: the SQL both stores share, with `?` parameters numbered
// for PostgreSQL, and results shaped as SQLite gives them (counts and sums as numbers, dates as text).
import pg from 'pg';
import type { SqlTx } from '../steps.js';

/** `?` placeholders as `$1, $2, ...`, leaving quoted text, quoted names and comments alone. */
export function numberParams(sql: string): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      out += `$${++n}`;
    } else {
      out += c;
    }
  }
  return out;
}

const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

/** count(*) and sum() are bigint or numeric in PostgreSQL and numbers in SQLite: numbers here too. Dates stay text. */
export const SHARED_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    if (oid === DATE || oid === TIMESTAMP || oid === TIMESTAMPTZ) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

/** A SqlTx whose statements run through `exec` (the transaction's error handling and rollback). */
export function pgSqlTx(client: pg.ClientBase, exec: <T>(what: string, fn: () => Promise<T>) => Promise<T>): SqlTx {
  return {
    dialect: 'postgres',
    run: (sql, params = []) =>
      exec('a commit step', async () => {
        await client.query({ text: numberParams(sql), values: [...params], types: SHARED_TYPES });
      }),
    all: <T>(sql: string, params: readonly unknown[] = []) =>
      exec('a commit step', async () => (await client.query({ text: numberParams(sql), values: [...params], types: SHARED_TYPES })).rows as T[]),
  };
}
