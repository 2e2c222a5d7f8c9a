// The store contract: the one place a batch becomes real. A store owns the transaction and the ledger; SQLite
// (embedded default, stores/sqlite/) and PostgreSQL (stores/postgres/) implement it, and the same contract tests
// (test/stores/contract.ts) run against both. The exactly-once protocol that drives it is in src/runner.ts.
//
// What a store promises:
// - begin(content) either reports that this content is already committed (under any file name), or opens one
//   transaction. Two processes that begin the same content at once do not both load it: the second waits for the
//   first and then sees it committed (PostgreSQL: an advisory lock on the content key; the unique constraint on
//   the content key is the backstop).
// - Everything a transaction writes (fingerprints, rows, ledger row, metrics, rejects, outbox chunks, BI tables,
//   attestation) becomes visible at commit() at once, or never: a SIGKILL at any moment leaves no partial batch.
// - Readers (status, verify, the dashboard) never change anything: a store opened with role 'reader' runs no
//   migration and no recovery.
import type { MaskedBatch } from '../pipeline/deid.js';
import type { BatchCounts, ColumnMetrics } from '../pipeline/types.js';
import type { DriftRow, LedgerReader, QuarantineRecord } from './ledger.js';
import type { SqlTx } from './steps.js';
import type { OutboxQueue } from './outbox.js';

export type { DriftRow, QuarantineRecord };

/** Which bytes of a file a batch covers, named by keyed hashes (nothing in the release is an unkeyed hash). */
export interface ContentRef {
  /** Keyed hash of the file's bytes [0, endOffset): names the content, whatever the file is called. */
  contentKey: string;
  /** Keyed hash of the file's first bytes (HEAD_BYTES): finds earlier segments of a file that grew. */
  headKey: string;
  startOffset: number;
  endOffset: number;
}

/** What the ledger records about a committed batch: counts, codes and keyed references; no names, no times. */
export interface LedgerEntry extends BatchCounts, ContentRef {
  batchId: string;
  /** Files the file sinks staged for this batch, relative to the output folder (e.g. parts/part-<id>.parquet). */
  files: string[];
  /** HMAC of a constant under the key: names the key, reveals nothing usable. */
  keyId: string;
  keyMode: 'hmac' | 'surrogate';
  deidProfile: 'safe_harbor' | 'limited_data_set';
  zip3Vintage: string;
  zip3TableHash: string;
  rulesetVersion: string;
  warnings: string[];
}

/** Bookkeeping kept out of the release (private state): exactly-once does not need it inside the transaction. */
export interface PrivateRecord {
  sourceName: string;
  /** When the file arrived (its modification time), ms; null when unknown. */
  arrivedAtMs: number | null;
  startedAtMs: number;
  committedAtMs: number;
  ms: number;
}

/** A chunk for an outbox sink (sinks/outbox.ts), written inside the batch transaction. */
export interface OutboxWrite {
  sink: string;
  rows: number;
  payload: string;
}

export interface BatchCommit {
  entry: LedgerEntry;
  metrics: ColumnMetrics[];
  outbox: OutboxWrite[];
  drift: DriftRow[];
  /** The signed Safe Harbor attestation of this batch (JSON), when the privacy layer made one. */
  attestation: string | null;
  private: PrivateRecord;
}

/** One open batch transaction. Calls are sequential: the runner awaits each before the next. */
export interface BatchTransaction {
  readonly batchId: string;
  /** SQL inside this transaction, for the extension steps and readers of history (stores/steps.ts). */
  readonly sql: SqlTx;
  /**
   * Cross-batch duplicates: 1 for an event never committed before, 0 for one an earlier batch holds. The new
   * fingerprints are recorded in this transaction (rolled back with it).
   */
  markSeen(fingerprints: BigInt64Array): Promise<Uint8Array>;
  /** Rows [from, to) of the masked batch; chunk by chunk, so a huge batch never sits in one statement. */
  insertRows(batch: MaskedBatch, from: number, to: number): Promise<void>;
  /** Ledger row, metrics, rejects, outbox chunks, drift, attestation; then the commit steps (BI tables...); COMMIT. */
  commit(c: BatchCommit): Promise<void>;
  /** Safe to call after a failed call, or twice. */
  rollback(): Promise<void>;
}

export type Begun = { kind: 'committed'; batchId: string } | { kind: 'open'; tx: BatchTransaction };

/**
 * Thrown by commit() when another process committed the same content meanwhile (the unique content key caught it):
 * not an error of the file. The runner treats it as "already committed".
 */
export class AlreadyCommittedError extends Error {
  readonly code = 'already_committed';
  constructor(readonly batchId: string) {
    super('this content was committed by another process; this batch rolled back');
    this.name = 'AlreadyCommittedError';
  }
}

/** Thrown by commit() when the ledger row disagrees with the rows inserted: a bug, never committed. */
export class LedgerCountsError extends Error {
  readonly code = 'ledger_counts_mismatch';
  constructor() {
    super('the ledger entry disagrees with the rows inserted (loaded, or rows in = loaded + rejected + duplicates); nothing was committed');
  }
}

/** What recovery may do with a file a file sink staged: publish it, delete it, or leave it to its live writer. */
export type StagedFate = 'committed' | 'abandoned' | 'in_flight';

/** Earlier committed segments of a file (appends, and big files loaded as several batches). */
export interface Segment {
  batchId: string;
  contentKey: string;
  startOffset: number;
  endOffset: number;
}

/** A store opened by the one writer (role 'writer'): migrations ran, recovery may run. */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** The ledger, read through the same connection. */
  readonly ledger: LedgerReader;
  begin(content: ContentRef, batchId: string): Promise<Begun>;
  /** Committed segments whose head key is this one, by end offset (the longest first). */
  segments(headKey: string): Promise<Segment[]>;
  /** For recovery of staged files: which of these batches committed, which are abandoned, which are in flight. */
  stagedFates(batchIds: readonly string[]): Promise<Map<string, StagedFate>>;
  /** Private bookkeeping: a file was quarantined. */
  recordQuarantine(q: QuarantineRecord): Promise<void>;
  /** Fails with a clear error when the store was deleted or replaced under us (checked before each batch). */
  checkIdentity(): Promise<void>;
  /** One outbox sink's queue (sinks/outbox.ts), on a connection of its own, for that sink's sender. */
  outboxQueue(sink: string): OutboxQueue;
  /** A fact about the store as a whole (`meta`: profile, key mode, schema version), or null. */
  meta(name: string): Promise<string | null>;
  /** SQL on the release outside any batch transaction (reads after a commit: privacy/age90.ts). */
  releaseSql(): SqlTx;
  /** SQL on the private state outside any batch transaction, each statement committed at once. */
  privateSql(): SqlTx;
  /** Give freed pages back so overwritten values are unreadable (SQLite: truncate the WAL); a no-op elsewhere. */
  reclaim?(): void;
  close(): Promise<void>;
}
