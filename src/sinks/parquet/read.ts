// Reading parts back: which exist, and how many rows of each batch they hold (verify, status).
import { promises as fs } from 'node:fs';
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

/** Row count per batch_id of one part (verify). */
export async function readPartCounts(file: string): Promise<Map<string, number>> {
  initWasm();
  const bytes = await fs.readFile(file);
  const t = arrow.tableFromIPC(pw.readParquet(bytes, { columns: ['batch_id'] }).intoIPCStream());
  const out = new Map<string, number>();
  const col = t.getChild('batch_id');
  if (!col) return out;
  for (let i = 0; i < t.numRows; i++) {
    const id = String(col.get(i));
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

