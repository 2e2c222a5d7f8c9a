// medetl verify: SQLite and Parquet hold the same rows; per batch rows in = loaded + rejected + duplicates.
import type { Command } from 'commander';
import { createLogger } from '../ops/log.js';
import { Store } from '../sinks/sqlite.js';
import { verifySinks } from '../sinks/verify.js';
import { action, configFrom, EXIT, withConfigOption } from './common.js';

export function registerVerify(program: Command): void {
  withConfigOption(
    program
      .command('verify')
      .summary('check that SQLite, Parquet and the ledger agree (exit 5 if not)')
      .description('check that SQLite and Parquet hold the same rows per batch and that rows in = loaded + rejected + duplicates (exit 5 if not)')
      .option('--json', 'print the report as JSON'),
  ).action(
    action(async (opts: { config?: string; json?: boolean }) => {
      const config = configFrom(opts);
      const store = Store.open(config.resolved.sqlite, config.resolved.parts, createLogger(config.resolved.logs, config.log.level));
      try {
        const r = await verifySinks(store.db, config.resolved.parts);
        if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          process.stdout.write(`${r.batches} batches; SQLite ${r.sqliteRows} rows; Parquet ${r.parquetRows} rows\n`);
          for (const p of r.problems) process.stdout.write(`MISMATCH ${p}\n`);
          process.stdout.write(r.ok ? 'OK: both sinks agree with the ledger\n' : `${r.problems.length} problem(s)\n`);
        }
        return r.ok ? EXIT.ok : EXIT.verifyMismatch;
      } finally {
        store.close();
      }
    }),
  );
}
