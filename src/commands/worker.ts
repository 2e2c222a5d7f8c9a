// medetl worker: one of N processes (on any machines) taking files from the NATS JetStream work queue and loading
// each through the same runner as `process` into the shared PostgreSQL store (src/run.ts: startWorker).
import type { Command } from 'commander';
import { startWorker } from '../run.js';
import { action, configFrom, EXIT, UserError, withConfigOption } from './common.js';
import { createReporter } from './console.js';

interface WorkerOpts {
  config?: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerWorker(program: Command): void {
  withConfigOption(
    program
      .command('worker')
      .summary('scale-out: load files from the NATS work queue into the shared PostgreSQL store (store: postgres)')
      .description(
        'take work items from the NATS JetStream work queue (fed by `medetl watch --publish`), one at a time, and load each ' +
          'file through the same runner as `process`: exactly once per content across all workers (the ledger in PostgreSQL).\n' +
          'Needs store: postgres (MEDETL_PG_URL) and MEDETL_NATS_URL in .env (credentials: MEDETL_NATS_USER/PASS, ' +
          'MEDETL_NATS_TOKEN or MEDETL_NATS_CREDS; never logged); config.yaml nats: stream, subject, consumer, ack_wait_ms, ' +
          'max_deliveries, shared_dir (this machine\'s mount of the shared raw-file folder). The stream and the durable ' +
          'consumer are created when missing.\n' +
          'Parquet parts go to the shared paths.masked_out, one per batch (part-<random batch id>.parquet). A file that is ' +
          'bad for good is quarantined and its message terminated; a transient failure is retried later, up to ' +
          'nats.max_deliveries. Run as many workers as you like; `medetl status` lists those seen recently and the backlog.\n' +
          'Ctrl+C / SIGTERM finishes the batch in flight, acknowledges it and exits 0; a second one exits at once ' +
          '(nothing partial is kept: the file is offered to another worker).',
      )
      .option('-q, --quiet', 'print errors only')
      .option('--json', 'one JSON object per batch per line on stdout (type "batch"; a "summary" at the end)'),
  ).action(
    action(async (opts: WorkerOpts) => {
      if (opts.quiet && opts.json) throw new UserError('--quiet and --json exclude each other');
      const config = configFrom(opts);
      const reporter = createReporter(opts.json ? 'json' : opts.quiet ? 'quiet' : 'human');
      const h = await startWorker(config, { reporter, handleSignals: true });
      const summary = await h.done;
      return summary.stoppedBy === 'error' ? EXIT.error : EXIT.ok;
    }),
  );
}
