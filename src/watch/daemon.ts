// The daemon behind `medetl watch`: lock, watcher + periodic rescan, a bounded queue of settling/ready files,
// one batch at a time through processFile, retries for transient errors, quarantine for everything else.
// What it promises: no file is lost, none is read half-written, and a bad file never stops it. Exactly-once
// within a file is the pipeline's (ledger by content hash, one transaction per batch).
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Config } from '../config/load.js';
import { Alerter, type AlertTransport } from '../ops/alerts.js';
import { ensureDir } from '../core/fsx.js';
import type { Logger } from '../ops/log.js';
import { retry } from '../core/retry.js';
import type { BatchResult, ProcessOptions, RunContext } from '../pipeline/run.js';
import { createReporter, type OutputMode, type Reporter } from './console.js';
import { POWERBI_URL_VARIABLE, PowerBiSender } from '../sinks/powerbi.js';
import { acquireLock, type LockHandle } from './lock.js';
import { FileQueue, type QueueEntry } from './queue.js';
import { nameFilter, scanIncoming } from './scan.js';
import { endsWithNewline, judge } from './stable.js';

/** The pipeline functions the daemon calls (src/pipeline/run.ts and quarantine.ts); replaceable in tests. */
export interface Pipeline {
  openContext(config: Config, opts?: { logFile?: string }): RunContext;
  closeContext(ctx: RunContext): void;
  processFile(file: string, ctx: RunContext, opts: ProcessOptions): Promise<BatchResult>;
  quarantineFile(file: string, config: Config, reason: { code: string; message: string; lines?: number[]; metrics?: object }): Promise<string>;
}

async function defaultPipeline(): Promise<Pipeline> {
  const [run, q] = await Promise.all([import('../pipeline/run.js'), import('../pipeline/quarantine.js')]);
  return { openContext: run.openContext, closeContext: run.closeContext, processFile: run.processFile, quarantineFile: q.quarantineFile };
}

export interface DaemonOptions {
  /** Process the backlog and whatever arrives until incoming/ is empty and nothing is queued, then stop. */
  drain?: boolean;
  /** Console output (default 'silent'; the CLI passes human, quiet or json). */
  output?: OutputMode;
  /** Or a reporter of your own (wins over `output`). */
  reporter?: Reporter;
  /** Aborting it stops the daemon gracefully, like a first Ctrl+C. */
  signal?: AbortSignal;
  /** Install SIGINT/SIGTERM (and SIGBREAK on Windows) handlers: the first stops gracefully, the second exits at once. */
  handleSignals?: boolean;
  /** Passed to openContext. */
  logFile?: string;
  /** Called after each file with its result. */
  onBatch?: (r: BatchResult) => void;
  /** Alert transports; default: from .env (SLACK_WEBHOOK_URL, SMTP_*). */
  alertTransports?: AlertTransport[];
  /** Attempts for a transiently failing file before it is left for later (default 6). */
  retryAttempts?: number;
  retryBaseMs?: number;
  /** Tests only: a stand-in for src/pipeline/run.ts. */
  pipeline?: Pipeline;
}

export type StopReason = 'drained' | 'signal' | 'stopped' | 'lock_lost' | 'error';

export interface DaemonSummary {
  /** Files handed to the pipeline and finished (loaded + skipped + quarantined). */
  files: number;
  loaded: number;
  /** Content already loaded before (ledger): archived without loading again. */
  skipped: number;
  quarantined: number;
  /** Files given up on for now (transient errors past the retries, or quarantine impossible); left in incoming/. */
  failed: number;
  rowsIn: number;
  rowsLoaded: number;
  rejected: number;
  flagged: number;
  duplicates: number;
  clipped: number;
  /** Wall time of the run. */
  ms: number;
  stoppedBy: StopReason;
  /** A batch in flight was rolled back at stop (its file stays in incoming/). */
  rolledBack: number;
}

export interface DaemonHandle {
  /** Settles when the daemon has stopped and cleaned up (lock removed, store closed). */
  readonly done: Promise<DaemonSummary>;
  /** Stop taking files; the batch in flight finishes (rolled back after watch.stop_grace_ms). force: roll it back now. */
  stop(opts?: { force?: boolean }): void;
}

/** How long a file that failed (transiently, past its retries) waits before the next try; drain mode: never again. */
const PARK_MS = 60_000;

function isAbortError(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'AbortError';
}

function isTransient(err: unknown): boolean {
  return (err as { transient?: boolean } | null)?.transient === true;
}

/** An error described without its message (which could quote a row): name, code and where it was thrown. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `non-error thrown (${typeof err})`;
  const code = (err as NodeJS.ErrnoException).code;
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .slice(0, 3)
    .map((l) => l.trim().replace(/^at /, ''));
  return `${err.name}${code ? ` ${code}` : ''}${frames.length ? ` at ${frames.join(' < ')}` : ''}`;
}

class Daemon {
  readonly summary: DaemonSummary = {
    files: 0, loaded: 0, skipped: 0, quarantined: 0, failed: 0,
    rowsIn: 0, rowsLoaded: 0, rejected: 0, flagged: 0, duplicates: 0, clipped: 0,
    ms: 0, stoppedBy: 'stopped', rolledBack: 0,
  };
  private readonly incoming: string;
  private readonly accept: (name: string) => boolean;
  private readonly queue: FileQueue;
  private readonly parked = new Map<string, number>();
  private readonly stopCtl = new AbortController();
  private watcher: FSWatcher | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private inFlight: { file: string; ctl: AbortController } | null = null;
  private scanOwed = false;
  private wakeUp: (() => void) | null = null;
  private wakePending = false;
  private readonly log: Logger;

  constructor(
    private readonly config: Config,
    private readonly opts: DaemonOptions,
    private readonly pipeline: Pipeline,
    private readonly ctx: RunContext,
    private readonly lock: LockHandle,
    private readonly alerter: Alerter,
    private readonly reporter: Reporter,
  ) {
    this.incoming = path.resolve(config.resolved.incoming);
    this.accept = nameFilter(config.watch.glob);
    this.queue = new FileQueue(config.watch.queue_limit);
    this.log = ctx.log;
  }

  get stopping(): boolean {
    return this.stopCtl.signal.aborted;
  }

  stop(reason: StopReason, force = false): void {
    if (!this.stopping) {
      this.summary.stoppedBy = reason;
      this.stopCtl.abort();
      this.log.info({ event: 'watch_stopping', reason, inFlight: this.inFlight ? path.basename(this.inFlight.file) : null });
      if (this.inFlight && !force) {
        const grace = this.config.watch.stop_grace_ms;
        this.graceTimer = setTimeout(() => this.abortInFlight('grace_period_over'), grace);
        this.graceTimer.unref();
      }
    }
    if (force) this.abortInFlight('forced');
    this.wake();
  }

  /** Roll back the batch in flight (its file stays in incoming/). */
  abortInFlight(why: string): void {
    if (this.inFlight && !this.inFlight.ctl.signal.aborted) {
      this.log.warn({ event: 'watch_abort_batch', why, file: path.basename(this.inFlight.file) });
      this.inFlight.ctl.abort();
    }
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    if (w) w();
    else this.wakePending = true;
  }

  private sleep(ms: number): Promise<void> {
    if (this.wakePending || ms <= 0) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    }).then(() => {
      this.wakeUp = null;
      this.wakePending = false;
    });
  }

  private isParked(file: string, now: number): boolean {
    const until = this.parked.get(file);
    if (until === undefined) return false;
    if (now < until) return true;
    this.parked.delete(file);
    return false;
  }

  /** A path the watcher reported: queue it if it is an events file directly in incoming/. */
  private onEvent(file: string): void {
    const abs = path.resolve(file);
    const name = path.basename(abs);
    if (path.dirname(abs) !== this.incoming || !this.accept(name)) return;
    if (this.inFlight?.file === abs) {
      this.log.warn({ event: 'watch_changed_while_reading', file: name });
      return;
    }
    if (this.isParked(abs, Date.now())) return;
    if (this.queue.offer(abs, name, Date.now())) this.wake();
    else this.pauseWatcher(); // more arrive than the queue holds: scans take over until the backlog is down
  }

  /** Check the lock and owe a scan every rescan_ms. */
  startRescanTimer(): void {
    this.rescanTimer = setInterval(() => {
      if (!this.lock.stillHeld()) {
        this.log.error({ event: 'watch_lock_lost', lock: this.lock.file });
        this.reporter.error(`medetl: the lock ${this.lock.file} was removed or taken by another process; stopping`);
        this.stop('lock_lost');
        return;
      }
      this.scanOwed = true;
      this.wake();
    }, this.config.watch.rescan_ms);
    this.rescanTimer.unref();
  }

  private async resumeWatcher(): Promise<void> {
    if (this.watcher || this.stopping) return;
    const incoming = this.incoming;
    const watcher = watch(incoming, {
      depth: 0,
      ignoreInitial: true,
      persistent: true,
      awaitWriteFinish: false,
      ignored: (p: string, stats?: import('node:fs').Stats) => {
        const abs = path.resolve(p);
        if (abs === incoming) return false;
        if (stats?.isDirectory() || path.dirname(abs) !== incoming) return true;
        return !this.accept(path.basename(abs));
      },
    });
    watcher.on('add', (p) => this.onEvent(p));
    watcher.on('change', (p) => this.onEvent(p));
    watcher.on('unlink', (p) => {
      const abs = path.resolve(p);
      if (this.queue.has(abs)) this.queue.delete(abs);
    });
    watcher.on('error', (err) => {
      // The periodic rescan covers whatever the watcher misses (ENOSPC: out of inotify watches, a network share...).
      this.log.warn({ event: 'watch_watcher_error', code: (err as NodeJS.ErrnoException).code ?? (err as Error).name });
    });
    this.watcher = watcher;
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.scanOwed = true; // what arrived before the watcher was ready
    this.log.debug({ event: 'watch_watcher_on' });
  }

  /**
   * Backlog mode. chokidar re-lists the whole folder (an lstat per entry) on every change in it, so with thousands
   * of files waiting its cost grows with the square of the backlog, and its events could not be queued anyway.
   * Scans (oldest first) fill the queue instead; the watcher comes back once the backlog fits in half the queue.
   */
  private pauseWatcher(): void {
    const w = this.watcher;
    if (!w) return;
    this.watcher = null;
    this.queue.overflowed = true;
    this.log.info({ event: 'watch_backlog_mode', queueLimit: this.queue.limit });
    void w.close().catch(() => undefined);
  }

  /**
   * Fill the queue from disk, oldest first, then switch the watcher on or off for the size of the backlog.
   * Returns how many events files are on disk and not parked (queued ones included).
   */
  private async scan(): Promise<number> {
    this.scanOwed = false;
    const now = Date.now();
    const room = this.queue.limit - this.queue.size;
    this.queue.overflowed = false;
    let result;
    try {
      result = await scanIncoming(this.incoming, (name) => this.accept(name) && !this.isParked(path.join(this.incoming, name), now), {
        limit: room,
        skip: (f) => this.queue.has(f) || this.inFlight?.file === f,
      });
    } catch (err) {
      this.log.warn({ event: 'watch_scan_failed', code: (err as NodeJS.ErrnoException).code ?? (err as Error).name });
      return this.queue.size;
    }
    const seen = Date.now();
    for (const c of result.files) {
      if (this.queue.offer(c.path, c.name, seen)) this.queue.apply(c.path, judge(undefined, c, seen, this.config.watch.stable_ms));
    }
    // more on disk than the queue took: refill as soon as it has room
    if (result.matched > this.queue.size + (this.inFlight ? 1 : 0)) this.queue.overflowed = true;
    if (result.matched > this.queue.limit) this.pauseWatcher();
    else if (result.matched <= this.queue.limit / 2) await this.resumeWatcher();
    return result.matched;
  }

  /** The first scan, before startDaemon returns. */
  async scanNow(): Promise<void> {
    await this.scan();
  }

  /** Look at every settling file whose time has come. */
  private async settle(): Promise<void> {
    const stableMs = this.config.watch.stable_ms;
    for (const e of this.queue.due(Date.now())) {
      if (this.stopping) return;
      try {
        const st = await fs.stat(e.path);
        if (!st.isFile()) {
          this.queue.delete(e.path);
          continue;
        }
        const same = e.state && e.state.size === st.size && e.state.mtimeMs === st.mtimeMs;
        const tail = same ? await endsWithNewline(e.path, st.size) : undefined;
        this.queue.apply(e.path, judge(e.state, { size: st.size, mtimeMs: st.mtimeMs, endsWithNewline: tail }, Date.now(), stableMs));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.queue.delete(e.path);
        else this.queue.apply(e.path, { kind: 'settling', checkAt: Date.now() + Math.max(stableMs, 250), state: e.state ?? { size: -1, mtimeMs: -1, since: Date.now() } });
      }
    }
  }

  async run(): Promise<void> {
    const drain = this.opts.drain === true;
    while (!this.stopping) {
      const refill = this.queue.overflowed && this.queue.size <= this.queue.limit / 2;
      if ((this.scanOwed || refill) && this.queue.size < this.queue.limit) await this.scan();
      await this.settle();
      if (this.stopping) break;
      const next = this.queue.takeReady();
      if (next) {
        await this.handle(next);
        continue;
      }
      if (drain && this.queue.size === 0) {
        if ((await this.scan()) === 0 && this.queue.size === 0) {
          this.summary.stoppedBy = 'drained';
          break;
        }
        continue;
      }
      const at = this.queue.nextCheckAt();
      await this.sleep(at === undefined ? this.config.watch.rescan_ms : Math.max(0, at - Date.now()));
    }
  }

  /** One file: re-check it, process it with retries, and deal with every way that can end. */
  private async handle(e: QueueEntry): Promise<void> {
    const file = e.path;
    const name = e.name;
    try {
      const st = await fs.stat(file);
      if (st.size !== e.state?.size || st.mtimeMs !== e.state?.mtimeMs) {
        this.queue.offer(file, name, Date.now()); // changed since it was judged stable: settle again
        return;
      }
    } catch {
      return; // gone (or unreadable: the next scan brings it back)
    }
    const ctl = new AbortController();
    this.inFlight = { file, ctl };
    const t0 = Date.now();
    let attempts = 0;
    try {
      const result = await retry(
        (attempt) => {
          attempts = attempt;
          return this.pipeline.processFile(file, this.ctx, {
            onSuccess: this.config.watch.on_success,
            signal: ctl.signal,
            onProgress: (rows, bytes, total) => this.reporter.progress(file, rows, bytes, total, Date.now() - t0),
          });
        },
        {
          attempts: this.opts.retryAttempts ?? 6,
          baseMs: this.opts.retryBaseMs ?? 500,
          maxMs: 15_000,
          retryable: (err) => isTransient(err) && !ctl.signal.aborted,
          signal: this.stopCtl.signal,
          onRetry: (err, attempt, delayMs) =>
            this.log.warn({ event: 'watch_retry', file: name, attempt, delayMs, code: (err as NodeJS.ErrnoException).code ?? 'transient' }),
        },
      );
      this.record(result);
    } catch (err) {
      if (ctl.signal.aborted && isAbortError(err)) {
        this.summary.rolledBack++;
        this.log.info({ event: 'watch_batch_rolled_back', file: name });
        this.reporter.info(`rolled back ${name}; it stays in incoming/`);
      } else if (isTransient(err)) {
        if (this.stopping) return; // stopped during a backoff: the file simply waits in incoming/
        this.giveUp(file, (err as NodeJS.ErrnoException).code ?? 'transient_error', attempts);
      } else {
        await this.quarantineAfterError(file, err, Date.now() - t0);
      }
    } finally {
      this.inFlight = null;
      if (this.graceTimer) clearTimeout(this.graceTimer);
    }
  }

  private record(r: BatchResult): void {
    const s = this.summary;
    s.files++;
    if (r.status === 'loaded') s.loaded++;
    else if (r.status === 'skipped_duplicate') s.skipped++;
    else s.quarantined++;
    s.rowsIn += r.rowsIn;
    s.rowsLoaded += r.loaded;
    s.rejected += r.rejected;
    s.flagged += r.flagged;
    s.duplicates += r.duplicates;
    s.clipped += r.clipped;
    this.log.debug({ event: 'watch_batch', file: path.basename(r.file), status: r.status, ms: Math.round(r.ms) });
    this.reporter.batch(r);
    this.opts.onBatch?.(r);
    const counts = { rowsIn: r.rowsIn, loaded: r.loaded, rejected: r.rejected, flagged: r.flagged, rejectedByReason: r.rejectedByReason };
    if (r.status === 'quarantined') this.alerter.notify({ kind: 'quarantine', file: r.file, code: r.reason?.code ?? 'unknown', counts });
    // thresholds.action: flag -> loaded anyway, with warnings (rates over their limits)
    else if (r.status === 'loaded' && r.warnings?.length) this.alerter.notify({ kind: 'warning', file: r.file, code: 'qc_threshold_exceeded', counts });
  }

  /** Retries ran out on a transient error: leave the file in incoming/ and try again later (drain: not this run). */
  private giveUp(file: string, code: string, attempts: number): void {
    this.summary.failed++;
    this.parked.set(file, this.opts.drain ? Infinity : Date.now() + PARK_MS);
    this.log.error({ event: 'watch_file_failed', file: path.basename(file), code, attempts });
    this.reporter.failed({ file, code, attempts });
    this.alerter.notify({ kind: 'failure', file, code, counts: { attempts } });
  }

  /** processFile failed in a way it did not classify: quarantine the file ourselves and go on. */
  private async quarantineAfterError(file: string, err: unknown, ms: number): Promise<void> {
    const name = path.basename(file);
    const message = describeError(err);
    this.log.error({ event: 'watch_internal_error', file: name, error: message });
    try {
      await fs.access(file);
    } catch {
      this.log.warn({ event: 'watch_file_vanished', file: name });
      return;
    }
    try {
      const movedTo = await this.pipeline.quarantineFile(file, this.config, { code: 'internal_error', message });
      this.record({
        file: name, status: 'quarantined', batchId: null, rowsIn: 0, loaded: 0, rejected: 0, rejectedByReason: {},
        duplicates: 0, flagged: 0, clipped: 0, ms, reason: { code: 'internal_error', message }, movedTo,
      });
    } catch (qErr) {
      this.log.error({ event: 'watch_quarantine_failed', file: name, error: describeError(qErr) });
      this.giveUp(file, 'internal_error', 1);
    }
  }

  async close(): Promise<void> {
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    await this.watcher?.close().catch(() => undefined);
  }
}

function stopLine(s: DaemonSummary): string {
  const why = { drained: 'incoming/ drained', signal: 'stopped', stopped: 'stopped', lock_lost: 'lock lost', error: 'stopped on an error' }[s.stoppedBy];
  return (
    `${why}: ${s.files} file${s.files === 1 ? '' : 's'} (${s.loaded} loaded, ${s.skipped} skipped, ${s.quarantined} quarantined, ` +
    `${s.failed} failed); rows ${s.rowsIn} in, ${s.rowsLoaded} loaded, ${s.rejected} rejected, ${s.flagged} flagged; ${(s.ms / 1000).toFixed(1)} s`
  );
}

/**
 * Start the daemon: take the lock (LockHeldError if another daemon holds it), open the pipeline context (KeyError
 * on a bad key), start watching. Resolves once the watcher is up; `done` settles when it has stopped.
 */
export async function startDaemon(config: Config, opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const startedAt = Date.now();
  const reporter = opts.reporter ?? createReporter(opts.output ?? 'silent');
  const pipeline = opts.pipeline ?? (await defaultPipeline());
  ensureDir(config.resolved.incoming);
  const lock = await acquireLock(config.resolved.lock);
  const releaseOnExit = () => lock.release();
  process.on('exit', releaseOnExit);
  let ctx: RunContext;
  try {
    ctx = pipeline.openContext(config, opts.logFile ? { logFile: opts.logFile } : undefined);
  } catch (err) {
    lock.release();
    process.removeListener('exit', releaseOnExit);
    throw err;
  }
  const alerter = Alerter.fromConfig(config, ctx.log, opts.alertTransports);
  // Power BI push (optional): a sender beside the daemon, woken after every committed batch.
  const sender = config.sinks.powerbi.enabled
    ? new PowerBiSender(config.resolved.sqlite, {
        url: config.env[POWERBI_URL_VARIABLE] ?? '',
        postsPerMinute: config.sinks.powerbi.posts_per_minute,
        log: ctx.log,
      })
    : null;
  const senderRun = sender?.run().catch((err) => ctx.log.error({ event: 'powerbi_sender_crashed', error: describeError(err) }));
  const daemonOpts: DaemonOptions = sender
    ? { ...opts, onBatch: (r) => (sender.poke(), opts.onBatch?.(r)) }
    : opts;
  const d = new Daemon(config, daemonOpts, pipeline, ctx, lock, alerter, reporter);

  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', ...(process.platform === 'win32' ? (['SIGBREAK'] as NodeJS.Signals[]) : [])];
  const onSignal = (sig: NodeJS.Signals) => {
    if (!d.stopping) {
      reporter.info(`${sig}: finishing the batch in flight, then stopping (again to stop at once)`);
      d.stop('signal');
      return;
    }
    // Second signal: leave now. The batch in flight has not committed, so nothing partial stays behind.
    d.abortInFlight('second_signal');
    lock.release();
    reporter.error('medetl: stopped at once; the batch in flight was not committed');
    process.exit(128 + (os.constants.signals[sig] ?? 2));
  };
  if (opts.handleSignals) for (const s of signals) process.on(s, onSignal);
  const onAbort = () => d.stop('stopped');
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const cleanup = async () => {
    if (opts.handleSignals) for (const s of signals) process.removeListener(s, onSignal);
    opts.signal?.removeEventListener('abort', onAbort);
    await d.close();
    if (sender) {
      // Draining: give the outbox a bounded chance to empty; what is left is sent by the next start or `medetl push`.
      if (opts.drain) await Promise.race([sender.drain(), new Promise((r) => setTimeout(r, 30_000).unref())]);
      sender.stop();
      await senderRun;
      const left = sender.pending();
      if (left.chunks) reporter.info(`Power BI outbox: ${left.rows} row(s) still queued; sent on the next start or with medetl push`);
      sender.close();
    }
    await alerter.close(3_000);
    try {
      pipeline.closeContext(ctx);
    } finally {
      lock.release();
      process.removeListener('exit', releaseOnExit);
    }
  };

  try {
    d.startRescanTimer();
    await d.scanNow(); // the backlog, and the watcher unless the backlog is larger than the queue
  } catch (err) {
    await cleanup();
    throw err;
  }
  const { tookOverFrom } = lock;
  ctx.log.info({
    event: 'watch_start', incoming: config.resolved.incoming, glob: config.watch.glob, drain: !!opts.drain,
    ...(tookOverFrom ? { staleLockFrom: { pid: tookOverFrom.pid, hostname: tookOverFrom.hostname, started: tookOverFrom.started } } : {}),
  });
  if (tookOverFrom) reporter.info(`took over a stale lock (pid ${tookOverFrom.pid} on ${tookOverFrom.hostname} is gone)`);
  const shown = path.relative(process.cwd(), config.resolved.incoming) || '.';
  reporter.info(
    opts.drain
      ? `draining ${shown}/ (${config.watch.glob})`
      : `watching ${shown}/ for ${config.watch.glob}; Ctrl+C to stop`,
  );
  if (opts.signal?.aborted) d.stop('stopped');

  const done = (async () => {
    try {
      await d.run();
    } catch (err) {
      d.summary.stoppedBy = 'error';
      ctx.log.error({ event: 'watch_crashed', error: describeError(err) });
      await cleanup();
      throw err;
    }
    d.summary.ms = Date.now() - startedAt;
    ctx.log.info({ event: 'watch_stop', ...d.summary });
    await cleanup();
    reporter.summary(d.summary, stopLine(d.summary));
    return d.summary;
  })();
  return { done, stop: (o) => d.stop('stopped', o?.force === true) };
}

/** Run the daemon until it drains (drain: true), `signal` aborts, or a signal arrives (handleSignals: true). */
export async function runDaemon(config: Config, opts: DaemonOptions = {}): Promise<DaemonSummary> {
  return (await startDaemon(config, opts)).done;
}
