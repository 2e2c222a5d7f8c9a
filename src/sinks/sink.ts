// The sink contract: how a MaskedBatch reaches disk exactly once in both sinks.
//
// Only a MaskedBatch (pipeline/deid.ts) can be written; its columns are OUTPUT_COLUMNS, nothing else.
//
// Protocol for one batch (pipeline/run.ts drives it; a SIGKILL may land between any two steps):
//   1. The file's SHA-256 is looked up in the ledger; committed content is skipped.
//   2. SQLite: BEGIN IMMEDIATE. Cross-batch duplicate fingerprints are inserted (rolled back with
//      the batch if it fails).
//   3. Row group by row group: the Parquet part parts/part-<batch_id>.parquet.tmp is encoded on the
//      encoder thread while the same rows are inserted into SQLite (same transaction); then the
//      part is fsynced.
//   4. SQLite, same transaction: the QC metrics, the reject counts, the Power BI outbox rows (when
//      enabled) and the ledger row naming the part. COMMIT: this is the moment the batch exists.
//   5. The part is renamed to parts/part-<batch_id>.parquet. The raw file is archived.
// Recovery (Store.open, every start): a .tmp part whose batch is committed is renamed (crash
// between 4 and 5); a .tmp part with no committed batch is deleted (crash before 4). So both sinks
// always hold the same rows, and a killed batch is simply processed again from its raw file.

import type { BatchCounts } from '../pipeline/types.js';

export const PART_PREFIX = 'part-';
export const PART_SUFFIX = '.parquet';
export const TMP_SUFFIX = '.tmp';

export function partName(batchId: string): string {
  return `${PART_PREFIX}${batchId}${PART_SUFFIX}`;
}

/** What the ledger records about a committed batch: counts, codes and names, no patient values. */
export interface LedgerEntry extends BatchCounts {
  batchId: string;
  contentSha256: string;
  sourceName: string;
  partFile: string;
  keyFingerprint: string;
  deidProfile: string;
  zip3TableVersion: string;
  /** When the file arrived (its modification time): committedAt - arrivedAt is the batch's latency. */
  arrivedAt: string | null;
  startedAt: string;
  committedAt: string;
  ms: number;
  warnings: string[];
}
