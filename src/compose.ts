// Composition: the one place that turns the config into concrete classes (a store, file sinks, outbox sinks, a
// source) and wires them into the runner. Nothing else names a concrete store or sink.
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
 * Open the writer: take the output lock (one writer per output folder), open the store (creating or migrating it),
 * and recover what a crash left staged. Recovery runs here and nowhere else: readers never change files.
 */
export async function openWriter(config: Config, opts: { logFile?: string; log?: Logger } = {}): Promise<Writer> {
  const key = checkSettings(config);
  const clock = clockFrom(config.env);
  const log = opts.log ?? createLogger(config.resolved.logs, config.log.level, opts.logFile);
  const lock = await acquireLock(config.resolved.outputLock, 'write');
  const releaseOnExit = () => lock.release();
  process.on('exit', releaseOnExit);
  let store: SqliteStore | null = null;
  try {
    store = SqliteStore.openWriter({ release: config.resolved.sqlite, private: config.resolved.privateSqlite }, commitSteps(config));
    const fileSinks: FileSink[] = [new ParquetPartSink(config.resolved.maskedOut, config.sinks.parquet.compression, log)];
    await recover(store, fileSinks);
    const outboxSinks = outboxSinksOf(config, log);
    const s = store;
    const runner = new Runner({
      config, key, log, store: s, fileSinks, outboxSinks, clock,
      preflight: async () => {
        assertLockHeld(lock);
        await s.checkIdentity();
      },
    });
    return {
      config, key, log, clock, store: s, fileSinks, outboxSinks, runner,
      openSenders: () => outboxSinks.map((sink) => sink.sender(new SqliteOutboxQueue(s.releaseFile, sink.name))),
      async close() {
        try {
          await s.close();
        } finally {
          lock.release();
          process.removeListener('exit', releaseOnExit);
        }
      },
    };
  } catch (err) {
    await store?.close().catch(() => undefined);
    lock.release();
    process.removeListener('exit', releaseOnExit);
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
export function openLedger(config: Config): LedgerReader {
  return SqliteStore.openReader({ release: config.resolved.sqlite, private: config.resolved.privateSqlite });
}

/** One outbox sink's queue, for `medetl push` (no batch writer needed). */
export function openOutbox(config: Config, log: Logger): { sink: OutboxSink; queue: OutboxQueue } | null {
  const sink = outboxSinksOf(config, log).find((s) => s.name === POWERBI_SINK);
  if (!sink) return null;
  // The store must exist (and be migrated) before a queue can read it.
  return { sink, queue: new SqliteOutboxQueue(config.resolved.sqlite, sink.name) };
}
