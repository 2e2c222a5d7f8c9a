// pino JSON log in logs/pipeline.log. Log codes, counts and line numbers; never a patient value.
// The redact list is a second line of defence for keys that could carry PHI if someone logged them.
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { ensureDir } from '../core/fsx.js';

export type { Logger };

export const REDACTED_KEYS = [
  'patient_id', 'first_name', 'last_name', 'dob', 'zip', 'event_ts', 'name', 'value', 'values', 'row', 'before', 'after',
];

export function createLogger(logsDir: string, level = 'info', file = 'pipeline.log'): Logger {
  ensureDir(logsDir);
  const dest = pino.destination({ dest: path.join(logsDir, file), sync: true, mkdir: true });
  const paths = [...REDACTED_KEYS, ...REDACTED_KEYS.map((k) => `*.${k}`)];
  return pino({ level, base: { pid: process.pid }, redact: { paths, censor: '[redacted]' } }, dest);
}

/** A logger that writes nowhere (tests of pure code, `--dry-run`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
