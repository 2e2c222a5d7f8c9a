// medetl score RUN...: injected noise vs what QC caught, per kind, for loaded runs; --html writes a report.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { clockFrom } from '../core/time.js';
import { renderReport } from '../feed/report.js';
import { formatScorecard, scoreRuns } from '../feed/score.js';
import { openLedger } from '../compose.js';
import { action, configFrom, withConfigOption } from './common.js';

export function registerScore(program: Command): void {
  withConfigOption(
    program
      .command('score')
      .summary('how well QC caught the noise generated runs injected')
      .argument('<runs...>', 'run folders (synthea_stream/run_...) or their names; their events must have been loaded')
      .description(
        'compare runs\' noise manifests with the pipeline\'s outcomes: per noise kind, injected / caught\n' +
          '(flagged, nulled, converted, repaired, clipped, rejected, deduplicated) / missed, and the share of clean rows\n' +
          'that any QC stage touched. Runs are replayed in generation order through the pipeline\'s stages, each with\n' +
          'the patient history, drift baseline and loaded events the earlier ones left, as the store keeps them.\n' +
          'Bars: >= 99% of spikes, bp swaps, typos, duplicates and unit slips (converted); >= 80% of swapped digits,\n' +
          'late and skewed timestamps; <= 1% of clean rows touched.',
      )
      .option('--json', 'print the scorecard as JSON (the total, plus one entry per run)')
      .option('--html <file>', 'also write a self-contained HTML report with plots (opens offline)'),
  ).action(
    action(async (runs: string[], opts: { config?: string; json?: boolean; html?: string }) => {
      const config = configFrom(opts);
      const ledger = await openLedger(config);
      let report;
      try {
        report = await scoreRuns(config, runs, ledger);
      } finally {
        await ledger.close();
      }
      if (opts.json) {
        const perRun = report.runs.map((r) => ({
          run: r.card.run, batchId: r.card.batchId, rows: r.card.rows, loaded: r.loaded, flaggedRows: r.flaggedRows,
          cleanRows: r.card.cleanRows, cleanFlagged: r.card.cleanFlagged, drift: r.drift,
        }));
        process.stdout.write(`${JSON.stringify({ ...report.total, runs: perRun })}\n`);
      } else process.stdout.write(formatScorecard(report.total, report.runs));
      if (opts.html) {
        const file = path.resolve(opts.html);
        await writeFile(file, renderReport(report, { generatedAt: new Date(clockFrom(config.env)()).toISOString() }), 'utf8');
        if (!opts.json) process.stdout.write(`report written to ${path.relative(process.cwd(), file) || file}\n`);
      }
    }),
  );
}
