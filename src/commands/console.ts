// What `medetl watch` prints. Human: one line per batch on stdout, status lines on stderr, and on a TTY a
// progress line for a long batch, rewritten in place with \r. Quiet: errors only. JSON: one object per line on
// stdout for scripts (type "batch" per file, one "summary" at the end); nothing else goes to stdout.
// Counts, codes and file names only: never a row value.
import path from 'node:path';
import type { FailedFile, Reporter } from '../drive.js';
import type { BatchResult } from '../runner.js';
import { printable, safeName } from '../ops/safe-name.js';

export type { FailedFile, Reporter };

export type OutputMode = 'human' | 'quiet' | 'json' | 'silent';


interface Streams {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  err: NodeJS.WritableStream;
}

const PROGRESS_AFTER_MS = 300;
const PROGRESS_EVERY_MS = 100;

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

export function createReporter(mode: OutputMode, streams: Streams = { out: process.stdout, err: process.stderr }): Reporter {
  const { out, err } = streams;
  const tty = mode === 'human' && out.isTTY === true;
  let progressShown = false;
  let lastProgress = 0;
  const clearProgress = () => {
    if (!progressShown) return;
    out.write('\r\x1b[2K');
    progressShown = false;
  };
  return {
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
      if (!tty || elapsedMs < PROGRESS_AFTER_MS) return;
      const now = Date.now();
      if (now - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = now;
      const pct = totalBytes > 0 ? Math.min(100, Math.floor((bytesRead / totalBytes) * 100)) : 0;
      const line = `  ${safeName(path.basename(file))}  ${String(pct).padStart(3)}%  ${n(rowsRead)} rows`;
      const width = out.columns && out.columns > 20 ? out.columns : 80;
      out.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
      progressShown = true;
    },
    summary(s, line) {
      if (mode === 'json') return void out.write(`${JSON.stringify({ type: 'summary', ...s })}\n`);
      if (mode !== 'human') return;
      clearProgress();
      err.write(`${line}\n`);
    },
  };
}
