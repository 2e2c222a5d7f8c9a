// The ways medetl runs, each one source driven through the one loop (drive.ts): `watch` (the folder source through
// the runner), `process` (a list of files through the runner), `worker` (the NATS source through the runner) and
// `watch --publish` (the folder source through the publish runner). Commands call these; tests call them in-process.
import path from 'node:path';
import type { Config } from './config/load.js';
import { UserError } from './core/errors.js';
import { createLogger, type Logger } from './ops/log.js';
import { openLedger, openWorkPublisher, openWriter, type Writer } from './compose.js';
import { drive, silentReporter, stopLine, type BatchRunner, type DriveHandle, type DriveSummary, type Reporter } from './drive.js';
import { Alerter, type AlertTransport } from './ops/alerts.js';
import { PublishRunner, publishStopLine, type PublishCounts } from './publish-runner.js';
import type { BatchResult } from './runner.js';
import { autoCompactor } from './sinks/parquet/compactor.js';
import type { OutboxSender } from './sinks/outbox.js';
import { FilesSource } from './sources/files.js';
import { FolderSource } from './sources/folder/source.js';
import { describeServers, NATS_URL_VARIABLE, natsSettings, openNatsSource } from './sources/nats/index.js';
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

/** What the loop drives a source into: a runner, the senders beside it, and what to close after it. */
interface Behind {
  config: Config;
  log: Logger;
  runner: BatchRunner;
  senders: OutboxSender[];
  close(): Promise<void>;
}

function driveInto(
  behind: Behind, source: Source, opts: WatchOptions, reporter: Reporter, endReason?: () => 'drained' | 'lock_lost' | undefined,
): DriveHandle {
  const alerter = Alerter.fromConfig(behind.config, behind.log, opts.alertTransports);
  const h = drive(source, behind.runner, {
    config: behind.config, log: behind.log, reporter, alerter, senders: behind.senders,
    drainSendersMs: opts.drain ? 30_000 : 0, retryAttempts: opts.retryAttempts, retryBaseMs: opts.retryBaseMs,
    parkMs: opts.parkMs ?? behind.config.watch.retry_park_ms,
    onBatch: opts.onBatch, signal: opts.signal, handleSignals: opts.handleSignals, endReason,
  });
  const done = h.done.finally(async () => {
    await source.close();
    await alerter.close(3_000);
    await behind.close();
  });
  done.catch(() => undefined);
  return { done, stop: h.stop };
}

async function driveWith(
  writer: Writer, source: Source, opts: WatchOptions, reporter: Reporter, endReason?: () => 'drained' | 'lock_lost' | undefined,
  beside: OutboxSender[] = [],
): Promise<DriveHandle> {
  const behind: Behind = {
    config: writer.config, log: writer.log, runner: opts.runner?.(writer) ?? writer.runner, senders: [...writer.openSenders(), ...beside],
    close: () => writer.close(),
  };
  return driveInto(behind, source, opts, reporter, endReason);
}

/** The writer for a source already open; the source is closed again when the writer cannot be opened. */
async function openWriterBeside(config: Config, log: Logger, source: Source): Promise<Writer> {
  try {
    return await openWriter(config, { log });
  } catch (err) {
    await source.close();
    throw err;
  }
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
  const writer = await openWriterBeside(config, log, source);
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

export interface WorkerOptions extends Omit<WatchOptions, 'drain'> {
  /** The id the worker's heartbeats carry (default: host, pid and a random suffix). */
  workerId?: string;
}

export interface WorkerHandle extends WatchHandle {
  /** The id `status` lists this worker under. */
  readonly workerId: string | null;
}

/**
 * `medetl worker`: a durable pull consumer on the NATS work queue, one message at a time through the same runner as
 * `process`, into the shared PostgreSQL store and the shared output folder. No output lock (PostgreSQL's advisory
 * locks let many writers share one store; part names carry the random batch id, so two workers cannot clash); the
 * writer's recovery only touches batches whose writer is gone. SIGINT/SIGTERM: the batch in flight finishes and is
 * acknowledged, then `done` settles.
 */
export async function startWorker(config: Config, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  if (config.store !== 'postgres') {
    throw new UserError(
      `medetl worker needs store: postgres in config.yaml (this config has store: ${config.store}); workers share one PostgreSQL store, a SQLite store has one writer`,
      'store_not_shared',
    );
  }
  const reporter = opts.reporter ?? silentReporter;
  const s = natsSettings(config); // a bad nats.shared_dir fails before any connection
  const log = createLogger(config.resolved.logs, config.log.level, opts.logFile);
  const source = await openNatsSource(config, log, { workerId: opts.workerId });
  const writer = await openWriterBeside(config, log, source);
  const where = describeServers(config.env[NATS_URL_VARIABLE]);
  writer.log.info({ event: 'worker_start', worker: source.workerId, stream: s.stream, consumer: s.consumer, servers: where });
  reporter.info(`worker ${source.workerId}: taking work from stream ${s.stream} at ${where}; Ctrl+C to stop`);
  const h = await driveWith(writer, source, opts, reporter);
  const done = h.done.then((sum) => {
    reporter.summary(sum, stopLine(sum));
    return sum;
  });
  return { done, stop: h.stop, writer, workerId: source.workerId };
}

export interface PublishSummary extends DriveSummary {
  published: PublishCounts;
  /** Files in the shared folder whose work item is still to be published (the next start publishes them). */
  pendingPublish: number;
}

/**
 * `medetl watch --publish`: the folder source (incoming/ lock, stability gate, backlog, rescan), each stable file
 * moved into the shared folder and published as a work item instead of loaded. At start, whatever a crash left in
 * the shared folder without a message is published again (the duplicate window drops those that went out).
 */
export async function startPublish(config: Config, opts: Omit<WatchOptions, 'runner' | 'onBatch'> & { onBatch?: (r: BatchResult) => void } = {}): Promise<DriveHandle & { done: Promise<PublishSummary> }> {
  const reporter = opts.reporter ?? silentReporter;
  const s = natsSettings(config);
  const log = createLogger(config.resolved.logs, config.log.level, opts.logFile);
  // The incoming/ lock first: a second publisher (or watcher) on the same folder is told so before anything else.
  const source = await FolderSource.open(config, {
    drain: opts.drain,
    log,
    onLockLost: (file) => reporter.error(`medetl: the lock ${file} was removed or taken by another process; stopping`),
  });
  let publisher: Awaited<ReturnType<typeof openWorkPublisher>>;
  try {
    publisher = await openWorkPublisher(config, log);
  } catch (err) {
    await source.close();
    throw err;
  }
  try {
    await publisher.recover();
  } catch (err) {
    await publisher.close();
    await source.close();
    throw err;
  }
  const where = describeServers(config.env[NATS_URL_VARIABLE]);
  log.info({ event: 'publish_start', glob: config.watch.glob, drain: !!opts.drain, stream: s.stream, servers: where });
  const shown = path.relative(process.cwd(), config.resolved.incoming) || '.';
  reporter.info(`${opts.drain ? 'publishing the backlog of' : 'publishing'} ${shown}/ (${config.watch.glob}) to stream ${s.stream} at ${where}${opts.drain ? '' : '; Ctrl+C to stop'}`);
  const runner = new PublishRunner(publisher, log);
  let pendingAtEnd = 0;
  const close = async () => {
    pendingAtEnd = publisher.pending; // before close(), which forgets them (they stay in the shared folder)
    await publisher.close();
  };
  const h = driveInto({ config, log, runner, senders: [], close }, source, opts, reporter, () => (source.endedBy === 'stopped' ? undefined : source.endedBy));
  const done = h.done.then((sum) => {
    const out: PublishSummary = { ...sum, published: { ...runner.counts }, pendingPublish: pendingAtEnd };
    const why = { drained: 'drained', signal: 'stopped', stopped: 'stopped', lock_lost: 'lock lost', error: 'stopped on an error' }[sum.stoppedBy];
    reporter.summary(out, publishStopLine(why, runner.counts, sum.failed, out.pendingPublish, sum.ms));
    return out;
  });
  return { done, stop: h.stop };
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
