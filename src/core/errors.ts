// The errors every layer shares, and the one rule that tells a broken machine from a broken file.
// Messages carry codes, counts and line numbers, never a patient value.

/** A problem the user can fix (bad usage, config, key, a server that refuses us): one clear line, exit 2. */
export class UserError extends Error {
  readonly userFacing = true;
  constructor(
    message: string,
    readonly code = 'user_error',
  ) {
    super(message);
  }
}

/** A problem with one file as a whole: it is quarantined with this code. */
export class BatchError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: { lines?: number[]; columns?: string[]; metrics?: unknown } = {},
  ) {
    super(message);
  }
}

/** A CSV that cannot be tokenized (a quote that never closes): the file is quarantined. */
export class CsvError extends Error {
  constructor(
    readonly code: 'unterminated_quote',
    readonly line: number,
  ) {
    super(`${code} in the record starting on line ${line}`);
  }
}

/** The batch was aborted (Ctrl+C, a lost lease): it rolled back; the file is left as it was. */
export function abortError(): Error {
  const e = new Error('the batch was aborted and rolled back');
  e.name = 'AbortError';
  return e;
}

export function isAbortError(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'AbortError';
}

/**
 * Error codes that say "the machine, not the file": a busy or locked database, a file held open (Windows), too many
 * open files, a full disk, a read-only or vanished output, a lost connection. The file is kept and retried.
 */
const TRANSIENT_CODES = new Set([
  // SQLite
  'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PROTOCOL',
  // file systems (EPERM/EACCES: Windows reports a file held open this way; on outputs they mean a read-only folder)
  'EBUSY', 'EPERM', 'EACCES', 'EMFILE', 'ENFILE', 'ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EAGAIN',
  // networks (PostgreSQL, NATS)
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTCONN', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_LOST',
]);

/** PostgreSQL SQLSTATE classes that a later attempt can succeed past (connection, resources, serialization, shutdown). */
const TRANSIENT_SQLSTATE = /^(08|53|57P0|40001|40P01|55P03|58)/;

/** An error thrown on purpose as "try again later". */
export class TransientError extends Error {
  readonly transient = true;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Whether another attempt may succeed: the one definition used by the runner, the sources and the stores. */
export function isTransient(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { transient?: boolean; code?: unknown; errno?: unknown; cause?: unknown };
  if (e.transient === true) return true;
  const code = typeof e.code === 'string' ? e.code : '';
  if (TRANSIENT_CODES.has(code) || TRANSIENT_CODES.has(code.split('_').slice(0, 2).join('_'))) return true;
  if (/^SQLITE_(BUSY|LOCKED|FULL|IOERR|READONLY|CANTOPEN)/.test(code)) return true;
  if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE.test(code)) return true;
  return e.cause !== undefined && e.cause !== err ? isTransient(e.cause) : false;
}

/** Environmental failures worth one alert (a full disk, a read-only output): not a file's fault, and not brief. */
export function isEnvironmental(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  return /^(ENOSPC|EDQUOT|EROFS|EACCES|EIO|SQLITE_FULL|SQLITE_IOERR|SQLITE_READONLY|SQLITE_CANTOPEN)/.test(code);
}

/** A short code for an error, for logs and reports: its code, else its name. Never its message. */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown } | null;
  if (e && typeof e.code === 'string' && e.code) return e.code;
  if (e && typeof e.name === 'string' && e.name) return e.name;
  return 'internal_error';
}

/** An error described without its message (which could quote a row): name, code and where it was thrown. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `non-error thrown (${typeof err})`;
  const code = (err as NodeJS.ErrnoException).code;
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l))
    .slice(0, 3)
    .map((l) => l.trim().replace(/^at /, ''));
  return `${err.name}${code ? ` ${code}` : ''}${frames.length ? ` at ${frames.join(' < ')}` : ''}`;
}

/** The config file is invalid (path and what is allowed in the message): exit 2. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  readonly userFacing = true;
}

/** MEDETL_HMAC_KEY is missing, the example, or not 32 random bytes: exit 2. */
export class KeyError extends Error {
  readonly code = 'hmac_key_invalid';
  readonly userFacing = true;
}
