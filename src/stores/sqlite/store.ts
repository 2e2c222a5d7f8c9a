// The SQLite store (the embedded default): masked_out/cleaned.sqlite in WAL mode, so Power BI (ODBC) can read while
// a batch is appended, plus the private bookkeeping database outside masked_out/. One writer at a time: the
// composition module (src/compose.ts) holds the output lock while a writer is open.
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ensureDir } from '../../core/fsx.js';
import { isoSeconds } from '../../core/time.js';
import { UserError } from '../../core/errors.js';
import { CLEANED_EVENTS_VIEW, PRIVATE_TABLES, RELEASE_TABLES, SCHEMA_VERSION } from '../schema.js';
import type { Begun, ContentRef, QuarantineRecord, Segment, StagedFate, Store } from '../store.js';
import type { CommitStep } from '../steps.js';
import { createTableSql, createViewSql } from './ddl.js';
import { SqliteLedger } from './ledger.js';
import { SqliteOutboxQueue } from './outbox.js';
import { sqliteSqlTx, SqliteStatements, SqliteTransaction } from './transaction.js';
import type { SqlTx } from '../steps.js';

export interface SqliteFiles {
  /** masked_out/cleaned.sqlite */
  release: string;
  /** paths.state/private.sqlite */
  private: string;
}

/** The identity of a file on disk: a replaced or deleted database is caught before the next batch. */
function identity(file: string): string | null {
  try {
    const st = statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

function openDb(file: string, opts: Database.Options = {}): Database.Database {
  const db = new Database(file, { timeout: 5000, ...opts });
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    privacyPragmas(db);
  }
  return db;
}

/**
 * Deleted or overwritten content must not stay readable in the file: secure_delete zeroes freed cells and pages
 * (re-masked years, delivered outbox chunks), and the WAL, which keeps old page images, is truncated whenever a
 * checkpoint resets it (journal_size_limit 0), by a TRUNCATE checkpoint after every batch that re-masked published
 * rows (SqliteStore.truncateWal, wired in compose.ts) and at every close. (A TRUNCATE checkpoint after every batch
 * measured ~40 ms a batch here: two fsyncs.)
 */
export function privacyPragmas(db: Database.Database): void {
  db.pragma('secure_delete = ON');
  db.pragma('journal_size_limit = 0');
}

/**
 * Checkpoint the WAL into the database and truncate it to zero bytes, without waiting: with a reader in the middle
 * of a snapshot (Power BI through ODBC) it gives up at once and the next batch tries again.
 */
export function truncateWal(db: Database.Database): boolean {
  const timeout = db.pragma('busy_timeout', { simple: true }) as number;
  try {
    db.pragma('busy_timeout = 0');
    const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    return r?.busy === 0;
  } catch {
    return false;
  } finally {
    db.pragma(`busy_timeout = ${timeout}`);
  }
}

/** A plain SQLite database with the privacy pragmas, as a SqlTx (the surrogate-key vault). */
export function openSqliteSql(file: string): { sql: SqlTx; close(): void } {
  ensureDir(path.dirname(file));
  const db = openDb(file);
  return { sql: sqliteSqlTx(db), close: () => db.close() };
}

export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  readonly ledger: SqliteLedger;
  private readonly st: SqliteStatements;
  private readonly fileIdentity: string | null;
  private readonly storeId: string;
  /** The batch transaction this writer has open, if any (in flight for stagedFates). */
  private current: SqliteTransaction | null = null;

  private constructor(
    readonly files: SqliteFiles,
    private readonly db: Database.Database,
    private readonly priv: Database.Database,
    private readonly steps: readonly CommitStep[],
    readonly role: 'writer' | 'reader' = 'writer',
  ) {
    this.st = role === 'writer' ? new SqliteStatements(db) : (null as unknown as SqliteStatements);
    this.ledger = new SqliteLedger(db, priv);
    this.fileIdentity = identity(files.release);
    this.storeId = db.prepare("SELECT value FROM meta WHERE name = 'store_id'").pluck().get() as string;
  }

  /** The writer: creates or migrates both databases. */
  static openWriter(files: SqliteFiles, steps: readonly CommitStep[] = []): SqliteStore {
    ensureDir(path.dirname(files.release));
    ensureDir(path.dirname(files.private));
    const db = openDb(files.release);
    const priv = openDb(files.private);
    try {
      migrate(db, priv, steps);
    } catch (err) {
      db.close();
      priv.close();
      throw err;
    }
    return new SqliteStore(files, db, priv, steps);
  }

  /** The whole store read-only (role 'reader'): its ledger, its identity; every write is refused. */
  static openReadOnly(files: SqliteFiles): SqliteStore {
    const db = new Database(files.release, { readonly: true, fileMustExist: true });
    const priv = new Database(files.private, { readonly: true, fileMustExist: true });
    return new SqliteStore(files, db, priv, [], 'reader');
  }

  private assertWriter(what: string): void {
    if (this.role !== 'writer') throw new UserError(`${what}: this store was opened read-only`, 'store_read_only');
  }

  /** A reader: read-only connections, no migration, nothing written. Missing files read as an empty ledger. */
  static openReader(files: SqliteFiles): SqliteLedger {
    const db = existsSync(files.release) ? new Database(files.release, { readonly: true, fileMustExist: true }) : new Database(':memory:');
    const priv = existsSync(files.private) ? new Database(files.private, { readonly: true, fileMustExist: true }) : null;
    return new SqliteLedger(db, priv, () => {
      db.close();
      priv?.close();
    });
  }

  async begin(content: ContentRef, batchId: string): Promise<Begun> {
    this.assertWriter('begin a batch');
    const done = await this.ledger.committed(content.contentKey);
    if (done) return { kind: 'committed', batchId: done };
    const tx = new SqliteTransaction(this.st, this.priv, this.steps, batchId);
    this.current = tx;
    return { kind: 'open', tx };
  }

  async segments(headKey: string): Promise<Segment[]> {
    const rows = this.db
      .prepare('SELECT batch_id, content_key, start_offset, end_offset FROM batches WHERE head_key = ? ORDER BY end_offset DESC')
      .all(headKey) as { batch_id: string; content_key: string; start_offset: number; end_offset: number }[];
    return rows.map((r) => ({ batchId: r.batch_id, contentKey: r.content_key, startOffset: r.start_offset, endOffset: r.end_offset }));
  }

  /**
   * One writer holds the output lock, so a batch that is not committed is abandoned, unless it is this writer's own
   * open transaction.
   */
  async stagedFates(batchIds: readonly string[]): Promise<Map<string, StagedFate>> {
    const committed = this.db.prepare('SELECT 1 FROM batches WHERE batch_id = ?').pluck();
    const live = this.current?.isOpen ? this.current.batchId : null;
    return new Map(batchIds.map((id) => [id, committed.get(id) ? 'committed' : id === live ? 'in_flight' : 'abandoned']));
  }

  async recordQuarantine(q: QuarantineRecord): Promise<void> {
    this.assertWriter('record a quarantined file');
    this.priv
      .prepare('INSERT INTO quarantined (at, source_name, reason_code, content_key) VALUES (?, ?, ?, ?)')
      .run(isoSeconds(q.atMs), q.sourceName, q.reasonCode, q.contentKey);
  }

  async checkIdentity(): Promise<void> {
    const now = identity(this.files.release);
    if (now === null) {
      throw new UserError(`the store ${this.files.release} was deleted while medetl was running; stopping (nothing was lost: restart to recreate it)`, 'store_replaced');
    }
    if (now !== this.fileIdentity) {
      throw new UserError(`the store ${this.files.release} was replaced by another file while medetl was running; stopping`, 'store_replaced');
    }
    const id = this.db.prepare("SELECT value FROM meta WHERE name = 'store_id'").pluck().get();
    if (id !== this.storeId) throw new UserError(`the store ${this.files.release} changed identity while medetl was running; stopping`, 'store_replaced');
  }

  outboxQueue(sink: string): SqliteOutboxQueue {
    return new SqliteOutboxQueue(this.files.release, sink);
  }

  /** The release database, for reads outside a batch transaction (privacy/age90.ts: which batches committed). */
  releaseSql(): SqlTx {
    return sqliteSqlTx(this.db);
  }

  /** The private database (autocommit), for the privacy layer's facts and pending rewrites. */
  privateSql(): SqlTx {
    return sqliteSqlTx(this.priv);
  }

  /**
   * Checkpoint and truncate the WAL now (after a batch that overwrote published values: the old page images must
   * not stay readable in it). Every close does it too. False when a reader's snapshot kept it from completing.
   */
  reclaim(): void {
    truncateWal(this.db);
  }

  truncateWal(): boolean {
    return truncateWal(this.db);
  }

  /** A fact of the store's `meta` table, or null. */
  async meta(name: string): Promise<string | null> {
    return (this.db.prepare('SELECT value FROM meta WHERE name = ?').pluck().get(name) as string | undefined) ?? null;
  }

  async close(): Promise<void> {
    if (this.role === 'writer' && this.db.inTransaction) this.db.exec('ROLLBACK');
    if (this.role === 'writer') truncateWal(this.db);
    this.db.close();
    this.priv.close();
  }
}

function migrate(db: Database.Database, priv: Database.Database, steps: readonly CommitStep[]): void {
  const hasOld = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cleaned_events'").get() !== undefined;
  if (hasOld) {
    throw new UserError(
      'masked_out/cleaned.sqlite was written by medetl 0.1 (schema 1); this version writes schema 2. Move the old file aside ' +
        '(and masked_out/parts/) and load the archived raw files again with `medetl process`.',
      'store_schema_old',
    );
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    for (const t of RELEASE_TABLES) db.exec(createTableSql(t));
    db.exec(createViewSql(CLEANED_EVENTS_VIEW.name, CLEANED_EVENTS_VIEW.select));
    for (const step of steps) for (const sql of step.ddl('sqlite')) db.exec(sql);
    db.prepare("INSERT OR IGNORE INTO meta (name, value) VALUES ('store_id', ?)").run(randomUUID());
    db.prepare("INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
  for (const t of PRIVATE_TABLES) priv.exec(createTableSql(t));
  for (const step of steps) for (const sql of step.privateDdl?.('sqlite') ?? []) priv.exec(sql);
  // Bookkeeping of a batch that never committed (a crash between the two databases' writes).
  const committed = db.prepare('SELECT 1 FROM batches WHERE batch_id = ?').pluck();
  const drop = priv.prepare('DELETE FROM batch_sources WHERE batch_id = ?');
  for (const id of priv.prepare('SELECT batch_id FROM batch_sources').pluck().all() as string[]) if (!committed.get(id)) drop.run(id);
}
