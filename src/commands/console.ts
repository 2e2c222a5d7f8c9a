// What `medetl watch` and `medetl process` print. Human: one line per batch on stdout, status lines on stderr, and on
// a TTY a progress bar for a long batch (progress-bar.ts, on stderr; bytes read of the file, rows, rate, ETA). Quiet:
// errors only (`process` asks for the bar in quiet mode: its own lines are printed by the command). JSON: one object per line on
// stdout for scripts (type "batch" per file, one "summary" at the end); nothing else goes to stdout.
// Counts, codes and file names only: never a row value.
import path from 'node:path';
import type { FailedFile, Reporter } from '../drive.js';
import type { BatchResult } from '../runner.js';
import { printable, safeName } from '../ops/safe-name.js';
import { createProgressBar, progressAllowed, type TtyStream } from './progress-bar.js';

export type { FailedFile, Reporter };

export type OutputMode = 'human' | 'quiet' | 'json' | 'silent';


interface Streams {
  out: TtyStream;
  err: TtyStream;
}

/** A batch shorter than this never shows a bar (a flash on every small file). */
const PROGRESS_AFTER_MS = 300;

export interface ReporterOptions {
  /** Draw the progress bar (when both streams are terminals). Default: only in human mode. Never in json/silent. */
  progress?: boolean;
}

/** The Reporter, plus a way for a command printing its own lines to take the bar off the screen first. */
export type ConsoleReporter = Reporter & { clearProgress(): void };

function n(x: number): string {
  return x.toLocaleString('en-US');
}

export function batchLine(r: BatchResult): string {
  const file = printable(path.basename(r.file));
  const counts = `rows ${n(r.rowsIn)}  loaded ${n(r.loaded)}  rejected ${n(r.rejected)}  flagged ${n(r.flagged)}  duplicates ${n(r.duplicates)}`;
  const reason = r.reason ? `  reason ${r.reason.code}` : '';
  const status = r.status === 'skipped_duplicate' ? 'skipped' : r.status;
  return `${status.padEnd(11)} ${file}  ${counts}${reason}  ${n(Math.round(r.ms))} ms`;
}

export function batchJson(r: BatchResult): string {
  return JSON.stringify({
    type: 'batch',
    time: new Date().toISOString(),
    file: path.basename(r.file),
    status: r.status,
    batchId: r.batchId,
    rowsIn: r.rowsIn,
    loaded: r.loaded,
    rejected: r.rejected,
    rejectedByReason: r.rejectedByReason,
    duplicates: r.duplicates,
    flagged: r.flagged,
    clipped: r.clipped,
    ms: Math.round(r.ms),
    ...(r.reason ? { reason: { code: r.reason.code, message: r.reason.message } } : {}),
    ...(r.movedTo ? { movedTo: r.movedTo } : {}),
  });
}

export function createReporter(
  mode: OutputMode,
  streams: Streams = { out: process.stdout, err: process.stderr },
  opts: ReporterOptions = {},
): ConsoleReporter {
  const { out, err } = streams;
  const wanted = mode !== 'json' && mode !== 'silent' && (opts.progress ?? mode === 'human');
  const bar = createProgressBar({ unit: 'bytes', stream: err, enabled: wanted && progressAllowed(out, err) });
  let barFile: string | null = null;
  const clearProgress = () => {
    bar.stop();
    barFile = null;
  };
  return {
    clearProgress,
    info(message) {
      if (mode !== 'human') return;
      clearProgress();
      err.write(`${message}\n`);
    },
    error(message) {
      if (mode === 'silent') return;
      clearProgress();
      err.write(`${message}\n`);
    },
    batch(r) {
      if (mode === 'json') return void out.write(`${batchJson(r)}\n`);
      if (mode === 'silent') return;
      clearProgress();
      if (mode === 'human') out.write(`${batchLine(r)}\n`);
      else if (r.status === 'quarantined') err.write(`${batchLine(r)}\n`);
    },
    failed(f) {
      const file = safeName(path.basename(f.file));
      if (mode === 'json') {
        out.write(`${JSON.stringify({ type: 'batch', time: new Date().toISOString(), file, status: 'failed', reason: { code: f.code }, attempts: f.attempts })}\n`);
        return;
      }
      if (mode === 'silent') return;
      clearProgress();
      err.write(`${'failed'.padEnd(11)} ${file}  reason ${f.code} after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}; left in incoming/\n`);
    },
    progress(file, rowsRead, bytesRead, totalBytes, elapsedMs) {
      if (elapsedMs < PROGRESS_AFTER_MS) return;
      if (!bar.active || barFile !== file) {
        bar.start(safeName(path.basename(file)), totalBytes, bytesRead, rowsRead);
        barFile = file;
      } else bar.update(bytesRead, rowsRead);
    },
    summary(s, line) {
      if (mode === 'json') return void out.write(`${JSON.stringify({ type: 'summary', ...s })}\n`);
      if (mode !== 'human') return;
      clearProgress();
      err.write(`${line}\n`);
    },
  };
}
