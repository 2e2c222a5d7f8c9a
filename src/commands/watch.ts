// medetl watch: the daemon on incoming/ (src/run.ts: the folder source driven through the runner), optionally with
// the live page (src/serve/) beside it.
import type { Command } from 'commander';
import { runWatch } from '../run.js';
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
      .option('--host <address>', 'address the page binds with --dashboard; anything but loopback makes it reachable from the network', DEFAULT_HOST),
  ).action(
    action(async (opts: WatchOpts) => {
      if (opts.quiet && opts.json) throw new UserError('--quiet and --json exclude each other');
      const config = configFrom(opts);
      const drain = opts.drain === true;
      const reporter = createReporter(opts.json ? 'json' : opts.quiet ? 'quiet' : 'human');
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
