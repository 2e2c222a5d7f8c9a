// medetl compact: one masked_out/cleaned.parquet for Power BI's Parquet connector.
import path from 'node:path';
import type { Command } from 'commander';
import { compactParts } from '../sinks/parquet/compact.js';
import { UnreadablePartError } from '../sinks/parquet/read.js';
import { action, configFrom, EXIT, withConfigOption } from './common.js';

export function registerCompact(program: Command): void {
  withConfigOption(
    program
      .command('compact')
      .summary('write masked_out/cleaned.parquet from all parts, for Power BI')
      .description('write every Parquet part into the single file masked_out/cleaned.parquet (temporary name, then rename)'),
  ).action(
    action(async (opts: { config?: string }) => {
      const config = configFrom(opts);
      let r;
      try {
        r = await compactParts(config.resolved.parts, config.resolved.compactParquet, config.sinks.parquet.compression);
      } catch (err) {
        if (!(err instanceof UnreadablePartError)) throw err;
        process.stderr.write(`medetl: ${err.message}; cleaned.parquet was left as it was (medetl verify lists every problem)\n`);
        return EXIT.verifyMismatch;
      }
      process.stdout.write(`wrote ${path.relative(process.cwd(), config.resolved.compactParquet) || config.resolved.compactParquet}: ${r.rows} rows from ${r.parts} parts\n`);
    }),
  );
}
