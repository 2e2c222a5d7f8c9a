// Work that runs inside a batch's transaction, written once for both stores: the BI tables (stores/bi.ts), the
// re-masking of patients who crossed 90 (privacy/), QC history. A store calls every step in order just before
// COMMIT, so what they write is consistent with the rows, and rolls back with them.
//
// SQL in steps is the subset SQLite and PostgreSQL share (ON CONFLICT upserts, window functions, CTEs); parameters
// are written `?` (the PostgreSQL store numbers them).

export interface SqlTx {
  readonly dialect: 'sqlite' | 'postgres';
  /** A statement without results. */
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  /** A query; rows as plain objects keyed by column name. */
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

/** What a step knows about the batch being committed. */
export interface StepContext {
  batchRef: number;
  batchId: string;
  /** The processing instant (ms): the release time. */
  nowMs: number;
}

export interface CommitStep {
  readonly name: string;
  /** Release tables (and views) the step needs, created idempotently when the store is opened for writing. */
  ddl(dialect: 'sqlite' | 'postgres'): string[];
  /** Private-state tables the step needs (SQLite: the private database; PostgreSQL: the private schema). */
  privateDdl?(dialect: 'sqlite' | 'postgres'): string[];
  /**
   * Runs inside the batch transaction, just before COMMIT. `priv` reaches the private state: on PostgreSQL the same
   * transaction; on SQLite a connection of its own whose writes commit at once (so write there only what is harmless
   * to keep if the batch then rolls back, such as facts keyed by patient).
   */
  run(tx: SqlTx, priv: SqlTx, ctx: StepContext): Promise<void>;
}
