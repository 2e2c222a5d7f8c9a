// medetl verify: the store and Parquet hold the same rows; per batch rows in = loaded + rejected + duplicates.
// Read-only: safe while the daemon runs; it never touches a file the daemon is writing.
import type { Command } from 'commander';
import { openLedger } from '../compose.js';
import { verifyOutputs } from '../verify.js';
import { action, configFrom, EXIT, withConfigOption } from './common.js';

export function registerVerify(program: Command): void {
  withConfigOption(
    program
      .command('verify')
      .summary('check that the store, Parquet and the ledger agree (exit 5 if not)')
      .description('check that the store and Parquet hold the same rows per batch and that rows in = loaded + rejected + duplicates (exit 5 if not)')
      .option('--json', 'print the report as JSON'),
  ).action(
    action(async (opts: { config?: string; json?: boolean }) => {
      const config = configFrom(opts);
      const ledger = await openLedger(config);
      try {
        const r = await verifyOutputs(ledger, config.resolved.maskedOut);
        if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else {
          process.stdout.write(`${r.batches} batches; store ${r.storeRows} rows; Parquet ${r.parquetRows} rows\n`);
          for (const p of r.problems) process.stdout.write(`MISMATCH ${p}\n`);
          process.stdout.write(r.ok ? 'OK: the store and Parquet agree with the ledger\n' : `${r.problems.length} problem(s)\n`);
        }
        return r.ok ? EXIT.ok : EXIT.verifyMismatch;
      } finally {
        await ledger.close();
      }
    }),
  );
}
