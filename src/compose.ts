// Composition: the one place that turns the config into concrete classes (a store, file sinks, outbox sinks, a
// source) and wires them into the runner. Nothing else names a concrete store or sink.
import { existsSync } from 'node:fs';
import type { Config } from './config/load.js';
import { ConfigError } from './core/errors.js';
import { acquireLock, type LockHandle } from './core/lock.js';
import { clockFrom, type Clock } from './core/time.js';
import { parseKey, KEY_VARIABLE, type HmacKey } from './config/key.js';
import { createLogger, type Logger } from './ops/log.js';
import { assertZone } from './pipeline/parse.js';
import { Runner } from './runner.js';
import type { FileSink } from './sinks/file-sink.js';
import type { OutboxQueue, OutboxSender, OutboxSink } from './sinks/outbox.js';
import { ParquetPartSink } from './sinks/parquet/part-sink.js';
import { POWERBI_SINK, POWERBI_URL_VARIABLE, PowerBiSink } from './sinks/powerbi.js';
import type { LedgerReader } from './stores/ledger.js';
import { SqliteOutboxQueue } from './stores/sqlite/outbox.js';
import { SqliteStore } from './stores/sqlite/store.js';
import { openConfiguredPostgresStore, openPostgresLedger, openPostgresOutbox } from './stores/postgres/store.js';
import type { Store } from './stores/store.js';
import type { CommitStep } from './stores/steps.js';
import { biStep } from './stores/bi/step.js';
import { UserError } from './core/errors.js';

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
function commitSteps(_config: Config): CommitStep[] {
  return [biStep()];
}

/**
 * The store this config names, opened for writing, with what keeps other writers out: the SQLite store takes the
 * output lock (one writer per output folder); the PostgreSQL store needs none (its advisory locks let many writers,
 * on many machines, share one store and one output folder).
 */
async function openStoreForWriting(config: Config, log: Logger): Promise<{ store: Store; lock: LockHandle | null }> {
  const steps = commitSteps(config);
  if (config.store === 'postgres') return { store: await openConfiguredPostgresStore(config, 'writer', { log, steps }), lock: null };
  const lock = await acquireLock(config.resolved.outputLock, 'write');
  try {
    return { store: SqliteStore.openWriter({ release: config.resolved.sqlite, private: config.resolved.privateSqlite }, steps), lock };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * Open the writer: the store (creating or migrating it) with its lock, the file sinks, and recovery of what a crash
 * left staged. Recovery runs here and nowhere else: readers never change files.
 */
export async function openWriter(config: Config, opts: { logFile?: string; log?: Logger } = {}): Promise<Writer> {
  const key = checkSettings(config);
  const clock = clockFrom(config.env);
  const log = opts.log ?? createLogger(config.resolved.logs, config.log.level, opts.logFile);
  const { store, lock } = await openStoreForWriting(config, log);
  const release = () => lock?.release();
  process.on('exit', release);
  try {
    const fileSinks: FileSink[] = [new ParquetPartSink(config.resolved.maskedOut, config.sinks.parquet.compression, log)];
    await recover(store, fileSinks);
    const outboxSinks = outboxSinksOf(config, log);
    const runner = new Runner({
      config, key, log, store, fileSinks, outboxSinks, clock,
      preflight: async () => {
        if (lock) assertLockHeld(lock);
        await store.checkIdentity();
      },
    });
    return {
      config, key, log, clock, store, fileSinks, outboxSinks, runner,
      openSenders: () => outboxSinks.map((sink) => sink.sender(store.outboxQueue(sink.name))),
      async close() {
        try {
          await store.close();
        } finally {
          release();
          process.removeListener('exit', release);
        }
      },
    };
  } catch (err) {
    await store.close().catch(() => undefined);
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
  if (config.store === 'postgres') return openPostgresLedger(config, log);
  return SqliteStore.openReader({ release: config.resolved.sqlite, private: config.resolved.privateSqlite });
}

/** Whether the store holds anything yet (SQLite: its file exists; PostgreSQL: always asked). */
export function storeMayHoldData(config: Config): boolean {
  return config.store === 'postgres' || existsSync(config.resolved.sqlite);
}

/** One outbox sink's queue, for `medetl push` (no batch writer needed). */
export async function openOutbox(config: Config, log: Logger): Promise<{ sink: OutboxSink; queue: OutboxQueue } | null> {
  const sink = outboxSinksOf(config, log).find((s) => s.name === POWERBI_SINK);
  if (!sink) return null;
  if (config.store === 'postgres') return { sink, queue: await openPostgresOutbox(config, sink.name, log) };
  // The store must exist (and be migrated) before a queue can read it.
  return { sink, queue: new SqliteOutboxQueue(config.resolved.sqlite, sink.name) };
}
