// medetl push: send the Power BI outbox now (the daemon does this by itself while it runs).
import type { Command } from 'commander';
import { openOutbox, storeMayHoldData } from '../compose.js';
import { createLogger } from '../ops/log.js';
import { POWERBI_URL_VARIABLE } from '../sinks/powerbi.js';
import { action, configFrom, EXIT, UserError, withConfigOption } from './common.js';

export function registerPush(program: Command): void {
  withConfigOption(
    program
      .command('push')
      .summary('send the Power BI push outbox until it is empty')
      .description(
        'post the rows waiting in the Power BI outbox (masked rows only, queued when their batch committed) to\n' +
          `${POWERBI_URL_VARIABLE} from .env, within Power BI's limits (<= 10,000 rows per POST, <= 120 POSTs a minute,\n` +
          'Retry-After honoured on 429). Needs sinks.powerbi.enabled: true. Stops when the outbox is empty.',
      ),
  ).action(
    action(async (opts: { config?: string }) => {
      const config = configFrom(opts);
      if (!config.sinks.powerbi.enabled) throw new UserError('sinks.powerbi.enabled is false in the config: nothing is queued for Power BI');
      if (!config.env[POWERBI_URL_VARIABLE]?.trim()) throw new UserError(`${POWERBI_URL_VARIABLE} is not set in .env`);
      if (!storeMayHoldData(config)) {
        process.stdout.write('nothing to push: no batch has been loaded yet\n');
        return EXIT.ok;
      }
      const log = createLogger(config.resolved.logs, config.log.level);
      const outbox = (await openOutbox(config, log))!;
      const sender = outbox.sink.sender(outbox.queue) as import('../sinks/powerbi.js').PowerBiSender;
      const stop = () => sender.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const before = await sender.pending();
      await sender.drain();
      const after = await sender.pending();
      await sender.close();
      process.stdout.write(
        `pushed ${sender.stats.posted} chunk(s), ${sender.stats.rows} row(s); ${sender.stats.throttled} throttled (429), ` +
          `${sender.stats.failures} failed attempt(s); ${after.chunks} chunk(s) / ${after.rows} row(s) still queued (of ${before.rows})\n`,
      );
      return after.chunks === 0 ? EXIT.ok : EXIT.failed;
    }),
  );
}
