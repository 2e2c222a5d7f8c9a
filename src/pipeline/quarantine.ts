// Quarantine: the file moves to quarantine/ beside <file>.reason.json. Reasons carry codes,
// counts and line numbers, never a patient value.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { freeName, moveFile, writeFileAtomic } from '../core/fsx.js';
import type { Reject } from './types.js';

export const MAX_LISTED_LINES = 1000;

export interface QuarantineReason {
  code: string;
  message: string;
  lines?: number[];
  columns?: string[];
  metrics?: unknown;
}

export function reasonFileFor(quarantinedFile: string): string {
  return `${quarantinedFile}.reason.json`;
}

/** Writes the reason first, then moves the file: a crash in between leaves the file to be retried. */
export async function quarantineFile(file: string, config: Config, reason: QuarantineReason): Promise<string> {
  const dir = config.resolved.quarantine;
  const dest = await freeName(dir, path.basename(file));
  const lines = reason.lines ?? [];
  const body = {
    file: path.basename(dest),
    source_name: path.basename(file),
    reason: reason.code,
    message: reason.message,
    line_count: lines.length,
    lines: lines.slice(0, MAX_LISTED_LINES),
    ...(reason.columns ? { columns: reason.columns } : {}),
    ...(reason.metrics !== undefined ? { metrics: reason.metrics } : {}),
    quarantined_at: new Date().toISOString(),
  };
  await writeFileAtomic(reasonFileFor(dest), `${JSON.stringify(body, null, 2)}\n`);
  if (existsSync(file)) await moveFile(file, dest);
  return dest;
}

/** quarantine/<file>.rejects.csv: the line number and reason of every rejected row. */
export async function writeRejects(config: Config, sourceName: string, rejects: readonly Reject[]): Promise<string | null> {
  if (rejects.length === 0) return null;
  const out = path.join(config.resolved.quarantine, `${sourceName}.rejects.csv`);
  const body = ['line,reason', ...rejects.map((r) => `${r.line},${r.reason}`)].join('\n');
  await writeFileAtomic(out, `${body}\n`);
  return out;
}
