// The file-sink contract: files written beside the store's transaction (Parquet parts today). A file sink stages
// under a temporary name while the transaction is open, seals (fsync) before the commit, and publishes (rename,
// idempotent) after it. Recovery decides from the ledger (Store.stagedFates) and runs only in a writer that may
// run it: the SQLite writer holding the output lock, or any worker for batches the store reports abandoned.
import type { MaskedBatch } from '../pipeline/deid.js';
import type { StagedFate } from '../stores/store.js';

export interface StagedFiles {
  /** Rows [from, to) of the batch; resolves when the sink has room for more (backpressure). */
  write(batch: MaskedBatch, from: number, to: number): Promise<void>;
  /** Every row written: flush and fsync. Returns the final names, relative to the output folder (for the ledger). */
  seal(): Promise<string[]>;
  /** After the commit: move the sealed files into place. Idempotent. */
  publish(): Promise<void>;
  /** Give up: the temporary files are removed. */
  abort(): Promise<void>;
}

export interface RecoveryReport {
  published: number;
  deleted: number;
  leftInFlight: number;
}

export interface FileSink {
  readonly name: string;
  stage(batchId: string): StagedFiles;
  /** Batch ids that have temporary files on disk (left by a crash, or in flight in another process). */
  stagedBatchIds(): Promise<string[]>;
  /** Publish the committed, delete the abandoned, leave the in-flight. */
  recover(fates: ReadonlyMap<string, StagedFate>): Promise<RecoveryReport>;
}
