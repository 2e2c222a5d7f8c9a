// What a PostgreSQL failure becomes before it leaves the store: a code and the operation, never the server's text.
// (PostgreSQL messages and details quote values: "Key (patient_key)=(...) already exists", "invalid input syntax
// for type integer: "...""; none of that may reach a log, an alert or the console.)
import { isTransient, TransientError } from '../../core/errors.js';

/** SQLSTATE names worth showing in a message; the rest are shown by code. */
const CONDITIONS: Record<string, string> = {
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '23505': 'unique_violation',
  '25P02': 'in_failed_sql_transaction',
  '25006': 'read_only_sql_transaction',
  '28000': 'invalid_authorization_specification',
  '28P01': 'invalid_password',
  '3D000': 'invalid_catalog_name',
  '3F000': 'invalid_schema_name',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42501': 'insufficient_privilege',
  '42P01': 'undefined_table',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '53300': 'too_many_connections',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
};

/** node-postgres errors that carry no code but mean "the connection is gone". */
const CONNECTION_LOST =
  /^(Connection terminated( unexpectedly| due to connection timeout)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout expired|Query read timeout|timeout exceeded when trying to connect)$/;

export function sqlState(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

export function isConnectionLost(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (CONNECTION_LOST.test(err.message)) return true;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ENOTCONN|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(code) || /^(08|57P0)/.test(code);
}

/** A PostgreSQL failure that is not the machine's: the code and the operation only. */
export class PostgresError extends Error {
  constructor(
    readonly code: string,
    readonly operation: string,
  ) {
    super(`PostgreSQL error ${code}${CONDITIONS[code] ? ` (${CONDITIONS[code]})` : ''} during ${operation}`);
    this.name = 'PostgresError';
  }
}

/**
 * The one way a store error is thrown: transient failures (a lost connection, a server shutting down, a deadlock,
 * a full disk) as TransientError, so the file is kept and retried; anything else as PostgresError. Both carry a
 * code; neither carries the server's message.
 */
export function storeError(err: unknown, operation: string, connectionLost = false): Error {
  if (err instanceof TransientError || err instanceof PostgresError) return err;
  const state = sqlState(err);
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  if (connectionLost || isConnectionLost(err)) {
    return new TransientError(state ?? (typeof errno === 'string' ? errno : 'CONNECTION_LOST'), `the connection to PostgreSQL was lost during ${operation}; the batch rolled back`);
  }
  if (isTransient(err)) {
    const code = state ?? (typeof errno === 'string' ? errno : 'transient');
    return new TransientError(code, `PostgreSQL failed during ${operation} (${code}${state && CONDITIONS[state] ? `, ${CONDITIONS[state]}` : ''}); it may succeed later`);
  }
  return new PostgresError(state ?? (typeof errno === 'string' ? errno : err instanceof Error ? err.name : 'unknown'), operation);
}
