// Composition: the one place that turns the config into concrete classes (a store, file sinks, outbox sinks, a
// source) and wires them into the runner. Nothing else names a concrete store or sink.
import { existsSync } from 'node:fs';
import type { Config } from './config/load.js';
import { parseKey, KEY_VARIABLE, type HmacKey } from './config/key.js';
import { ConfigError, UserError } from './core/errors.js';
import { acquireLock, type LockHandle } from './core/lock.js';
import { clockFrom, type Clock } from './core/time.js';
import { createLogger, type Logger } from './ops/log.js';
import { assertZone } from './pipeline/parse.js';
import { AGE90_RELEASE_DDL, Age90Guard } from './privacy/age90.js';
import { AttestationSink } from './privacy/attestation-sink.js';
import type { ReleaseInspector } from './stores/inspect.js';
import { applyNamePolicy } from './privacy/names.js';
import { assertStoreProfile, storeProfileStep } from './privacy/store-profile.js';
import { Vault } from './privacy/vault.js';
import { Runner } from './runner.js';
import type { FileSink } from './sinks/file-sink.js';
import type { OutboxQueue, OutboxSender, OutboxSink } from './sinks/outbox.js';
import { ParquetPartSink } from './sinks/parquet/part-sink.js';
import { ParquetRemasker, sweepRemaskTemps } from './sinks/parquet/rewrite.js';
import { POWERBI_SINK, POWERBI_URL_VARIABLE, PowerBiSink } from './sinks/powerbi.js';
import { biStep, revisePatients } from './stores/bi/step.js';
import type { LedgerReader } from './stores/ledger.js';
import { HistoryKeeper } from './stores/history.js';
import { openConfiguredPostgresStore, openPostgresLedger, openPostgresOutbox } from './stores/postgres/store.js';
import { openPublisher, type NatsConnection, type Publisher } from './sources/nats/index.js';
import { SqliteInspector } from './stores/sqlite/inspect.js';
import { SqliteOutboxQueue } from './stores/sqlite/outbox.js';
import { openSqliteSql, SqliteStore } from './stores/sqlite/store.js';
import type { CommitStep, SqlTx } from './stores/steps.js';
import type { Store } from './stores/store.js';

/** Everything one writer process needs: opened together, closed together. */
export interface Writer {
  config: Config;
  key: HmacKey;
  log: Logger;
  clock: Clock;
  store: Store;
  fileSinks: FileSink[];
  outboxSinks: OutboxSink[];
  runner: Runner;
  /** One sender per outbox sink, on a queue of its own. */
  openSenders(): OutboxSender[];
  close(): Promise<void>;
}

/** Checks that fail fast, before anything is opened: key, time zone, sinks' settings. */
function checkSettings(config: Config): HmacKey {
  const key = parseKey(config.env[KEY_VARIABLE]);
  // From here on, file names are printed only through the project's name policy (ops/safe-name.ts).
  applyNamePolicy(config, key);
  try {
    assertZone(config.input.timezone);
  } catch {
    throw new ConfigError(`input.timezone: unknown time zone ${JSON.stringify(config.input.timezone)}`);
  }
  if (config.sinks.powerbi.enabled && !config.env[POWERBI_URL_VARIABLE]?.trim()) {
    throw new ConfigError(`sinks.powerbi.enabled is true but ${POWERBI_URL_VARIABLE} is not set in .env`);
  }
  return key;
}

function outboxSinksOf(config: Config, log: Logger): OutboxSink[] {
  if (!config.sinks.powerbi.enabled) return [];
  return [
    new PowerBiSink({
      url: config.env[POWERBI_URL_VARIABLE]?.trim() ?? '',
      postsPerMinute: config.sinks.powerbi.posts_per_minute,
      rowsPerPost: config.sinks.powerbi.rows_per_post,
      log,
    }),
  ];
}

/** Work inside every batch transaction (stores/steps.ts), in order. */
function commitSteps(config: Config, age90: Age90Guard | null, history: HistoryKeeper | null): CommitStep[] {
  return [
    // The patients' QC history (private state), as of this batch (stores/history.ts).
    ...(history ? [history.step()] : []),
    // One profile and one key mode per store (privacy/store-profile.ts).
    storeProfileStep(config.deid.profile, config.deid.key_mode),
    // Patients who crossed 90: their earlier rows are masked again (privacy/age90.ts); the BI tables follow.
    ...(age90 ? [age90.step()] : []),
    // The BI tables (stores/bi/), after the re-mask, so they see the rows as released.
    biStep(),
  ];
}

/**
 * The store this config names, opened for writing, with what keeps other writers out: the SQLite store takes the
 * output lock (one writer per output folder); the PostgreSQL store needs none (its advisory locks let many writers,
 * on many machines, share one store and one output folder).
 */
async function openStoreForWriting(config: Config, log: Logger, steps: CommitStep[]): Promise<{ store: Store; lock: LockHandle | null }> {
  if (config.store === 'postgres') return { store: await openConfiguredPostgresStore(config, 'writer', { log, steps }), lock: null };
  const lock = await acquireLock(config.resolved.outputLock, 'write');
  try {
    return { store: SqliteStore.openWriter({ release: config.resolved.sqlite, private: config.resolved.privateSqlite }, steps), lock };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** The vault of surrogate mode: a file of its own beside the SQLite store's private state, or the private schema. */
async function openVault(config: Config, store: Store, key: HmacKey): Promise<{ vault: Vault; close(): void } | null> {
  if (config.deid.key_mode !== 'surrogate') return null;
  if (config.store === 'postgres') {
    const vault = new Vault(store.privateSql(), key);
    await vault.init();
    return { vault, close: () => undefined };
  }
  const v = openSqliteSql(config.resolved.vault);
  const vault = new Vault(v.sql, key);
  await vault.init();
  return { vault, close: () => v.close() };
}

/**
 * Open the writer: the store (creating or migrating it) with its lock, the file sinks, and recovery of what a crash
 * left staged (and of Parquet rewrites a re-mask left pending). Recovery runs here and nowhere else: readers never
 * change files.
 */
export async function openWriter(config: Config, opts: { logFile?: string; log?: Logger } = {}): Promise<Writer> {
  const key = checkSettings(config);
  const clock = clockFrom(config.env);
  const log = opts.log ?? createLogger(config.resolved.logs, config.log.level, opts.logFile);
  // The age90 guard is made before the store (its commit step is registered with it) and wired to it after.
  let opened: Store | null = null;
  const later = (pick: (s: Store) => SqlTx): SqlTx => ({
    dialect: config.store,
    run: (q, p) => pick(opened!).run(q, p),
    all: (q, p) => pick(opened!).all(q, p),
  });
  const age90 = new Age90Guard({
    zone: config.input.timezone,
    priv: later((s) => s.privateSql()),
    release: later((s) => s.releaseSql()),
    fates: (ids) => opened!.stagedFates(ids),
    rewriter: new ParquetRemasker(config.resolved.maskedOut, config.resolved.compactParquet, config.sinks.parquet.compression, log),
    log,
    onRemaskCommitted: () => void opened!.reclaim?.(),
    revise: (tx, ctx, refs, change) => revisePatients(tx, ctx, refs, change),
  });
  const history = config.history.enabled ? new HistoryKeeper({ readings: config.history.readings, instants: config.history.instants }) : null;
  const { store, lock } = await openStoreForWriting(config, log, commitSteps(config, age90, history));
  opened = store;
  const release = () => lock?.release();
  process.on('exit', release);
  let vault: Awaited<ReturnType<typeof openVault>> = null;
  try {
    await assertStoreProfile(store.ledger, config.deid.profile);
    const storedMode = await store.meta('key_mode');
    if (storedMode !== null && storedMode !== config.deid.key_mode) {
      throw new UserError(
        `this store holds key mode ${storedMode} batches; the config asks for ${config.deid.key_mode}. One store holds one key mode: ` +
          'point paths.masked_out and paths.state (or the PostgreSQL schemas) at new ones, or set deid.key_mode back',
        'store_profile_mismatch',
      );
    }
    vault = await openVault(config, store, key);
    const fileSinks: FileSink[] = [new ParquetPartSink(config.resolved.maskedOut, config.sinks.parquet.compression, log)];
    const attestations = new AttestationSink(config.resolved.attestations, log);
    await recover(store, [...fileSinks, attestations]);
    await sweepRemaskTemps(config.resolved.maskedOut);
    await age90.applyPendingRewrites();
    const outboxSinks = outboxSinksOf(config, log);
    const runner = new Runner({
      config, key, log, store, fileSinks, outboxSinks, clock, privacy: { age90, vault: vault?.vault ?? null, attestations }, history,
      preflight: async () => {
        if (lock) assertLockHeld(lock);
        await store.checkIdentity();
      },
    });
    const v = vault;
    return {
      config, key, log, clock, store, fileSinks, outboxSinks, runner,
      openSenders: () => outboxSinks.map((sink) => sink.sender(store.outboxQueue(sink.name))),
      async close() {
        try {
          await store.close();
          v?.close();
        } finally {
          release();
          process.removeListener('exit', release);
        }
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
    vault?.close();
    release();
    process.removeListener('exit', release);
    throw err;
  }
}

function assertLockHeld(lock: LockHandle): void {
  if (!lock.stillHeld()) throw new UserError(`the output lock ${lock.file} was removed or taken by another process; stopping`, 'lock_lost');
}

/** Publish the staged files of committed batches, delete those of abandoned ones (see runner.ts). */
async function recover(store: Store, sinks: readonly FileSink[]): Promise<void> {
  for (const sink of sinks) {
    const ids = await sink.stagedBatchIds();
    if (ids.length) await sink.recover(await store.stagedFates(ids));
  }
}

/** The ledger for readers (status, verify, score, the dashboard): read-only, no recovery, nothing written. */
export async function openLedger(config: Config, log?: Logger): Promise<LedgerReader> {
  try {
    applyNamePolicy(config, parseKey(config.env[KEY_VARIABLE]));
  } catch {
    // no usable key: names that are not safe are shown under a per-process key (ops/safe-name.ts)
  }
  if (config.store === 'postgres') return openPostgresLedger(config, log);
  return SqliteStore.openReader({ release: config.resolved.sqlite, private: config.resolved.privateSqlite });
}

/** Whether the store holds anything yet (SQLite: its file exists; PostgreSQL: always asked). */
export function storeMayHoldData(config: Config): boolean {
  return config.store === 'postgres' || existsSync(config.resolved.sqlite);
}

/**
 * `watch --publish`: the work-queue publisher (NATS JetStream; the stream is created when missing). The key is
 * checked first (work items carry a keyed content hash) and the name policy applied (names are logged through it).
 */
export async function openWorkPublisher(config: Config, log: Logger): Promise<Publisher & { connection: NatsConnection }> {
  const key = parseKey(config.env[KEY_VARIABLE]);
  applyNamePolicy(config, key);
  return openPublisher(config, log, key);
}

/** One outbox sink's queue, for `medetl push` (no batch writer needed). */
export async function openOutbox(config: Config, log: Logger): Promise<{ sink: OutboxSink; queue: OutboxQueue } | null> {
  const sink = outboxSinksOf(config, log).find((s) => s.name === POWERBI_SINK);
  if (!sink) return null;
  if (config.store === 'postgres') return { sink, queue: await openPostgresOutbox(config, sink.name, log) };
  // The store must exist (and be migrated) before a queue can read it.
  return { sink, queue: new SqliteOutboxQueue(config.resolved.sqlite, sink.name) };
}

/** The release DDL of the commit steps (medetl audit allow-lists their tables, views and indexes). */
export function releaseStepDdl(config: Config): string[] {
  return [...commitSteps(config, null, null).flatMap((s) => s.ddl('sqlite')), ...AGE90_RELEASE_DDL];
}

/** The release store as `medetl audit` reads it, or null when there is none yet. Read-only. */
export function openReleaseInspector(config: Config): ReleaseInspector | null {
  if (!existsSync(config.resolved.sqlite)) return null;
  return new SqliteInspector(config.resolved.sqlite, config.resolved.privateSqlite);
}
