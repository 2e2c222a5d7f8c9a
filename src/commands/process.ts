// medetl process FILE...: one-shot processing through the same runner as the watcher, under the output lock.
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { printable, safePath } from '../ops/safe-name.js';
import { runFiles } from '../run.js';
import type { BatchResult } from '../runner.js';
import { action, configFrom, EXIT, UserError, withConfigOption } from './common.js';
import { createReporter } from './console.js';

export function formatBatchLine(r: BatchResult): string {
  const file = printable(r.file);
  if (r.status === 'quarantined') return `QUARANTINED ${file}: ${r.reason?.code} (${r.reason?.message})`;
  if (r.status === 'skipped_duplicate') return `skipped ${file}: same content already loaded as batch ${r.batchId}`;
  const rej = Object.entries(r.rejectedByReason).map(([k, v]) => `${k}=${v}`).join(',');
  return (
    `loaded ${file}: in ${r.rowsIn}, loaded ${r.loaded}, rejected ${r.rejected}${rej ? ` (${rej})` : ''}, ` +
    `flagged ${r.flagged}, clipped ${r.clipped}, duplicates ${r.duplicates}, ${r.ms} ms` +
    (r.warnings?.length ? ` WARN ${r.warnings.join('; ')}` : '')
  );
}

export function registerProcess(program: Command): void {
  withConfigOption(
    program
      .command('process')
      .summary('process events CSVs once into the masked outputs (exactly once per content)')
      .argument('<files...>', 'events CSV files (header: patient_id, dob, zip, event_ts, systolic_bp, diastolic_bp, heart_rate)')
      .description(
        'process events CSVs once: schema -> clean -> QC -> de-identify -> the store + Parquet, exactly once per content.\n' +
          'Files stay where they are unless --archive/--delete; a failed file moves to quarantine/ with <file>.reason.json.\n' +
          'Exit 0 when every file loaded (or was already loaded), 3 when any was quarantined, 4 when one failed (I/O).',
      )
      .option('--archive', 'move each loaded file to paths.archive')
      .option('--delete', 'delete each loaded file')
      .option('--json', 'one JSON object per file on stdout')
      .option('-q, --quiet', 'print errors and quarantined files only (no progress bar)'),
  ).action(
    action(async (files: string[], opts: { config?: string; archive?: boolean; delete?: boolean; json?: boolean; quiet?: boolean }) => {
      if (opts.quiet && opts.json) throw new UserError('--quiet and --json exclude each other');
      const config = configFrom(opts);
      let code: number = EXIT.ok;
      const present = files.filter((f) => {
        if (existsSync(f) && statSync(f).isFile()) return true;
        process.stderr.write(`medetl: ${safePath(f)}: no such file\n`);
        code = EXIT.failed;
        return false;
      });
      // The progress bar (stderr, terminals only) in place of the reporter's own batch lines: this command prints its own.
      const reporter = createReporter(opts.json ? 'json' : 'quiet', undefined, { progress: !opts.json && !opts.quiet });
      const summary = await runFiles(config, present, {
        onSuccess: opts.delete ? 'delete' : opts.archive ? 'archive' : 'keep',
        reporter: { ...reporter, batch: () => reporter.clearProgress() },
        onBatch: (r) => {
          reporter.clearProgress();
          if (opts.quiet && r.status !== 'quarantined') return;
          (opts.quiet ? process.stderr : process.stdout).write(opts.json ? `${JSON.stringify(r)}\n` : `${formatBatchLine(r)}\n`);
        },
      });
      reporter.clearProgress();
      if (summary.quarantined > 0 && code === EXIT.ok) code = EXIT.quarantined;
      if (summary.failed > 0) code = EXIT.failed;
      return code;
    }),
  );
}
