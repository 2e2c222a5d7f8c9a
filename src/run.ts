// The ways medetl runs, each one source driven through the one runner: `watch` (the folder source), `process`
// (a list of files) and, with NATS, `worker`. Commands call these; tests call them in-process.
import path from 'node:path';
import type { Config } from './config/load.js';
import { createLogger } from './ops/log.js';
import { openLedger, openWriter, type Writer } from './compose.js';
import { drive, silentReporter, stopLine, type BatchRunner, type DriveHandle, type DriveSummary, type Reporter } from './drive.js';
import { Alerter, type AlertTransport } from './ops/alerts.js';
import type { BatchResult } from './runner.js';
import { autoCompactor } from './sinks/parquet/compactor.js';
import type { OutboxSender } from './sinks/outbox.js';
import { FilesSource } from './sources/files.js';
import { FolderSource } from './sources/folder/source.js';
import type { Source } from './sources/source.js';

export interface WatchOptions {
  /** Process the backlog and whatever arrives until incoming/ is empty, then stop. */
  drain?: boolean;
  /** What the person watching is told (commands/console.ts); default: nothing. */
  reporter?: Reporter;
  /** Aborting it stops gracefully, like a first Ctrl+C. */
  signal?: AbortSignal;
  handleSignals?: boolean;
  logFile?: string;
  onBatch?: (r: BatchResult) => void;
  /** Alert transports; default: from .env (SLACK_WEBHOOK_URL, SMTP_*). */
  alertTransports?: AlertTransport[];
  retryAttempts?: number;
  retryBaseMs?: number;
  parkMs?: number;
  /** Tests only: a stand-in runner that fails on demand (the store, sinks and source stay real). */
  runner?: (w: Writer) => BatchRunner;
}

export interface WatchHandle extends DriveHandle {
  readonly writer: Writer;
}

async function driveWith(
  writer: Writer, source: Source, opts: WatchOptions, reporter: Reporter, endReason?: () => 'drained' | 'lock_lost' | undefined,
  beside: OutboxSender[] = [],
): Promise<DriveHandle> {
  const alerter = Alerter.fromConfig(writer.config, writer.log, opts.alertTransports);
  const h = drive(source, opts.runner?.(writer) ?? writer.runner, {
    config: writer.config, log: writer.log, reporter, alerter, senders: [...writer.openSenders(), ...beside],
    drainSendersMs: opts.drain ? 30_000 : 0, retryAttempts: opts.retryAttempts, retryBaseMs: opts.retryBaseMs,
    parkMs: opts.parkMs ?? writer.config.watch.retry_park_ms,
    onBatch: opts.onBatch, signal: opts.signal, handleSignals: opts.handleSignals, endReason,
  });
  const done = h.done.finally(async () => {
    await source.close();
    await alerter.close(3_000);
    await writer.close();
  });
  done.catch(() => undefined);
  return { done, stop: h.stop };
}

/**
 * `medetl watch`: take the incoming/ lock and the output lock, recover, scan the backlog, start watching.
 * Resolves once the watcher is up; `done` settles when it has stopped and cleaned up.
 */
export async function startWatch(config: Config, opts: WatchOptions = {}): Promise<WatchHandle> {
  const reporter = opts.reporter ?? silentReporter;
  // The incoming/ lock first: a second watcher on the same folder is told so, before anything else is opened.
  const log = createLogger(config.resolved.logs, config.log.level, opts.logFile);
  const source = await FolderSource.open(config, {
    drain: opts.drain,
    log,
    onLockLost: (file) => reporter.error(`medetl: the lock ${file} was removed or taken by another process; stopping`),
  });
  let writer: Writer;
  try {
    writer = await openWriter(config, { log });
  } catch (err) {
    await source.close();
    throw err;
  }
  const { tookOverFrom } = source.lock;
  writer.log.info({
    event: 'watch_start', glob: config.watch.glob, drain: !!opts.drain,
    ...(tookOverFrom ? { staleLockFrom: { pid: tookOverFrom.pid, hostname: tookOverFrom.hostname, started: tookOverFrom.started } } : {}),
  });
  if (tookOverFrom) reporter.info(`took over a stale lock (pid ${tookOverFrom.pid} on ${tookOverFrom.hostname} is gone)`);
  const shown = path.relative(process.cwd(), config.resolved.incoming) || '.';
  reporter.info(opts.drain ? `draining ${shown}/ (${config.watch.glob})` : `watching ${shown}/ for ${config.watch.glob}; Ctrl+C to stop`);
  // Beside the loop: cleaned.parquet and bi/*.parquet kept current for Power BI (sinks.parquet.auto_compact_ms).
  const { parquet } = config.sinks;
  const compactor = autoCompactor({
    maskedOut: config.resolved.maskedOut, outFile: config.resolved.compactParquet, compression: parquet.compression,
    intervalMs: parquet.auto_compact_ms, openReader: () => openLedger(config), log: writer.log,
  });
  const h = await driveWith(writer, source, opts, reporter, () => (source.endedBy === 'stopped' ? undefined : source.endedBy), compactor ? [compactor] : []);
  const done = h.done.then((s) => {
    reporter.summary(s, stopLine(s));
    return s;
  });
  return { done, stop: h.stop, writer };
}

/** Run the daemon until it drains (drain: true), `signal` aborts, or a signal arrives (handleSignals: true). */
export async function runWatch(config: Config, opts: WatchOptions = {}): Promise<DriveSummary> {
  return (await startWatch(config, opts)).done;
}

/** `medetl process FILE...`: each file once through the same runner, under the output lock. */
export async function runFiles(
  config: Config,
  files: readonly string[],
  opts: { onSuccess: 'keep' | 'archive' | 'delete'; onBatch?: (r: BatchResult) => void; reporter?: Reporter },
): Promise<DriveSummary> {
  const writer = await openWriter(config);
  const source = new FilesSource(config, files, opts.onSuccess, writer.log);
  const reporter = opts.reporter ?? silentReporter;
  const h = await driveWith(writer, source, { onBatch: opts.onBatch, retryAttempts: 4, retryBaseMs: 250, parkMs: 0 }, reporter);
  return h.done;
}
