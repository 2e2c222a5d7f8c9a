// The file-list source behind `medetl process FILE...`: each file once, in the order given. A loaded file stays
// where it is (or is archived or deleted, as asked); a bad one goes to quarantine/ with its reason; one the
// machine failed on is left where it is and reported failed.
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import type { Logger } from '../ops/log.js';
import { quarantineFile, settleLoaded, sweepQuarantineTemps } from './quarantine.js';
import type { Delivery, Source } from './source.js';

const NEVER = new AbortController().signal;

export class FilesSource implements Source {
  readonly kind = 'files' as const;
  private stopped = false;

  constructor(
    private readonly config: Config,
    private readonly files: readonly string[],
    private readonly onSuccess: 'keep' | 'archive' | 'delete',
    log: Logger,
  ) {
    sweepQuarantineTemps(config.resolved.quarantine, log);
  }

  async *deliveries(): AsyncGenerator<Delivery> {
    const { config } = this;
    for (const f of this.files) {
      if (this.stopped) return;
      const file = path.resolve(f);
      let mtimeMs: number | null = null;
      try {
        mtimeMs = statSync(file).mtimeMs;
      } catch {
        // the runner's read reports it
      }
      yield {
        name: path.basename(file),
        path: file,
        arrivedAtMs: mtimeMs,
        attempt: 1,
        signal: NEVER,
        done: () => settleLoaded(file, this.onSuccess, config.resolved.archive),
        quarantine: (reason) => quarantineFile(file, config.resolved.quarantine, reason),
        retryLater: async () => undefined, // a one-shot run does not come back to it
        keepAlive: () => undefined,
      };
    }
  }

  stop(): void {
    this.stopped = true;
  }

  async close(): Promise<void> {
    this.stopped = true;
  }
}
