// medetl demo: the whole loop on built-in defaults, no Java, no Power BI, no key needed up front:
// init -> generate a few batches (built-in Synthea-format generator, with noise) -> watch until
// drained -> compact -> scorecard -> where the outputs are and how to open them in Power BI.
import path from 'node:path';
import type { Command } from 'commander';
import { formatScorecard, scoreRuns } from '../feed/score.js';
import { compactParts } from '../sinks/parquet/compact.js';
import { openLedger } from '../compose.js';
import { runWatch } from '../run.js';
import { createReporter } from './console.js';
import { collectStatus } from './status.js';
import { describeBatch, generateBatches } from './generate.js';
import { initProject } from './init.js';
import { action, configFrom, EXIT, withConfigOption } from './common.js';

function intOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a whole number >= 1, got ${JSON.stringify(v)}`);
  return n;
}

export function registerDemo(program: Command): void {
  withConfigOption(
    program
      .command('demo')
      .summary('the whole loop once: init, generate, watch until drained, compact, score')
      .description(
        'run the whole loop once: init (folders, .env key), generate batches with the built-in generator,\n' +
          'watch incoming/ until every file is processed, compact the Parquet parts, print a scorecard and\n' +
          'where the outputs are. Safe to run again: new batches are added.',
      )
      .option('--batches <n>', 'events files to generate', intOption, 3)
      .option('--patients <n>', 'people per batch (default generate.patients)', intOption)
      .option('--seed <n>', 'seed of the first batch (default generate.seed)', (v) => Number.parseInt(v, 10)),
  ).action(
    action(async (opts: { config?: string; batches: number; patients?: number; seed?: number }) => {
      const config = configFrom(opts);
      const rel = (f: string) => path.relative(process.cwd(), f) || '.';
      const out = (s: string) => process.stdout.write(`${s}\n`);

      const init = initProject(config);
      out(`1/5 init: ${init.keyCreated ? `new key written to ${rel(init.envFile)}` : 'key present'} (key id ${init.keyId})`);

      out(`2/5 generate: ${opts.batches} batch(es) with the built-in Synthea-format generator and noise "${config.generate.noise}"`);
      const runs = await generateBatches(config, {
        batches: opts.batches,
        patients: opts.patients,
        seed: opts.seed,
        jar: null,
        onBatch: (r, i) => out(`    ${describeBatch(r, i, opts.batches).trimEnd()}`),
      });

      out('3/5 watch: processing incoming/ until it is drained');
      const summary = await runWatch(config, { drain: true, reporter: createReporter('human'), handleSignals: true });
      if (summary.stoppedBy === 'signal') return EXIT.ok;

      out('4/5 compact: one Parquet file for Power BI');
      const c = await compactParts(config.resolved.parts, config.resolved.compactParquet, config.sinks.parquet.compression);
      out(`    ${rel(config.resolved.compactParquet)}: ${c.rows} rows from ${c.parts} part(s)`);

      out('5/5 scorecard: injected noise vs what QC caught in these runs');
      const ledger = await openLedger(config);
      let card = null;
      try {
        // the runs in order, carrying each patient's history and the drift baseline as the store does
        card = (await scoreRuns(config, runs.map((r) => r.runDir), ledger)).total;
      } catch (err) {
        out(`    not scored (${(err as Error).message})`);
      } finally {
        await ledger.close();
      }
      if (card) out(formatScorecard(card).trimEnd().replace(/^/gm, '    '));

      const s = await collectStatus(config);
      const q = Object.entries(s.quarantinedByReason).map(([k, v]) => `${k} ${v}`).join(', ');
      out('');
      out(`Done. This run: ${summary.files} file(s), ${summary.rowsIn} rows in, ${summary.rowsLoaded} loaded, ${summary.rejected} rejected, ` +
        `${summary.flagged} flagged, ${summary.clipped} clipped, ${summary.duplicates} duplicates, ${summary.quarantined} quarantined.`);
      out(`In total: ${s.rows.store} rows in the store, ${s.rows.parquet} in Parquet (${s.rows.agree ? 'they agree' : 'THEY DISAGREE: run medetl verify'}); ` +
        `${s.quarantinedFiles} file(s) in quarantine${q ? ` (${q})` : ''}.`);
      out('');
      out('Masked outputs (the only data meant to leave this machine):');
      out(`  SQLite   ${rel(config.resolved.sqlite)}   view cleaned_events (+ batches, qc_metrics, batch_rejects)`);
      out(`  Parquet  ${rel(config.resolved.compactParquet)}   and one part per batch in ${rel(config.resolved.parts)}`);
      out('Raw data stays local: incoming/processed/ (archived inputs), synthea_stream/ (runs, noise manifests), quarantine/.');
      out('');
      out('Open in Power BI Desktop:');
      out(`  Parquet: Get data > Parquet > ${path.resolve(config.resolved.compactParquet)}`);
      out('  SQLite:  install the SQLite ODBC driver, then Get data > ODBC > connection string');
      out(`           Driver=SQLite3 ODBC Driver;Database=${path.resolve(config.resolved.sqlite)}`);
      out('Keep it running: `npx medetl watch` in one terminal, `npx medetl generate --every 20s` in another.');
      return summary.failed > 0 ? EXIT.failed : EXIT.ok;
    }),
  );
}
