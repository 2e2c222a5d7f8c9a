// The PostgreSQL store (store: postgres): the second implementation of the store contract (stores/store.ts).
// One pool per process; one connection per open batch (stores/postgres/transaction.ts); the ledger reader and
// stagedFates on the others. Many processes on many machines may write at once: advisory locks keep one loader per
// content and a gap-free commit order, and the server rolls back whatever a killed or disconnected writer left open.
import type pg from 'pg';
import type { Config } from '../../config/load.js';
import type { Logger } from '../../ops/log.js';
import { UserError } from '../../core/errors.js';
import type { CommitStep, SqlTx } from '../steps.js';
import type { Begun, ContentRef, QuarantineRecord, Segment, StagedFate, Store } from '../store.js';
import { checkout, connectError, createPool, describeTarget, parsePgUrl, pgUrlFrom, type PgRole, type PgTarget } from './connect.js';
import { ident } from '../ddl.js';
import { sqlState, storeError } from './errors.js';
import { PgLedgerReader } from './ledger.js';
import { checkReadable, ensureSchema, readIdentity, type StoreIdentity } from './migrate.js';
import { pgNames, SEQUENCES, type PgNames, type PgSchemas } from './names.js';
import { PgOutboxQueue } from './outbox.js';
import { PgBatchTransaction, utcTimestamp } from './transaction.js';
import { numberParams, SHARED_TYPES } from './sql.js';

export interface PostgresStoreOptions extends Partial<PgSchemas> {
  /** Work inside every batch transaction, in order (stores/steps.ts); their tables are created by a writer. */
  steps?: readonly CommitStep[];
  /** Connections in this process's pool (one per open batch, plus readers). */
  maxConnections?: number;
  log?: Logger;
}

export const DEFAULT_SCHEMAS: PgSchemas = { schema: 'medetl', privateSchema: 'medetl_private' };

export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly ledger: PgLedgerReader;
  private readonly txs = new Set<PgBatchTransaction>();
  private readonly queues = new Set<PgOutboxQueue>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly names: PgNames,
    private readonly target: PgTarget,
    readonly role: PgRole,
    readonly identity: StoreIdentity,
    private readonly steps: readonly CommitStep[] = [],
  ) {
    this.ledger = new PgLedgerReader(pool, names);
  }

  private writable(operation: string): void {
    if (this.role !== 'writer') throw new UserError(`this PostgreSQL store was opened read-only; ${operation} needs a writer`, 'store_read_only');
    if (this.closed) throw new UserError(`the PostgreSQL store is closed; ${operation} is not possible`, 'store_closed');
  }

  async begin(content: ContentRef, batchId: string): Promise<Begun> {
    this.writable('begin');
    const n = this.names;
    let conn;
    try {
      conn = await checkout(this.pool);
    } catch (err) {
      throw storeError(err, 'connecting for a batch');
    }
    try {
      await conn.client.query('BEGIN');
      // Unqualified names in the commit steps' SQL: the release schema, then the private one (this transaction only).
      await conn.client.query(`SET LOCAL search_path TO ${ident(n.schema)}, ${ident(n.privateSchema)}`);
      // The batch id first (never contended), then the content key: a second process given the same content waits
      // here until the first commits or rolls back, then reads the ledger.
      await conn.client.query('SELECT pg_advisory_xact_lock($1::bigint), pg_advisory_xact_lock($2::bigint)', [n.lock.batch(batchId), n.lock.content(content.contentKey)]);
      const done = await conn.client.query<{ batch_id: string }>(`SELECT batch_id FROM ${n.t('batches')} WHERE content_key = $1`, [content.contentKey]);
      if (done.rows.length) {
        await conn.client.query('ROLLBACK');
        conn.release();
        return { kind: 'committed', batchId: done.rows[0].batch_id };
      }
      const ref = await conn.client.query<{ ref: number }>(`SELECT nextval(${n.seq(SEQUENCES.batchRef)})::int AS ref`);
      const tx: PgBatchTransaction = new PgBatchTransaction(conn, n, batchId, ref.rows[0].ref, content.contentKey, this.steps, () => this.txs.delete(tx));
      this.txs.add(tx);
      return { kind: 'open', tx };
    } catch (err) {
      const e = storeError(err, 'beginning a batch', conn.broken);
      const ok = conn.broken ? false : await conn.client.query('ROLLBACK').then(() => true, () => false);
      conn.release(!ok);
      throw e;
    }
  }

  async segments(headKey: string): Promise<Segment[]> {
    try {
      const r = await this.pool.query<{ batch_id: string; content_key: string; start_offset: string; end_offset: string }>(
        `SELECT batch_id, content_key, start_offset, end_offset FROM ${this.names.t('batches')} WHERE head_key = $1 ORDER BY end_offset DESC, seq`,
        [headKey],
      );
      return r.rows.map((x) => ({ batchId: x.batch_id, contentKey: x.content_key, startOffset: Number(x.start_offset), endOffset: Number(x.end_offset) }));
    } catch (err) {
      throw storeError(err, 'reading segments');
    }
  }

  /**
   * A batch's writer holds the batch id's advisory lock for its whole transaction, and the server drops it when the
   * writer dies. So: lock taken = no live writer; then the ledger (read after the lock) says committed or abandoned.
   */
  async stagedFates(batchIds: readonly string[]): Promise<Map<string, StagedFate>> {
    const fates = new Map<string, StagedFate>();
    if (batchIds.length === 0) return fates;
    const ids = [...new Set(batchIds)];
    let conn;
    try {
      conn = await checkout(this.pool);
    } catch (err) {
      throw storeError(err, 'checking staged batches');
    }
    try {
      await conn.client.query('BEGIN');
      const locked = await conn.client.query<{ id: string; free: boolean }>(
        'SELECT u.id, pg_try_advisory_xact_lock(u.k) AS free FROM unnest($1::text[], $2::bigint[]) AS u(id, k)',
        [ids, ids.map((id) => this.names.lock.batch(id))],
      );
      const committed = await conn.client.query<{ batch_id: string }>(`SELECT batch_id FROM ${this.names.t('batches')} WHERE batch_id = ANY($1::text[])`, [ids]);
      await conn.client.query('ROLLBACK');
      conn.release();
      const done = new Set(committed.rows.map((r) => r.batch_id));
      for (const r of locked.rows) fates.set(r.id, done.has(r.id) ? 'committed' : r.free ? 'abandoned' : 'in_flight');
      return fates;
    } catch (err) {
      const e = storeError(err, 'checking staged batches', conn.broken);
      conn.release(true);
      throw e;
    }
  }

  async recordQuarantine(q: QuarantineRecord): Promise<void> {
    this.writable('recordQuarantine');
    try {
      await this.pool.query(`INSERT INTO ${this.names.p('quarantined')} (at, source_name, reason_code, content_key) VALUES ($1::timestamp, $2, $3, $4)`, [
        utcTimestamp(q.atMs), q.sourceName.slice(0, 1024), q.reasonCode.slice(0, 40), q.contentKey,
      ]);
    } catch (err) {
      throw storeError(err, 'recording a quarantined file');
    }
  }

  async checkIdentity(): Promise<void> {
    const gone = () =>
      new UserError(
        `the PostgreSQL store ${this.names.schema} in ${describeTarget(this.target)} was deleted or replaced while medetl was running: restart medetl`,
        'store_replaced',
      );
    let id: StoreIdentity | null;
    try {
      const conn = await checkout(this.pool);
      try {
        id = await readIdentity(conn.client, this.names);
      } finally {
        conn.release();
      }
    } catch (err) {
      const state = sqlState(err);
      if (state === '3D000' || state === '3F000' || state === '42P01') throw gone();
      throw storeError(err, 'checking the store identity');
    }
    if (!id || id.storeId !== this.identity.storeId) throw gone();
  }

  /** The queue an outbox sink's sender drains (sinks/outbox.ts), on this store's pool. */
  outboxQueue(sink: string, opts: { closesStore?: boolean } = {}): PgOutboxQueue {
    this.writable('the outbox');
    const q: PgOutboxQueue = new PgOutboxQueue(this.pool, this.names, sink, async () => {
      this.queues.delete(q);
      if (opts.closesStore) await this.close();
    });
    this.queues.add(q);
    return q;
  }

  /** This store's ledger as a standalone reader: closing it closes the store. */
  readerLedger(): PgLedgerReader {
    return new PgLedgerReader(this.pool, this.names, () => this.close());
  }

  async meta(name: string): Promise<string | null> {
    const r = await this.pool.query<{ value: string }>(`SELECT value FROM ${this.names.t('meta')} WHERE name = $1`, [name]);
    return r.rows[0]?.value ?? null;
  }

  /**
   * Statements outside any batch transaction, each in a short transaction of its own with the batch transaction's
   * search path (release schema, then private), so the shared SQL of the privacy layer reads the same on both stores.
   */
  private autocommitSql(): SqlTx {
    const n = this.names;
    const exec = async <T>(sql: string, params: readonly unknown[]): Promise<T[]> => {
      let conn;
      try {
        conn = await checkout(this.pool);
      } catch (err) {
        throw storeError(err, 'connecting');
      }
      try {
        await conn.client.query('BEGIN');
        await conn.client.query(`SET LOCAL search_path TO ${ident(n.schema)}, ${ident(n.privateSchema)}`);
        const r = await conn.client.query({ text: numberParams(sql), values: [...params], types: SHARED_TYPES });
        await conn.client.query('COMMIT');
        return r.rows as T[];
      } catch (err) {
        await conn.client.query('ROLLBACK').catch(() => undefined);
        throw storeError(err, 'a statement outside a batch');
      } finally {
        conn.release();
      }
    };
    return { dialect: 'postgres', run: async (sql, p = []) => void (await exec(sql, p)), all: <T>(sql: string, p: readonly unknown[] = []) => exec<T>(sql, p) };
  }

  releaseSql(): SqlTx {
    return this.autocommitSql();
  }

  privateSql(): SqlTx {
    this.writable('the private state');
    return this.autocommitSql();
  }

  /** Open batches in this process (for a graceful stop). */
  get openBatches(): number {
    return this.txs.size;
  }

  /** Rolls back what is still open, releases the outbox leases, closes the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const tx of [...this.txs]) await tx.rollback();
    for (const q of [...this.queues]) await q.close();
    await this.pool.end();
  }
}

/**
 * Opens the store at `url` (MEDETL_PG_URL). A writer creates the schemas when missing (one transaction, under an
 * advisory lock); a reader checks they exist and are readable, and its connections are read-only on the server.
 * Any start-up failure is one UserError line naming what to fix, and the pool is closed.
 */
export async function openPostgresStore(
  url: string,
  opts: PostgresStoreOptions = {},
  how: { role: PgRole } = { role: 'writer' },
): Promise<PostgresStore> {
  const target = parsePgUrl(url);
  const names = pgNames({ schema: opts.schema ?? DEFAULT_SCHEMAS.schema, privateSchema: opts.privateSchema ?? DEFAULT_SCHEMAS.privateSchema });
  const log = opts.log;
  const pool = createPool(url, {
    role: how.role,
    max: opts.maxConnections,
    onIdleError: (code) => log?.warn({ event: 'pg_idle_connection_lost', code }, 'an idle PostgreSQL connection was closed'),
  });
  try {
    let conn;
    try {
      conn = await checkout(pool);
    } catch (err) {
      throw connectError(err, target);
    }
    try {
      const steps = opts.steps ?? [];
      const identity = how.role === 'writer' ? await ensureSchema(conn.client, names, target, steps) : await checkReadable(conn.client, names, target);
      return new PostgresStore(pool, names, target, how.role, identity, steps);
    } finally {
      conn.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}

/** The store `store: postgres` names: MEDETL_PG_URL from .env, the schemas from config.yaml's `postgres` block. */
export function openConfiguredPostgresStore(
  config: Pick<Config, 'env' | 'postgres'>,
  role: PgRole,
  opts: { log?: Logger; steps?: readonly CommitStep[] } = {},
): Promise<PostgresStore> {
  return openPostgresStore(
    pgUrlFrom(config.env),
    { schema: config.postgres.schema, privateSchema: config.postgres.private_schema, log: opts.log, steps: opts.steps },
    { role },
  );
}

/** The ledger for readers (status, verify, score, the dashboard): a read-only store whose close() ends its pool. */
export async function openPostgresLedger(config: Pick<Config, 'env' | 'postgres'>, log?: Logger): Promise<PgLedgerReader> {
  const store = await openConfiguredPostgresStore(config, 'reader', { log });
  return store.readerLedger();
}

/** One outbox sink's queue without a batch writer (`medetl push`): its close() closes the store it opened. */
export async function openPostgresOutbox(config: Pick<Config, 'env' | 'postgres'>, sink: string, log?: Logger): Promise<PgOutboxQueue> {
  const store = await openConfiguredPostgresStore(config, 'writer', { log });
  return store.outboxQueue(sink, { closesStore: true });
}
