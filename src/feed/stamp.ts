// Batch stamps and names: events_<stamp>_<seq>.csv and run_<stamp>_<seq>/, stamp like 20261122T081500Z.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** UTC stamp to the second: 20261122T081500Z. */
export function stampOf(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/** Zero-padded batch sequence: 001, 002, ... (wider when it has to be). */
export function seqOf(n: number): string {
  return String(n).padStart(3, '0');
}

export function eventsFileName(stamp: string, seq: number): string {
  return `events_${stamp}_${seqOf(seq)}.csv`;
}

export function runDirName(stamp: string, seq: number): string {
  return `run_${stamp}_${seqOf(seq)}`;
}

/**
 * The first seq >= `from` whose events file (in `incomingDir`) and run folder (in `streamDir`, if given)
 * are both free, so two producers, or two batches in the same second, never collide.
 * Also checks the archive, where the watcher moves loaded files.
 */
export function freeSeq(stamp: string, from: number, incomingDirs: readonly string[], streamDir?: string): number {
  for (let seq = Math.max(1, from); ; seq++) {
    const name = eventsFileName(stamp, seq);
    const taken =
      incomingDirs.some((d) => existsSync(path.join(d, name)) || existsSync(path.join(d, `.${name}.tmp`))) ||
      (streamDir !== undefined && existsSync(path.join(streamDir, runDirName(stamp, seq))));
    if (!taken) return seq;
  }
}

/** "20s", "2m", "1h", "500ms", "1.5m" -> milliseconds. A bare number is seconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a duration: ${JSON.stringify(text)} (use e.g. 500ms, 20s, 2m, 1h)`);
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (!(ms > 0)) throw new RangeError(`duration must be above zero, got ${JSON.stringify(text)}`);
  return Math.round(ms);
}
