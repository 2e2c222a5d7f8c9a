// Consistency checks across the store, the Parquet parts and the ledger (medetl verify, medetl status).
// Read-only: it opens nothing for writing and changes no file.
import path from 'node:path';
import type { LedgerReader } from './stores/ledger.js';
import { listParts, readPartCounts, UnreadablePartError } from './sinks/parquet/read.js';

export interface VerifyReport {
  ok: boolean;
  batches: number;
  storeRows: number;
  parquetRows: number;
  problems: string[];
}

export async function verifyOutputs(ledger: LedgerReader, outDir: string): Promise<VerifyReport> {
  const problems: string[] = [];
  const batches = await ledger.batches();
  const stored = await ledger.storedRowsByBatch();
  const rejects = await ledger.rejectsByBatch();
  const parquet = new Map<string, number>();
  const partFiles = await listParts(path.join(outDir, 'parts'));
  for (const part of partFiles) {
    try {
      for (const [id, n] of await readPartCounts(part)) parquet.set(id, (parquet.get(id) ?? 0) + n);
    } catch (err) {
      if (!(err instanceof UnreadablePartError)) throw err;
      problems.push(`parts/${path.basename(part)}: ${err.message}`);
    }
  }
  const onDisk = new Set(partFiles.map((f) => path.relative(outDir, f).split(path.sep).join('/')));
  const known = new Set(batches.map((b) => b.batchId));
  for (const b of batches) {
    const s = stored.get(b.batchId) ?? 0;
    const p = parquet.get(b.batchId) ?? 0;
    if (s !== b.loaded) problems.push(`batch ${b.batchId}: ledger says ${b.loaded} loaded, the store holds ${s}`);
    if (p !== b.loaded) problems.push(`batch ${b.batchId}: ledger says ${b.loaded} loaded, Parquet holds ${p}`);
    for (const f of b.files) if (!onDisk.has(f)) problems.push(`batch ${b.batchId}: ${f} is missing`);
    if (b.rowsIn !== b.loaded + b.rejected + b.duplicates)
      problems.push(`batch ${b.batchId}: rows in ${b.rowsIn} != loaded ${b.loaded} + rejected ${b.rejected} + duplicates ${b.duplicates}`);
    const r = Object.values(rejects.get(b.batchId) ?? {}).reduce((a, x) => a + x, 0);
    if (r !== b.rejected) problems.push(`batch ${b.batchId}: rejects by reason sum to ${r}, ledger says ${b.rejected}`);
  }
  for (const id of stored.keys()) if (!known.has(id)) problems.push(`the store holds rows of batch ${id}, which the ledger does not know`);
  for (const id of parquet.keys()) if (!known.has(id)) problems.push(`Parquet holds rows of batch ${id}, which the ledger does not know`);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return { ok: problems.length === 0, batches: batches.length, storeRows: sum(stored), parquetRows: sum(parquet), problems };
}
