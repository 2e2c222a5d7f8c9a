// Re-masking published Parquet (privacy/age90.ts): a part that holds rows of a patient who has crossed 90 is
// rewritten with dob_year and event_year null on those rows. Atomic: the new bytes go to
// parts/part-<id>.parquet.remask.tmp (a name neither listParts nor the part sink's recovery picks up), are fsynced,
// and are renamed over the part; a crash leaves the old part and a temporary file that the next rewrite replaces
// (sweepRemaskTemps removes strays at writer start). Every other byte of the row data and the schema is kept.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import { retryFs, writeFileSynced } from '../../core/fsx.js';
import type { Logger } from '../../ops/log.js';
import { compactParts } from './compact.js';
import { initWasm, writerProperties, type ParquetCompression } from './encode.js';
import { PARTS_FOLDER, partName, TMP_SUFFIX } from './part-sink.js';

export const REMASK_SUFFIX = '.remask.tmp';
const MASKED = ['dob_year', 'event_year'] as const;

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Whether row i of `data` is valid (its own offset counted), straight from the validity bitmap. */
function validAt(data: arrow.Data, i: number): boolean {
  const bm = data.nullBitmap;
  if (!bm || bm.length === 0 || data.nullCount === 0) return true;
  const j = data.offset + i;
  return (bm[j >> 3] & (1 << (j & 7))) !== 0;
}

/** An Int32 column of one record batch with the rows in `hits` set to null (the bitmap copied, those bits cleared). */
function nulled(data: arrow.Data, hits: readonly number[]): arrow.Data {
  const n = data.length;
  const values = (data.values as Int32Array).slice(data.offset, data.offset + n);
  const bitmap = new Uint8Array((n + 7) >> 3);
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) bitmap.fill(0xff);
  else for (let i = 0; i < n; i++) if (validAt(data, i)) bitmap[i >> 3] |= 1 << (i & 7);
  for (const i of hits) bitmap[i >> 3] &= ~(1 << (i & 7));
  let nulls = 0;
  for (let i = 0; i < n; i++) if ((bitmap[i >> 3] & (1 << (i & 7))) === 0) nulls++;
  return arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: nulls, nullBitmap: bitmap, data: values });
}

/** Null dob_year and event_year on the rows whose patient_key is in `keys`. Returns the table and the rows changed. */
export function maskTable(table: arrow.Table, keys: ReadonlySet<string>): { table: arrow.Table; changed: number } {
  const schema = table.schema;
  const at = (name: string) => schema.fields.findIndex((f) => f.name === name);
  const pk = at('patient_key');
  const cols = MASKED.map(at);
  if (pk < 0 || cols.some((c) => c < 0)) throw new Error('not a medetl part: patient_key, dob_year or event_year is missing');
  let changed = 0;
  // Record batches share their dictionary: decode each dictionary once.
  const wantOf = new Map<unknown, { want: Uint8Array; wanted: number }>();
  const batches = table.batches.map((rb) => {
    const keyData = rb.data.children[pk];
    const n = rb.numRows;
    const hits: number[] = [];
    if (arrow.DataType.isDictionary(keyData.type)) {
      const dict = keyData.dictionary!;
      let w = wantOf.get(dict);
      if (!w) {
        const want = new Uint8Array(dict.length);
        let wanted = 0;
        for (let k = 0; k < dict.length; k++) if (keys.has(String(dict.get(k)))) (want[k] = 1), wanted++;
        wantOf.set(dict, (w = { want, wanted }));
      }
      const { want, wanted } = w;
      if (wanted === 0) return rb;
      const idx = keyData.values as Int32Array;
      for (let i = 0; i < n; i++) if (want[idx[keyData.offset + i]] && validAt(keyData, i)) hits.push(i);
    } else {
      const v = rb.getChildAt(pk)!;
      for (let i = 0; i < n; i++) if (keys.has(String(v.get(i)))) hits.push(i);
    }
    if (hits.length === 0) return rb;
    for (const i of hits) if (cols.some((c) => validAt(rb.data.children[c], i))) changed++;
    const children = rb.data.children.map((d, c) => (cols.includes(c) ? nulled(d, hits) : d));
    return new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0, children }));
  });
  return { table: new arrow.Table(schema, batches), changed };
}

/** Rewrite one Parquet file with the rows of `keys` masked; 'unchanged' when none of them had a year. */
export async function maskRowsInParquet(file: string, keys: ReadonlySet<string>, compression: ParquetCompression): Promise<'rewritten' | 'unchanged'> {
  initWasm();
  const t = arrow.tableFromIPC(pw.readParquet(await fs.readFile(file)).intoIPCStream());
  const { table, changed } = maskTable(t, keys);
  if (changed === 0) return 'unchanged';
  const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const bytes = pw.writeParquet(wasmTable, writerProperties(compression));
  const tmp = file + REMASK_SUFFIX;
  await writeFileSynced(tmp, bytes);
  await retryFs(() => fs.rename(tmp, file));
  return 'rewritten';
}

/** Remove `*.remask.tmp` left by a crash during a rewrite (the writer is the only one that writes them). */
export async function sweepRemaskTemps(outDir: string): Promise<number> {
  let n = 0;
  for (const dir of [path.join(outDir, PARTS_FOLDER), outDir]) {
    let names: string[] = [];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith(REMASK_SUFFIX)) continue;
      await fs.rm(path.join(dir, name), { force: true });
      n++;
    }
  }
  return n;
}

/** The Parquet side of re-masking (privacy/age90.ts PartRewriter): parts, then cleaned.parquet, then bi/ exports. */
export class ParquetRemasker {
  constructor(
    private readonly outDir: string,
    private readonly compactFile: string,
    private readonly compression: ParquetCompression,
    private readonly log: Logger,
  ) {}

  async rewrite(batchId: string, keys: ReadonlySet<string>): Promise<'rewritten' | 'unchanged' | 'missing' | 'staged'> {
    const final = path.join(this.outDir, PARTS_FOLDER, partName(batchId));
    if (!(await exists(final))) return (await exists(final + TMP_SUFFIX)) ? 'staged' : 'missing';
    return maskRowsInParquet(final, keys, this.compression);
  }

  async afterRewrites(): Promise<void> {
    if (await exists(this.compactFile)) {
      const t0 = performance.now();
      const r = await compactParts(path.join(this.outDir, PARTS_FOLDER), this.compactFile, this.compression);
      const ms = Math.round(performance.now() - t0);
      this.log.info({ event: 'age90_compact_rebuilt', parts: r.parts, rows: r.rows, ms }, 'cleaned.parquet rebuilt from the re-masked parts');
    }
    await this.invalidateBiExports();
  }

  /**
   * masked_out/bi/*.parquet are exports of the BI tables; after a re-mask they may hold a 90+ patient's year. They
   * are removed (the command that writes them writes them again from the store's BI tables, which stores/bi.ts
   * corrects inside the batch transaction).
   */
  async invalidateBiExports(): Promise<void> {
    const dir = path.join(this.outDir, 'bi');
    let names: string[] = [];
    try {
      names = await fs.readdir(dir);
    } catch {
      return;
    }
    let removed = 0;
    for (const name of names) {
      if (!name.endsWith('.parquet')) continue;
      await fs.rm(path.join(dir, name), { force: true });
      removed++;
    }
    if (removed) this.log.warn({ event: 'age90_bi_exports_removed', files: removed }, 'masked_out/bi/ exports removed after a re-mask: write them again');
  }
}
