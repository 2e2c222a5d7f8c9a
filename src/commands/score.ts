// medetl score RUN: injected noise vs what QC caught, per kind, for a loaded run.
import type { Command } from 'commander';
import { formatScorecard, scoreRun, sumScorecards } from '../feed/score.js';
import { openLedger } from '../compose.js';
import { action, configFrom, withConfigOption } from './common.js';

export function registerScore(program: Command): void {
  withConfigOption(
    program
      .command('score')
      .summary('how well QC caught the noise a generated run injected')
      .argument('<runs...>', 'run folders (synthea_stream/run_...) or their names; their events must have been loaded')
      .description(
        'compare a run\'s noise manifest with the pipeline\'s outcomes: per noise kind, injected / caught\n' +
          '(flagged, clipped, rejected, deduplicated, repaired, nulled) / missed, and the share of clean rows flagged.\n' +
          'Bars: >= 99% of spikes, bp swaps, typos and duplicates caught; <= 1% of clean rows flagged.',
      )
      .option('--json', 'print the scorecard as JSON'),
  ).action(
    action(async (runs: string[], opts: { config?: string; json?: boolean }) => {
      const config = configFrom(opts);
      const cards = [];
      const ledger = await openLedger(config);
      try {
        for (const r of runs) cards.push(await scoreRun(config, r, ledger));
      } finally {
        await ledger.close();
      }
      const card = cards.length === 1 ? cards[0] : sumScorecards(cards);
      process.stdout.write(opts.json ? `${JSON.stringify(card)}\n` : formatScorecard(card));
    }),
  );
}
