// Drives a source through the runner, one delivery at a time: what `process`, `watch` and `worker` share.
// Transient failures (the machine, not the file) are retried in place with backoff, then the delivery is offered
// again later (retryLater); anything the runner did not classify quarantines the file as internal_error; a stop
// lets the batch in flight finish (rolled back after watch.stop_grace_ms, or at once when forced). Alerts and the
// outbox senders run beside it and never block it.
import os from 'node:os';
import type { Config } from './config/load.js';
import { describeError, errorCode, isAbortError, isEnvironmental, isTransient } from './core/errors.js';
import { retry } from './core/retry.js';
import type { Alerter } from './ops/alerts.js';
import type { Logger } from './ops/log.js';
import { safeName } from './ops/safe-name.js';
import type { BatchResult, RunOptions } from './runner.js';
import type { OutboxSender } from './sinks/outbox.js';
import type { Delivery, Source } from './sources/source.js';

/** A delivery the loop gave up on for now (retries exhausted, or it could not be quarantined). */
export interface FailedFile {
  file: string;
  code: string;
  attempts: number;
}

/** What the loop tells the person watching (commands/console.ts prints it). Counts, codes and names only. */
export interface Reporter {
  info(message: string): void;
  error(message: string): void;
  batch(r: BatchResult): void;
  failed(f: FailedFile): void;
  progress(file: string, rowsRead: number, bytesRead: number, totalBytes: number, elapsedMs: number): void;
  summary(s: object, line: string): void;
}

export const silentReporter: Reporter = {
  info: () => undefined,
  error: () => undefined,
  batch: () => undefined,
  failed: () => undefined,
  progress: () => undefined,
  summary: () => undefined,
};

/** The runner as the loop sees it (src/runner.ts; a test may pass a stand-in that fails on demand). */
export interface BatchRunner {
  run(d: Delivery, opts?: RunOptions): Promise<BatchResult>;
}

export type StopReason = 'drained' | 'signal' | 'stopped' | 'lock_lost' | 'error';

export interface DriveSummary {
  /** Deliveries finished (loaded + skipped + quarantined). */
  files: number;
  loaded: number;
  /** Content already loaded before (ledger): settled without loading again. */
  skipped: number;
  quarantined: number;
  /** Deliveries given up on for now (transient errors past the retries); left for later. */
  failed: number;
  rowsIn: number;
  rowsLoaded: number;
  rejected: number;
  flagged: number;
  duplicates: number;
  clipped: number;
  ms: number;
  stoppedBy: StopReason;
  /** A batch in flight was rolled back at stop (its file stays where it was). */
  rolledBack: number;
}

export interface DriveOptions {
  config: Config;
  log: Logger;
  reporter: Reporter;
  alerter: Alerter;
  /** Outbox senders (Power BI push) run beside the loop and are poked after each commit. */
  senders?: readonly OutboxSender[];
  /** Give the senders this long to empty their outbox when the loop ends (drain mode). */
  drainSendersMs?: number;
  /** Attempts for a transiently failing delivery before it is offered again later (default 6). */
  retryAttempts?: number;
  retryBaseMs?: number;
  /** How long a delivery that keeps failing transiently waits before it is offered again. */
  parkMs?: number;
  onBatch?: (r: BatchResult) => void;
  /** Aborting it stops the loop gracefully, like a first Ctrl+C. */
  signal?: AbortSignal;
  /** SIGINT/SIGTERM (and SIGBREAK on Windows): the first stops gracefully, the second exits at once. */
  handleSignals?: boolean;
  /** Why the source ended, when it ended by itself (drained, lock lost). */
  endReason?: () => StopReason | undefined;
}

export interface DriveHandle {
  readonly done: Promise<DriveSummary>;
  /** Stop taking deliveries; the batch in flight finishes (rolled back after the grace period). force: roll it back now. */
  stop(opts?: { force?: boolean }): void;
}

/** How long a delivery that failed transiently past its retries waits before the next try. */
const PARK_MS = 60_000;

export function drive(source: Source, runner: BatchRunner, o: DriveOptions): DriveHandle {
  const startedAt = Date.now();
  const s: DriveSummary = {
    files: 0, loaded: 0, skipped: 0, quarantined: 0, failed: 0, rowsIn: 0, rowsLoaded: 0, rejected: 0, flagged: 0,
    duplicates: 0, clipped: 0, ms: 0, stoppedBy: 'stopped', rolledBack: 0,
  };
  const stopCtl = new AbortController();
  let inFlight: { d: Delivery; ctl: AbortController } | null = null;
  let graceTimer: NodeJS.Timeout | null = null;
  /** Environmental failures (full disk, read-only output) alert once until a batch succeeds again. */
  let environmentAlerted = false;

  const abortInFlight = (why: string) => {
    if (inFlight && !inFlight.ctl.signal.aborted) {
      o.log.warn({ event: 'watch_abort_batch', why, file: inFlight.d.name });
      inFlight.ctl.abort();
    }
  };
  const stop = (reason: StopReason, force = false) => {
    if (!stopCtl.signal.aborted) {
      s.stoppedBy = reason;
      stopCtl.abort();
      source.stop();
      o.log.info({ event: 'watch_stopping', reason, inFlight: inFlight ? inFlight.d.name : null });
      if (inFlight && !force) {
        graceTimer = setTimeout(() => abortInFlight('grace_period_over'), o.config.watch.stop_grace_ms);
        graceTimer.unref();
      }
    }
    if (force) abortInFlight('forced');
  };

  const record = (r: BatchResult) => {
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
    o.reporter.batch(r);
    o.onBatch?.(r);
    for (const sender of o.senders ?? []) sender.poke();
    const counts = { rowsIn: r.rowsIn, loaded: r.loaded, rejected: r.rejected, flagged: r.flagged, rejectedByReason: r.rejectedByReason };
    if (r.status === 'quarantined') o.alerter.notify({ kind: 'quarantine', file: r.file, code: r.reason?.code ?? 'unknown', counts });
    // thresholds.action: flag -> loaded anyway, with warnings (rates over their limits)
    else if (r.status === 'loaded' && r.warnings?.length) o.alerter.notify({ kind: 'warning', file: r.file, code: 'qc_threshold_exceeded', counts });
    // QC drift: this batch departed from the earlier ones (qc_drift holds which statistic, by how much)
    if (r.status === 'loaded' && r.drift) o.alerter.notify({ kind: 'warning', file: r.file, code: 'qc_drift', counts: { ...counts, driftRows: r.drift } });
  };

  /** Retries ran out on a transient error: offer it again later; alert (environmental failures: once). */
  const giveUp = async (d: Delivery, err: unknown, attempts: number) => {
    const code = errorCode(err);
    s.failed++;
    await d.retryLater(o.parkMs ?? PARK_MS, code).catch(() => undefined);
    o.log.error({ event: 'watch_file_failed', file: d.name, code, attempts });
    o.reporter.failed({ file: d.name, code, attempts });
    if (!isEnvironmental(err) || !environmentAlerted) o.alerter.notify({ kind: 'failure', file: d.name, code, counts: { attempts } });
    if (isEnvironmental(err)) environmentAlerted = true;
  };

  /** The runner failed in a way it did not classify: quarantine the file and go on. */
  const quarantineAfterError = async (d: Delivery, err: unknown, ms: number) => {
    const message = describeError(err);
    o.log.error({ event: 'watch_internal_error', file: d.name, error: message });
    try {
      const movedTo = await d.quarantine({ code: 'internal_error', message });
      record({
        file: d.name, status: 'quarantined', batchId: null, rowsIn: 0, loaded: 0, rejected: 0, rejectedByReason: {},
        duplicates: 0, flagged: 0, clipped: 0, ms, reason: { code: 'internal_error', message }, movedTo,
      });
    } catch (qErr) {
      o.log.error({ event: 'watch_quarantine_failed', file: d.name, error: describeError(qErr) });
      await giveUp(d, qErr, 1);
    }
  };

  const handle = async (d: Delivery) => {
    const ctl = new AbortController();
    inFlight = { d, ctl };
    const t0 = Date.now();
    let attempts = 0;
    try {
      const result = await retry(
        (attempt) => {
          attempts = attempt;
          return runner.run(d, { signal: ctl.signal, onProgress: (rows, bytes, total) => o.reporter.progress(d.name, rows, bytes, total, Date.now() - t0) });
        },
        {
          attempts: o.retryAttempts ?? 6,
          baseMs: o.retryBaseMs ?? 500,
          maxMs: 15_000,
          retryable: (err) => isTransient(err) && !ctl.signal.aborted,
          signal: stopCtl.signal,
          onRetry: (err, attempt, delayMs) => o.log.warn({ event: 'watch_retry', file: d.name, attempt, delayMs, code: errorCode(err) }),
        },
      );
      environmentAlerted = false;
      record(result);
    } catch (err) {
      if (ctl.signal.aborted && isAbortError(err)) {
        s.rolledBack++;
        o.log.info({ event: 'watch_batch_rolled_back', file: d.name });
        o.reporter.info(`rolled back ${safeName(d.name)}; it stays where it was`);
      } else if (isTransient(err)) {
        if (stopCtl.signal.aborted) return; // stopped during a backoff: the file simply waits
        await giveUp(d, err, attempts);
      } else if ((err as { userFacing?: boolean }).userFacing) {
        throw err; // the store or the lock went away under us: stop, with the message
      } else {
        await quarantineAfterError(d, err, Date.now() - t0);
      }
    } finally {
      inFlight = null;
      if (graceTimer) clearTimeout(graceTimer);
    }
  };

  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', ...(process.platform === 'win32' ? (['SIGBREAK'] as NodeJS.Signals[]) : [])];
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stopCtl.signal.aborted) {
      o.reporter.info(`${sig}: finishing the batch in flight, then stopping (again to stop at once)`);
      stop('signal');
      return;
    }
    // Second signal: leave now. The batch in flight has not committed, so nothing partial stays behind.
    abortInFlight('second_signal');
    o.reporter.error('medetl: stopped at once; the batch in flight was not committed');
    process.exit(128 + (os.constants.signals[sig] ?? 2));
  };
  if (o.handleSignals) for (const sig of signals) process.on(sig, onSignal);
  const onAbort = () => stop('stopped');
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) stop('stopped');

  const runs = (o.senders ?? []).map((sender) =>
    sender.run().catch((err) => o.log.error({ event: 'outbox_sender_crashed', error: describeError(err) })),
  );

  const done = (async () => {
    try {
      for await (const d of source.deliveries()) {
        await handle(d);
        if (stopCtl.signal.aborted) break;
      }
      const ended = o.endReason?.();
      if (ended && !stopCtl.signal.aborted) s.stoppedBy = ended;
    } catch (err) {
      s.stoppedBy = 'error';
      o.log.error({ event: 'watch_crashed', error: describeError(err) });
      throw err;
    } finally {
      if (o.handleSignals) for (const sig of signals) process.removeListener(sig, onSignal);
      o.signal?.removeEventListener('abort', onAbort);
      for (const sender of o.senders ?? []) {
        if (o.drainSendersMs) await Promise.race([sender.drain(), new Promise((r) => setTimeout(r, o.drainSendersMs).unref())]);
        sender.stop();
      }
      await Promise.all(runs);
    }
    s.ms = Date.now() - startedAt;
    o.log.info({ event: 'watch_stop', ...s });
    return s;
  })();
  return { done, stop: (opts) => stop('stopped', opts?.force === true) };
}

export function stopLine(s: DriveSummary): string {
  const why = { drained: 'drained', signal: 'stopped', stopped: 'stopped', lock_lost: 'lock lost', error: 'stopped on an error' }[s.stoppedBy];
  return (
    `${why}: ${s.files} file${s.files === 1 ? '' : 's'} (${s.loaded} loaded, ${s.skipped} skipped, ${s.quarantined} quarantined, ` +
    `${s.failed} failed); rows ${s.rowsIn} in, ${s.rowsLoaded} loaded, ${s.rejected} rejected, ${s.flagged} flagged; ${(s.ms / 1000).toFixed(1)} s`
  );
}
