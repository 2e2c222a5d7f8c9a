// pino JSON log in logs/pipeline.log. Log codes, counts and line numbers; never a patient value.
// The redact list is a second line of defence for keys that could carry PHI if someone logged them.
// A log that cannot be written (logs/ on a full or read-only disk) never stops the pipeline: the console says so
// once, the lines are counted, and logging resumes by itself when the disk takes writes again.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { safeName } from './safe-name.js';

export type { Logger };

export const REDACTED_KEYS = [
  'patient_id', 'first_name', 'last_name', 'dob', 'zip', 'event_ts', 'name', 'value', 'values', 'row', 'before', 'after',
];

/** An append-only log file that survives write errors (ENOSPC, EROFS, EIO, a vanished folder). */
export class ResilientLogFile {
  private fd: number | null = null;
  private dropped = 0;
  private warned = false;

  constructor(
    private readonly file: string,
    private readonly warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {}

  private open(): number {
    if (this.fd === null) {
      mkdirSync(path.dirname(this.file), { recursive: true });
      this.fd = openSync(this.file, 'a');
    }
    return this.fd;
  }

  write(line: string): void {
    try {
      const fd = this.open();
      if (this.dropped > 0) {
        // A line torn by the failed write is ended first, so every later line parses.
        writeSync(fd, `\n${JSON.stringify({ level: 40, time: Date.now(), event: 'log_lines_dropped', lines: this.dropped })}\n`);
        this.dropped = 0;
        this.warned = false;
      }
      writeSync(fd, line);
    } catch (err) {
      this.dropped++;
      if (this.fd !== null) {
        try {
          closeSync(this.fd);
        } catch {
          // already unusable
        }
        this.fd = null;
      }
      if (!this.warned) {
        this.warned = true;
        this.warn(`medetl: cannot write ${this.file} (${(err as NodeJS.ErrnoException).code ?? 'error'}); log lines are counted and dropped until it can be written again`);
      }
    }
  }
}

export function createLogger(logsDir: string, level = 'info', file = 'pipeline.log'): Logger {
  const dest = new ResilientLogFile(path.join(logsDir, file));
  const paths = [...REDACTED_KEYS, ...REDACTED_KEYS.map((k) => `*.${k}`)];
  return pino({ level, base: { pid: process.pid }, redact: { paths, censor: '[redacted]' }, formatters: { log: safeNames } }, dest);
}

/** Keys whose value is a file name: logged only through the name policy (ops/safe-name.ts). */
export const NAME_KEYS = ['file', 'inFlight', 'source_name'] as const;

/** Every file name a log line carries goes through safeName(): a name that is not safe becomes its keyed id. */
export function safeNames(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const k of NAME_KEYS) {
    const v = obj[k];
    if (typeof v === 'string') {
      if (out === obj) out = { ...obj };
      out[k] = safeName(v);
    }
  }
  return out;
}

/** A logger that writes nowhere (tests of pure code, `--dry-run`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
