// Reading parts back: which exist, and how many rows of each batch they hold (verify, status). Parts are read
// lazily, one row group at a time (a Blob over the file), so a part of any size is read in bounded memory.
import { openAsBlob, promises as fs } from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import { initWasm } from './encode.js';
import { PART_PREFIX, PART_SUFFIX } from './part-sink.js';

export async function listParts(partsDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(partsDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(PART_PREFIX) && n.endsWith(PART_SUFFIX))
    .sort()
    .map((n) => path.join(partsDir, n));
}

/** A part that cannot be read (torn, truncated, not Parquet): named, so verify and status can report it. */
export class UnreadablePartError extends Error {
  readonly code = 'part_unreadable';
  constructor(readonly file: string, cause: unknown) {
    super(`${path.basename(file)} is not a readable Parquet file (${(cause as Error)?.message?.split('\n')[0] ?? 'unknown error'})`);
  }
}

/** The record batches of a part, row group by row group, optionally only some columns. */
export async function* partBatches(file: string, columns?: string[]): AsyncGenerator<pw.RecordBatch> {
  initWasm();
  let stream: AsyncIterable<pw.RecordBatch>;
  try {
    const pf = await pw.ParquetFile.fromFile(await openAsBlob(file));
    stream = (await pf.stream({ batchSize: 65_536, ...(columns ? { columns } : {}) })) as unknown as AsyncIterable<pw.RecordBatch>;
  } catch (err) {
    throw new UnreadablePartError(file, err);
  }
  try {
    for await (const rb of stream) yield rb;
  } catch (err) {
    throw err instanceof UnreadablePartError ? err : new UnreadablePartError(file, err);
  }
}

/** Row count per batch_id of one part (verify), in bounded memory. */
export async function readPartCounts(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const rb of partBatches(file, ['batch_id'])) {
    const t = arrow.tableFromIPC(rb.intoIPCStream());
    const col = t.getChild('batch_id');
    if (!col) continue;
    for (let i = 0; i < t.numRows; i++) {
      const id = String(col.get(i));
      out.set(id, (out.get(id) ?? 0) + 1);
    }
  }
  return out;
}

