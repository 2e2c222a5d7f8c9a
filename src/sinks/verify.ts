// Consistency checks across the two sinks and the ledger (medetl verify, medetl status).
import type Database from 'better-sqlite3';
import { listParts, readPartCounts } from './parquet.js';

export interface VerifyReport {
  ok: boolean;
  batches: number;
  sqliteRows: number;
  parquetRows: number;
  problems: string[];
}

export async function verifySinks(db: Database.Database, partsDir: string): Promise<VerifyReport> {
  const problems: string[] = [];
  const ledger = db
    .prepare('SELECT batch_id, rows_in, loaded, rejected, duplicates, part_file FROM batches')
    .all() as { batch_id: string; rows_in: number; loaded: number; rejected: number; duplicates: number; part_file: string }[];
  const sqliteCounts = new Map<string, number>();
  for (const r of db.prepare('SELECT batch_id, COUNT(*) AS n FROM cleaned_events GROUP BY batch_id').all() as { batch_id: string; n: number }[])
    sqliteCounts.set(r.batch_id, r.n);
  const rejectSums = new Map<string, number>();
  for (const r of db.prepare('SELECT batch_id, SUM(rows) AS n FROM batch_rejects GROUP BY batch_id').all() as { batch_id: string; n: number }[])
    rejectSums.set(r.batch_id, r.n);
  const parquetCounts = new Map<string, number>();
  for (const part of await listParts(partsDir)) {
    for (const [id, n] of await readPartCounts(part)) parquetCounts.set(id, (parquetCounts.get(id) ?? 0) + n);
  }
  const known = new Set(ledger.map((b) => b.batch_id));
  for (const b of ledger) {
    const s = sqliteCounts.get(b.batch_id) ?? 0;
    const p = parquetCounts.get(b.batch_id) ?? 0;
    if (s !== b.loaded) problems.push(`batch ${b.batch_id}: ledger says ${b.loaded} loaded, SQLite holds ${s}`);
    if (p !== b.loaded) problems.push(`batch ${b.batch_id}: ledger says ${b.loaded} loaded, Parquet holds ${p}`);
    if (b.rows_in !== b.loaded + b.rejected + b.duplicates)
      problems.push(`batch ${b.batch_id}: rows in ${b.rows_in} != loaded ${b.loaded} + rejected ${b.rejected} + duplicates ${b.duplicates}`);
    if ((rejectSums.get(b.batch_id) ?? 0) !== b.rejected)
      problems.push(`batch ${b.batch_id}: rejects by reason sum to ${rejectSums.get(b.batch_id) ?? 0}, ledger says ${b.rejected}`);
  }
  for (const id of sqliteCounts.keys()) if (!known.has(id)) problems.push(`SQLite holds rows of batch ${id}, which the ledger does not know`);
  for (const id of parquetCounts.keys()) if (!known.has(id)) problems.push(`Parquet holds rows of batch ${id}, which the ledger does not know`);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return { ok: problems.length === 0, batches: ledger.length, sqliteRows: sum(sqliteCounts), parquetRows: sum(parquetCounts), problems };
}
