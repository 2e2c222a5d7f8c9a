// medetl dashboard: a live page on this machine (src/serve/). Reads the ledger only; safe beside a running daemon.
import type { Command } from 'commander';
import { openLedger } from '../compose.js';
import { createLogger } from '../ops/log.js';
import { DEFAULT_HOST, DEFAULT_PORT, startDashboard } from '../serve/dashboard.js';
import { lockFileDaemonState, type DaemonStateFn } from '../serve/daemon-state.js';
import type { Config } from '../config/load.js';
import { isLoopback } from '../serve/http.js';
import { action, configFrom, UserError, withConfigOption } from './common.js';

interface DashboardOpts {
  config?: string;
  port: string;
  host: string;
}

export function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UserError(`--port must be a port number (0-65535; 0 = any free port), got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Start the page over the ledger: one clear line when the port is taken or the address is not ours. */
export async function serveDashboard(config: Config, o: { host: string; port: number; daemonState: DaemonStateFn; warn: (m: string) => void }): Promise<{ url: string; close(): Promise<void> }> {
  if (!isLoopback(o.host)) {
    o.warn(
      `medetl dashboard: WARNING: binding ${o.host}: masked aggregates (counts, KPIs, batch and quarantine lists) ` +
        `become reachable from the network, without authentication. Use only on a network you trust.`,
    );
  }
  const ledger = await openLedger(config);
  const log = createLogger(config.resolved.logs, config.log.level, 'dashboard.log');
  try {
    const dash = await startDashboard({ ledger, daemonState: o.daemonState, host: o.host, port: o.port, log });
    return { url: dash.url, close: async () => (await dash.close(), await ledger.close()) };
  } catch (err) {
    await ledger.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UserError(`port ${o.port} on ${o.host} is in use: pick another with --port (0 = any free port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`cannot bind ${o.host}: not an address of this machine`);
    throw err;
  }
}

export function registerDashboard(program: Command): void {
  withConfigOption(
    program
      .command('dashboard')
      .summary(`a live page of the loaded data and the pipeline's health (http://${DEFAULT_HOST}:${DEFAULT_PORT}/)`)
      .description(
        `serve a live page on this machine: KPI tiles, vitals and blood-pressure trends, rows and QC rates per batch, ` +
          `drift warnings, recent and quarantined files, and whether the daemon runs. It updates as batches commit ` +
          `(server-sent events) and shows masked, aggregated data only. Ctrl+C stops it.`,
      )
      .option('-p, --port <n>', 'port (0 = any free port)', String(DEFAULT_PORT))
      .option('--host <address>', 'address to bind; anything but loopback makes the page reachable from the network', DEFAULT_HOST),
  ).action(
    action(async (opts: DashboardOpts) => {
      const port = parsePort(opts.port);
      const config = configFrom(opts);
      const dash = await serveDashboard(config, {
        host: opts.host, port, daemonState: lockFileDaemonState(config.resolved.lock), warn: (m) => process.stderr.write(`${m}\n`),
      });
      process.stdout.write(`medetl dashboard: ${dash.url} (Ctrl+C stops)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await dash.close();
    }),
  );
}
