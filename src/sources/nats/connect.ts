// The connection to NATS, from .env: MEDETL_NATS_URL (comma-separated for a cluster) and at most one way to
// authenticate (MEDETL_NATS_USER + MEDETL_NATS_PASS, MEDETL_NATS_TOKEN, or a MEDETL_NATS_CREDS file). Credentials
// are never logged and never appear in an error: servers are described by host and port only.
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { UserError } from '../../core/errors.js';

export const NATS_URL_VARIABLE = 'MEDETL_NATS_URL';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export type { NatsConnection };

/** `host:port` of each server, without user, password or token. */
export function describeServers(url: string | undefined): string {
  return (url ?? DEFAULT_NATS_URL)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      try {
        const u = new URL(/^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`);
        return `${u.hostname}:${u.port || '4222'}`;
      } catch {
        return '(unparsable server address)';
      }
    })
    .join(', ');
}

/** Connection options from the environment (pure apart from reading the creds and CA files). */
export function natsConnectOptions(env: Record<string, string | undefined>, name: string): NodeConnectionOptions {
  const url = env[NATS_URL_VARIABLE]?.trim() || DEFAULT_NATS_URL;
  const servers = url.split(',').map((s) => s.trim()).filter(Boolean);
  const user = env.MEDETL_NATS_USER?.trim();
  const pass = env.MEDETL_NATS_PASS;
  const token = env.MEDETL_NATS_TOKEN?.trim();
  const creds = env.MEDETL_NATS_CREDS?.trim();
  const ways = [user || pass ? 'MEDETL_NATS_USER/MEDETL_NATS_PASS' : '', token ? 'MEDETL_NATS_TOKEN' : '', creds ? 'MEDETL_NATS_CREDS' : ''].filter(Boolean);
  if (ways.length > 1) throw new UserError(`NATS credentials: set only one of ${ways.join(', ')}`, 'config_invalid');
  if ((user && !pass) || (!user && pass)) throw new UserError('NATS credentials: MEDETL_NATS_USER and MEDETL_NATS_PASS go together', 'config_invalid');

  const opts: NodeConnectionOptions = {
    servers,
    name,
    // A worker outlives server restarts and fail-overs: reconnect forever, buffering acks meanwhile.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // Notice a dead server within ~30 s rather than the default 4 minutes.
    pingInterval: 10_000,
    maxPingOut: 3,
    timeout: 5000,
  };
  if (user && pass) Object.assign(opts, { user, pass });
  if (token) opts.token = token;
  if (creds) {
    let text: Uint8Array;
    try {
      text = readFileSync(creds);
    } catch (err) {
      throw new UserError(`MEDETL_NATS_CREDS names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'config_invalid');
    }
    opts.authenticator = credsAuthenticator(text);
  }
  const ca = env.MEDETL_NATS_CA?.trim();
  if (ca) opts.tls = { caFile: ca };
  else if (servers.some((s) => s.toLowerCase().startsWith('tls://'))) opts.tls = {};
  return opts;
}

/** Connects, or throws a UserError that names the servers (never the credentials) and the reason code. */
export async function connectNats(env: Record<string, string | undefined>, name = 'medetl'): Promise<NatsConnection> {
  const opts = natsConnectOptions(env, name);
  const where = describeServers(env[NATS_URL_VARIABLE]);
  try {
    return await connect(opts);
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
    const auth = e.name === 'AuthorizationError' || /authorization|authentication/i.test(e.message ?? '');
    const code = e.code ?? e.cause?.code ?? (/refused/i.test(e.message ?? '') ? 'ECONNREFUSED' : e.name ?? 'error');
    const hint = env[NATS_URL_VARIABLE]?.trim() ? '' : ` (${NATS_URL_VARIABLE} is not set: this is the default)`;
    throw new UserError(
      auth
        ? `NATS at ${where} refused the credentials: check MEDETL_NATS_USER/PASS, MEDETL_NATS_TOKEN or MEDETL_NATS_CREDS in .env`
        : `cannot reach NATS at ${where}${hint}: ${code}`,
      auth ? 'nats_auth_failed' : 'nats_unreachable',
    );
  }
}

/**
 * Drain (flush the last acks and publishes, then close); with the server away a drain would wait for a reconnect
 * forever, so after `limitMs` the connection is closed as it is. Returns whether the drain finished.
 */
export async function drainWithin(nc: NatsConnection, limitMs = 5000): Promise<boolean> {
  if (nc.isClosed()) return true;
  let timer: NodeJS.Timeout | undefined;
  const drained = nc.drain().then(
    () => true,
    () => true, // already closing or closed
  );
  const ok = await Promise.race([drained, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), limitMs)))]);
  clearTimeout(timer);
  if (!ok) await nc.close().catch(() => undefined);
  return ok;
}
