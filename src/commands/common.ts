// Shared bits of every command: --config, exit codes, printing errors without stack noise.
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/load.js';
import { ConfigError, KeyError, UserError } from '../core/errors.js';

export { UserError };

/** Exit codes, documented in README and `medetl --help`. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  quarantined: 3,
  failed: 4,
  verifyMismatch: 5,
} as const;

export function withConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <path>', 'config file (default: ./config.yaml, else built-in defaults)');
}

export function configFrom(opts: { config?: string }): Config {
  return loadConfig(opts.config);
}

/** Run a command body; known errors print one clear line and set the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : EXIT.ok;
    } catch (err) {
      if (err instanceof ConfigError || err instanceof KeyError || (err as { userFacing?: boolean }).userFacing) {
        process.stderr.write(`medetl: ${(err as Error).message}\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      process.stderr.write(`medetl: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = EXIT.error;
    }
  };
}

