// medetl process FILE...: one-shot processing through the same code path as the watcher.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ensureDir } from '../core/fsx.js';
import { closeContext, openContext, processFile, type BatchResult, type RunContext } from '../pipeline/run.js';
import { acquireLock } from '../watch/lock.js';
import { action, configFrom, EXIT, withConfigOption } from './common.js';

export function formatBatchLine(r: BatchResult): string {
  if (r.status === 'quarantined') return `QUARANTINED ${r.file}: ${r.reason?.code} (${r.reason?.message})`;
  if (r.status === 'skipped_duplicate') return `skipped ${r.file}: same content already loaded as batch ${r.batchId}`;
  const rej = Object.entries(r.rejectedByReason).map(([k, v]) => `${k}=${v}`).join(',');
  return (
    `loaded ${r.file}: in ${r.rowsIn}, loaded ${r.loaded}, rejected ${r.rejected}${rej ? ` (${rej})` : ''}, ` +
    `flagged ${r.flagged}, clipped ${r.clipped}, duplicates ${r.duplicates}, ${r.ms} ms` +
    (r.warnings?.length ? ` WARN ${r.warnings.join('; ')}` : '')
  );
}

export function registerProcess(program: Command): void {
  withConfigOption(
    program
      .command('process')
      .summary('process events CSVs once into the masked sinks (exactly once per content)')
      .argument('<files...>', 'events CSV files (header: patient_id, dob, zip, event_ts, systolic_bp, diastolic_bp, heart_rate)')
      .description(
        'process events CSVs once: schema -> clean -> QC -> de-identify -> Parquet + SQLite, exactly once per content.\n' +
          'Files stay where they are unless --archive/--delete; a failed file moves to quarantine/ with <file>.reason.json.\n' +
          'Exit 0 when every file loaded (or was already loaded), 3 when any was quarantined.',
      )
      .option('--archive', 'move each loaded file to paths.archive')
      .option('--delete', 'delete each loaded file')
      .option('--json', 'one JSON object per file on stdout'),
  ).action(
    action(async (files: string[], opts: { config?: string; archive?: boolean; delete?: boolean; json?: boolean }) => {
      const config = configFrom(opts);
      // The daemon's lock: one writer per project at a time (a running watch refuses us with a clear message).
      ensureDir(config.resolved.incoming);
      const lock = await acquireLock(config.resolved.lock);
      let ctx: RunContext;
      try {
        ctx = openContext(config);
      } catch (err) {
        lock.release();
        throw err;
      }
      let code: number = EXIT.ok;
      try {
        for (const f of files) {
          if (!existsSync(f) || !statSync(f).isFile()) {
            process.stderr.write(`medetl: ${f}: no such file\n`);
            code = EXIT.failed;
            continue;
          }
          const r = await processFile(path.resolve(f), ctx, { onSuccess: opts.delete ? 'delete' : opts.archive ? 'archive' : 'keep' });
          process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${formatBatchLine(r)}\n`);
          if (r.status === 'quarantined' && code === EXIT.ok) code = EXIT.quarantined;
        }
      } finally {
        closeContext(ctx);
        lock.release();
      }
      return code;
    }),
  );
}
