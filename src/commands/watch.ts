// medetl watch: the daemon on incoming/ (src/run.ts: the folder source driven through the runner), optionally with
// the live page (src/serve/) beside it. With --publish, the same watcher hands each stable file to the NATS work
// queue for `medetl worker` instead of loading it.
import path from 'node:path';
import type { Command } from 'commander';
import type { Reporter } from '../drive.js';
import { printable } from '../ops/safe-name.js';
import { isPublished } from '../publish-runner.js';
import { runWatch, startPublish } from '../run.js';
import { DEFAULT_HOST, DEFAULT_PORT } from '../serve/dashboard.js';
import { parsePort, serveDashboard } from './dashboard.js';
import { action, configFrom, EXIT, UserError, withConfigOption } from './common.js';
import { createReporter } from './console.js';

interface WatchOpts {
  config?: string;
  drain?: boolean;
  quiet?: boolean;
  json?: boolean;
  dashboard?: boolean | string;
  host: string;
  publish?: boolean;
}

/** The console reporter, with one line per published file instead of a batch line. */
function publishReporter(base: Reporter, mode: 'human' | 'quiet' | 'json'): Reporter {
  return {
    ...base,
    batch(r) {
      if (!isPublished(r)) return base.batch(r);
      const p = r.published;
      if (mode === 'json') {
        process.stdout.write(`${JSON.stringify({ type: 'publish', time: new Date().toISOString(), file: path.basename(r.file), outcome: p.outcome, seq: p.seq, ...(p.code ? { code: p.code } : {}) })}\n`);
        return;
      }
      if (mode !== 'human') return;
      const file = printable(path.basename(r.file));
      const what =
        p.outcome === 'published' ? `work item ${p.seq}` :
        p.outcome === 'duplicate' ? `same content queued within the window (item ${p.seq}); published again after it` :
        `publish failed (${p.code}); kept in the shared folder and published again`;
      process.stdout.write(`${p.outcome.padEnd(11)} ${file}  ${what}\n`);
    },
  };
}

export function registerWatch(program: Command): void {
  withConfigOption(
    program
      .command('watch')
      .summary('the daemon: load each new events file in incoming/ once complete (--drain: until empty)')
      .description(
        'watch incoming/ and load each events file once it is complete, one batch at a time, oldest first. ' +
          'Ctrl+C finishes the batch in flight and exits 0; a second Ctrl+C exits at once (nothing partial is kept)',
      )
      .option('--once, --drain', 'process the backlog and whatever arrives until incoming/ is empty, then exit (0; 3 if a file was quarantined; 4 if one failed)')
      .option('-q, --quiet', 'print errors only')
      .option('--json', 'one JSON object per batch per line on stdout (type "batch"; a "summary" at the end)')
      .option('--dashboard [port]', `serve the live page beside the daemon (default port ${DEFAULT_PORT}; 0 = any free port)`)
      .option('--host <address>', 'address the page binds with --dashboard; anything but loopback makes it reachable from the network', DEFAULT_HOST)
      .option(
        '--publish',
        'scale-out: instead of loading, move each stable file into nats.shared_dir and publish a reference to it (path, size, ' +
          'keyed content hash; no patient data) on the NATS work queue for `medetl worker` (MEDETL_NATS_URL in .env)',
      ),
  ).action(
    action(async (opts: WatchOpts) => {
      if (opts.quiet && opts.json) throw new UserError('--quiet and --json exclude each other');
      if (opts.publish && opts.dashboard !== undefined) throw new UserError('--publish and --dashboard exclude each other (the page shows what this process loads)');
      const config = configFrom(opts);
      const drain = opts.drain === true;
      const mode = opts.json ? 'json' : opts.quiet ? 'quiet' : 'human';
      const reporter = createReporter(mode);
      if (opts.publish) {
        const summary = await (await startPublish(config, { drain, reporter: publishReporter(reporter, mode), handleSignals: true })).done;
        if (summary.stoppedBy === 'lock_lost') return EXIT.error;
        return drain && summary.failed > 0 ? EXIT.failed : EXIT.ok;
      }
      let dash: { url: string; close(): Promise<void> } | null = null;
      const since = new Date().toISOString();
      let running = true;
      try {
        if (opts.dashboard !== undefined) {
          const port = typeof opts.dashboard === 'string' ? parsePort(opts.dashboard) : DEFAULT_PORT;
          dash = await serveDashboard(config, {
            host: opts.host, port, warn: (m) => reporter.error(m),
            daemonState: async () => (running ? { running, since, pid: process.pid } : { running: false }),
          });
          reporter.info(`dashboard: ${dash.url}`);
        }
        const summary = await runWatch(config, { drain, reporter, handleSignals: true });
        running = false;
        if (summary.stoppedBy === 'lock_lost') return EXIT.error;
        if (!drain) return EXIT.ok;
        return summary.failed > 0 ? EXIT.failed : summary.quarantined > 0 ? EXIT.quarantined : EXIT.ok;
      } finally {
        running = false;
        await dash?.close();
      }
    }),
  );
}
