// Real services for tests: a PostgreSQL database and a NATS server of the test's own, and ../shared.
// On a plain clone without them, tests that need them skip with a line saying what they need. CI (.ci/run) sets
// MEDETL_REQUIRE_SERVICES=1 and MEDETL_REQUIRE_SHARED=1, which turn those skips into failures.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { REPO } from './project.js';

/** The shared fixtures folder: ../shared beside the repository, or MEDETL_SHARED_DIR. */
export const SHARED = process.env.MEDETL_SHARED_DIR ? path.resolve(process.env.MEDETL_SHARED_DIR) : path.resolve(REPO, '..', 'shared');

/** Admin URL of the PostgreSQL server tests use (a superuser, trust auth on loopback). */
export const PG_ADMIN_URL = process.env.MEDETL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const NATS_URL = process.env.MEDETL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

const requireServices = process.env.MEDETL_REQUIRE_SERVICES === '1';
const requireShared = process.env.MEDETL_REQUIRE_SHARED === '1';

/** A unique, lower-case name for this test's database, stream or schema. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port) || defaultPort });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1500, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Whether the service answers. When it does not: in CI (MEDETL_REQUIRE_SERVICES=1) this throws, so the test
 * fails; elsewhere it prints what is missing and returns false, so the caller skips.
 */
async function available(what: string, url: string, port: number, how: string): Promise<boolean> {
  if (await reachable(url, port)) return true;
  const msg = `${what} is not reachable at ${url}: ${how}`;
  if (requireServices) throw new Error(`${msg} (MEDETL_REQUIRE_SERVICES=1)`);
  process.stderr.write(`skipping: ${msg}\n`);
  return false;
}

export const pgAvailable = (): Promise<boolean> =>
  available('PostgreSQL', PG_ADMIN_URL, 5432, 'install postgresql and start it, or set MEDETL_TEST_PG_URL (.ci/run does both)');
export const natsAvailable = (): Promise<boolean> =>
  available('NATS (JetStream)', NATS_URL.replace(/^nats:/, 'tcp:'), 4222, 'run nats-server -js, or set MEDETL_TEST_NATS_URL (.ci/run does both)');

/** A database of this test's own on the test server; drop() removes it (terminating leftover connections). */
export async function pgDatabase(prefix = 'medetl_test'): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const { default: pg } = await import('pg');
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    async drop() {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      try {
        await a.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await a.query(`DROP DATABASE IF EXISTS ${name}`);
      } finally {
        await a.end();
      }
    },
  };
}

/** A folder of ../shared, or null (with a line saying what is missing); throws in CI (MEDETL_REQUIRE_SHARED=1). */
export function sharedPath(rel: string): string | null {
  const p = path.join(SHARED, rel);
  if (existsSync(p)) return p;
  const msg = `${rel} is not in ${SHARED}: these tests need the shared fixtures, put them beside the repository (../shared/${rel}) or set MEDETL_SHARED_DIR`;
  if (requireShared) throw new Error(`${msg} (MEDETL_REQUIRE_SHARED=1)`);
  process.stderr.write(`skipping: ${msg}\n`);
  return null;
}
