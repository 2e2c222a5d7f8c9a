// medetl compact: one masked_out/cleaned.parquet for Power BI's Parquet connector, and the BI tables beside it
// (masked_out/bi/<table>.parquet), from one snapshot of the ledger.
import path from 'node:path';
import type { Command } from 'commander';
import { openLedger } from '../compose.js';
import { compactRelease } from '../sinks/parquet/compact.js';
import { UnreadablePartError } from '../sinks/parquet/read.js';
import { action, configFrom, EXIT, withConfigOption } from './common.js';
import { createProgressBar, progressAllowed } from './progress-bar.js';

export function registerCompact(program: Command): void {
  withConfigOption(
    program
      .command('compact')
      .summary('write masked_out/cleaned.parquet and masked_out/bi/*.parquet, for Power BI')
      .description(
        'write the parts of every committed batch into the single file masked_out/cleaned.parquet, and each BI table\n' +
          '(dimensions and KPIs) into masked_out/bi/<table>.parquet (temporary names, then rename); `watch` does this\n' +
          'by itself after batches (sinks.parquet.auto_compact_ms)',
      )
      .option('-q, --quiet', 'no progress bar'),
  ).action(
    action(async (opts: { config?: string; quiet?: boolean }) => {
      const config = configFrom(opts);
      // parts done of all parts (rows so far for the rate), on stderr, on a terminal only
      const bar = createProgressBar({ unit: 'parts', enabled: !opts.quiet && progressAllowed() });
      const reader = await openLedger(config);
      try {
        const target = { maskedOut: config.resolved.maskedOut, outFile: config.resolved.compactParquet, compression: config.sinks.parquet.compression };
        let r;
        try {
          r = (await compactRelease(target, reader, {
            onProgress: (p) => {
              if (!bar.active) bar.start('compact', p.parts);
              bar.update(p.partsDone, p.rows);
            },
          }))!;
          bar.stop();
        } catch (err) {
          bar.stop();
          if (!(err instanceof UnreadablePartError)) throw err;
          process.stderr.write(`medetl: ${err.message}; cleaned.parquet was left as it was (medetl verify lists every problem)\n`);
          return EXIT.verifyMismatch;
        }
        const rel = (p: string) => path.relative(process.cwd(), p) || p;
        process.stdout.write(`wrote ${rel(config.resolved.compactParquet)}: ${r.rows} rows from ${r.parts} parts\n`);
        process.stdout.write(`wrote ${rel(path.join(config.resolved.maskedOut, 'bi'))}/: ${r.biTables} BI tables, ${r.biRows} rows\n`);
      } finally {
        await reader.close();
      }
    }),
  );
}
