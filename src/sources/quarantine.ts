// What happens to a raw file after the runner: archived or deleted (done), or moved to quarantine/ beside
// <file>.reason.json (codes, counts and line numbers, never a patient value). Shared by every source that
// owns files on a disk (folder, file list, NATS workers on a shared folder).
import { existsSync, promises as fs, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { boundedName, freeName, moveFile, writeFileAtomic } from '../core/fsx.js';
import { pidAlive } from '../core/lock.js';
import type { Logger } from '../ops/log.js';
import type { Reject } from '../pipeline/types.js';
import type { QuarantineReason } from './source.js';

export const MAX_LISTED_LINES = 1000;
export const REASON_SUFFIX = '.reason.json';
export const REJECTS_SUFFIX = '.rejects.csv';

export function reasonFileFor(quarantinedFile: string): string {
  return `${quarantinedFile}${REASON_SUFFIX}`;
}

/**
 * Writes the reason first, then moves the file: a crash in between leaves the file to be retried. `arrivedAs` names
 * it in quarantine/ when its current name is not the one it arrived under (the NATS shared folder's unique names).
 */
export async function quarantineFile(file: string, quarantineDir: string, reason: QuarantineReason, arrivedAs?: string, atMs = Date.now()): Promise<string> {
  const dest = await freeName(quarantineDir, arrivedAs ?? path.basename(file), REASON_SUFFIX.length);
  const lines = reason.lines ?? [];
  const body = {
    file: path.basename(dest),
    source_name: arrivedAs ?? path.basename(file),
    reason: reason.code,
    message: reason.message,
    line_count: lines.length,
    lines: lines.slice(0, MAX_LISTED_LINES),
    ...(reason.columns ? { columns: reason.columns } : {}),
    ...(reason.metrics !== undefined ? { metrics: reason.metrics } : {}),
    quarantined_at: new Date(atMs).toISOString(),
  };
  await writeFileAtomic(reasonFileFor(dest), `${JSON.stringify(body, null, 2)}\n`);
  if (existsSync(file)) await moveFile(file, dest);
  return dest;
}

/** quarantine/<file>.rejects.csv: the line number and reason of every rejected row. */
export async function writeRejects(quarantineDir: string, sourceName: string, rejects: readonly Reject[]): Promise<string | null> {
  if (rejects.length === 0) return null;
  const out = path.join(quarantineDir, `${boundedName(sourceName, REJECTS_SUFFIX.length)}${REJECTS_SUFFIX}`);
  const body = ['line,reason', ...rejects.map((r) => `${r.line},${r.reason}`)].join('\n');
  await writeFileAtomic(out, `${body}\n`);
  return out;
}

/** A loaded file: keep it where it is, move it to the archive folder, or delete it. Returns where it went. */
export async function settleLoaded(file: string, how: 'keep' | 'archive' | 'delete', archiveDir: string): Promise<string | undefined> {
  if (how === 'keep') return undefined;
  if (how === 'delete') {
    await fs.rm(file, { force: true });
    return undefined;
  }
  if (!existsSync(file)) return undefined; // archived already (a redelivery after the move)
  const dest = await freeName(archiveDir, path.basename(file));
  await moveFile(file, dest);
  return dest;
}

/**
 * A crash while a reason or rejects file was written leaves `<name>.<pid>.tmp` in quarantine/. Removed when the
 * pid that wrote it is gone (so a live writer's file is never caught).
 */
export function sweepQuarantineTemps(dir: string, log: Logger): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /\.(\d+)\.tmp$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && pidAlive(pid)) continue;
    rmSync(path.join(dir, n), { force: true });
    log.info({ event: 'recovery_temp_removed', file: n }, 'removed a temporary file left by a crash');
  }
}
