// The BI tables as Parquet files for Power BI's Parquet route: masked_out/bi/<table>.parquet, one per published table
// (dimensions and KPIs; never the bi_* helpers), typed from the tables' specs (INT32, DOUBLE, UTF8, DATE). Each file
// is written under a temporary name, fsynced, then renamed into place, so a reader sees the old file or the new one.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { retryFs, writeFileSynced } from '../../core/fsx.js';
import { BI_PUBLISHED_TABLES } from '../../stores/bi/schema.js';
import type { BiTable } from '../../stores/ledger.js';
import type { ColumnSpec, TableSpec } from '../../stores/schema.js';
import { encodeParquet, type ParquetCompression } from './encode.js';
import { TMP_SUFFIX } from './part-sink.js';

export const BI_FOLDER = 'bi';

export type BiRows = ReadonlyMap<string, readonly Record<string, unknown>[]>;

/** The published BI tables, in the order they are written. */
export const BI_EXPORT_TABLES: readonly TableSpec[] = BI_PUBLISHED_TABLES;
export const biTableNames = (): BiTable[] => BI_EXPORT_TABLES.map((t) => t.name as BiTable);

const DAY_MS = 86_400_000;

function validity(n: number, valid: (i: number) => boolean): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    if (valid(i)) bitmap[i >> 3] |= 1 << (i & 7);
    else nulls++;
  }
  return { bitmap, nulls };
}

/** One column of rows as an Arrow vector of the column's declared type. */
function columnVector(c: ColumnSpec, rows: readonly Record<string, unknown>[]): arrow.Vector {
  const values = rows.map((r) => (r[c.name] === undefined ? null : r[c.name]));
  const n = values.length;
  if (typeof c.type === 'object' || c.type === 'longtext') {
    return arrow.vectorFromArray(values.map((v) => (v === null ? null : String(v))), new arrow.Utf8());
  }
  const v = validity(n, (i) => values[i] !== null);
  if (c.type === 'double') {
    const data = Float64Array.from(values, (x) => (x === null ? 0 : Number(x)));
    return arrow.makeVector(arrow.makeData({ type: new arrow.Float64(), length: n, nullCount: v.nulls, nullBitmap: v.bitmap, data }));
  }
  if (c.type === 'date') {
    // 'YYYY-MM-DD' (both stores hand dates back as text) -> days since 1970-01-01.
    const data = Int32Array.from(values, (x) => (x === null ? 0 : Math.round(Date.parse(`${String(x).slice(0, 10)}T00:00:00Z`) / DAY_MS)));
    return arrow.makeVector(arrow.makeData({ type: new arrow.DateDay(), length: n, nullCount: v.nulls, nullBitmap: v.bitmap, data }));
  }
  if (c.type === 'int') {
    const data = Int32Array.from(values, (x) => (x === null ? 0 : Number(x)));
    return arrow.makeVector(arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: v.nulls, nullBitmap: v.bitmap, data }));
  }
  throw new Error(`bi export: column type ${c.type} of ${c.name} is not exported`);
}

export function biArrowTable(spec: TableSpec, rows: readonly Record<string, unknown>[]): arrow.Table {
  return new arrow.Table(Object.fromEntries(spec.columns.map((c) => [c.name, columnVector(c, rows)])));
}

/** masked_out/bi/<table>.parquet for every published BI table, each replaced atomically. */
export async function writeBiFiles(maskedOut: string, tables: BiRows, compression: ParquetCompression): Promise<{ tables: number; rows: number }> {
  const dir = path.join(maskedOut, BI_FOLDER);
  await fs.mkdir(dir, { recursive: true });
  let rows = 0;
  for (const spec of BI_EXPORT_TABLES) {
    const data = tables.get(spec.name) ?? [];
    const file = path.join(dir, `${spec.name}.parquet`);
    const tmp = `${file}.${process.pid}${TMP_SUFFIX}`;
    try {
      await writeFileSynced(tmp, encodeParquet(biArrowTable(spec, data), compression));
      await retryFs(() => fs.rename(tmp, file));
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    rows += data.length;
  }
  return { tables: BI_EXPORT_TABLES.length, rows };
}
