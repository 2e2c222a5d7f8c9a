// The processing clock. MEDETL_NOW (an ISO 8601 instant) pins it for every command: reproducible runs and audits.
// Transforms never read a clock; callers pass now() in.
import { UserError } from './errors.js';

export const NOW_VARIABLE = 'MEDETL_NOW';

export type Clock = () => number;

/** The clock for this process: pinned by MEDETL_NOW, else the system clock. */
export function clockFrom(env: Record<string, string | undefined>): Clock {
  const pinned = env[NOW_VARIABLE]?.trim();
  if (!pinned) return Date.now;
  const ms = Date.parse(pinned);
  if (!Number.isFinite(ms) || !/\d{4}-\d{2}-\d{2}/.test(pinned)) {
    throw new UserError(`${NOW_VARIABLE} must be an ISO 8601 instant such as 2026-12-01T12:00:00Z, got ${JSON.stringify(pinned)}`, 'config_invalid');
  }
  return () => ms;
}

/** An instant as `YYYY-MM-DD HH:MM:SS` (UTC), the form the SQLite ODBC driver reads as a timestamp. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
