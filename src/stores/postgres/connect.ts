// The connection to PostgreSQL: the URL from .env, a pool, and start-up failures as one line that says what to fix.
// The URL's password never appears in a message; server messages never do either (they can quote values).
import pg from 'pg';
import { UserError } from '../../core/errors.js';
import { isConnectionLost, sqlState, storeError } from './errors.js';

export const PG_URL_VARIABLE = 'MEDETL_PG_URL';

/** What a message may say about the server we talk to: no password. */
export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
}

export type PgRole = 'writer' | 'reader';

/** The URL from the environment (.env merged under the process environment), or a clear error. */
export function pgUrlFrom(env: Record<string, string | undefined>): string {
  const url = env[PG_URL_VARIABLE]?.trim();
  if (!url) {
    throw new UserError(`store: postgres needs ${PG_URL_VARIABLE} in .env, e.g. ${PG_URL_VARIABLE}=postgres://medetl:secret@127.0.0.1:5432/medetl`, 'pg_url_missing');
  }
  return url;
}

/** Checks the URL's shape (never echoing it: it holds a password) and names the target. */
export function parsePgUrl(url: string): PgTarget {
  const bad = (why: string) =>
    new UserError(`${PG_URL_VARIABLE} is not a valid PostgreSQL URL (${why}): expected postgres://user:password@host:5432/database`, 'pg_url_invalid');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('it does not parse as a URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw bad(`the scheme must be postgres:// or postgresql://`);
  const host = decodeURIComponent(u.hostname).replace(/^\[|\]$/g, '') || (u.searchParams.get('host') ?? '');
  if (!host) throw bad('no host');
  const port = u.port ? Number(u.port) : 5432;
  let database = '';
  try {
    database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  } catch {
    throw bad('the database name is not valid percent-encoding');
  }
  if (!database || database.includes('/')) throw bad('no database name after the host');
  const user = decodeURIComponent(u.username) || process.env.PGUSER || process.env.USER || 'postgres';
  return { host, port, database, user };
}

export function describeTarget(t: PgTarget): string {
  return `${t.user}@${t.host}:${t.port}/${t.database}`;
}

export interface PoolOptions {
  role: PgRole;
  max?: number;
  /** Seen in pg_stat_activity. */
  applicationName?: string;
  /** A pool-level error (an idle connection dropped): code only. */
  onIdleError?: (code: string) => void;
}

/**
 * Server-side settings for each session. A reader cannot write, whatever it runs (the server refuses: 25006). A
 * writer's batch that sits idle in its transaction for 10 minutes (a hung process) is ended by the server, and a
 * writer whose machine vanished without closing its socket is noticed by TCP keepalives within about two minutes:
 * either way its locks are released and its batch rolls back, so other workers can load the file.
 */
export function sessionOptions(role: PgRole): string {
  const keepalive = '-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6';
  return role === 'reader' ? `-c default_transaction_read_only=on ${keepalive}` : `-c idle_in_transaction_session_timeout=600000 ${keepalive}`;
}

export function createPool(url: string, opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 4,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: opts.applicationName ?? (opts.role === 'reader' ? 'medetl-reader' : 'medetl'),
    options: sessionOptions(opts.role),
  });
  // An idle connection that drops (server restart, pg_terminate_backend) must not crash the process; the next
  // checkout connects afresh.
  pool.on('error', (err) => opts.onIdleError?.(sqlState(err) ?? (err as NodeJS.ErrnoException).code ?? 'CONNECTION_LOST'));
  return pool;
}

/** A failure to connect at start, as the one line a user needs. */
export function connectError(err: unknown, t: PgTarget): Error {
  const where = describeTarget(t);
  const state = sqlState(err);
  const errno = (err as NodeJS.ErrnoException | null)?.code;
  const cause = (err as { cause?: unknown } | null)?.cause;
  const causeCode = (cause as NodeJS.ErrnoException | undefined)?.code;
  const is = (c: string) => errno === c || causeCode === c;
  if (is('ECONNREFUSED')) {
    return new UserError(`PostgreSQL refused the connection at ${t.host}:${t.port}: is the server running, and is ${PG_URL_VARIABLE} right?`, 'pg_unreachable');
  }
  if (is('ENOTFOUND') || is('EAI_AGAIN')) return new UserError(`PostgreSQL host ${t.host} cannot be resolved: check the host in ${PG_URL_VARIABLE}`, 'pg_unreachable');
  if (is('ETIMEDOUT') || is('EHOSTUNREACH') || is('ENETUNREACH') || /timeout/i.test((err as Error)?.message ?? '')) {
    return new UserError(`PostgreSQL at ${t.host}:${t.port} did not answer within 10 s: check the host, the port and any firewall`, 'pg_unreachable');
  }
  switch (state) {
    case '28P01':
      return new UserError(`PostgreSQL rejected the password for user ${t.user} (${where}): fix the password in ${PG_URL_VARIABLE}`, 'pg_auth_failed');
    case '28000':
      return new UserError(`PostgreSQL does not let user ${t.user} connect to ${t.database} (no such role, or pg_hba.conf refuses it): check ${PG_URL_VARIABLE}`, 'pg_auth_failed');
    case '3D000':
      return new UserError(`PostgreSQL database ${t.database} does not exist on ${t.host}:${t.port}: create it (createdb -h ${t.host} -p ${t.port} ${t.database}) or fix ${PG_URL_VARIABLE}`, 'pg_database_missing');
    case '42501':
      return new UserError(`user ${t.user} may not connect to database ${t.database}: GRANT CONNECT ON DATABASE ${t.database} TO ${t.user}`, 'pg_permission_denied');
    case '53300':
      return new UserError(`PostgreSQL at ${t.host}:${t.port} has no free connections (too_many_connections): raise max_connections or stop other clients`, 'pg_unreachable');
    case '57P03':
      return new UserError(`PostgreSQL at ${t.host}:${t.port} is starting up or shutting down: try again in a moment`, 'pg_unreachable');
    default:
      break;
  }
  if (/SSL/i.test((err as Error)?.message ?? '')) {
    return new UserError(`PostgreSQL at ${t.host}:${t.port}: the SSL settings of ${PG_URL_VARIABLE} do not match the server's (sslmode)`, 'pg_ssl');
  }
  if (isConnectionLost(err)) return new UserError(`PostgreSQL at ${t.host}:${t.port} closed the connection at start: check the server's log`, 'pg_unreachable');
  const e = storeError(err, 'connect');
  return new UserError(`PostgreSQL connection to ${where} failed (${(e as { code?: string }).code ?? 'unknown'})`, 'pg_connect_failed');
}

/** A checked-out connection that remembers whether it broke while we held it (pg emits 'error' on it then). */
export interface Conn {
  readonly client: pg.PoolClient;
  /** The connection failed while checked out (terminated, reset): it must not go back to the pool. */
  readonly broken: boolean;
  /** Back to the pool; destroyed instead when it broke, or when `destroy` says its state is unknown. */
  release(destroy?: boolean): void;
}

export async function checkout(pool: pg.Pool): Promise<Conn> {
  const client = await pool.connect();
  let broken = false;
  let released = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  return {
    client,
    get broken() {
      return broken;
    },
    release(destroy = false) {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      // A broken connection (or one whose state we do not know) is destroyed rather than reused.
      client.release(broken || destroy ? new Error('connection discarded') : undefined);
    },
  };
}
