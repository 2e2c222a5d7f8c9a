// pino JSON log in logs/pipeline.log. Log codes, counts and line numbers; never a patient value.
// The redact list is a second line of defence for keys that could carry PHI if someone logged them.
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { ensureDir } from '../core/fsx.js';
import { safeName } from './safe-name.js';

export type { Logger };

export const REDACTED_KEYS = [
  'patient_id', 'first_name', 'last_name', 'dob', 'zip', 'event_ts', 'name', 'value', 'values', 'row', 'before', 'after',
];

export function createLogger(logsDir: string, level = 'info', file = 'pipeline.log'): Logger {
  ensureDir(logsDir);
  const dest = pino.destination({ dest: path.join(logsDir, file), sync: true, mkdir: true });
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
