// The contract harness for the PostgreSQL store: a database of the test's own (pgDatabase), stores opened on it,
// and an admin connection outside any store that counts rows and terminates backends.
import pg from 'pg';
import { openPostgresStore } from '../../src/stores/postgres/store.js';
import { pgAvailable, pgDatabase } from '../helpers/services.js';
import { sortRows, type CleanedRow } from './batches.js';
import type { CountedTable, StoreHarness } from './contract.js';

export interface PgHarness extends StoreHarness {
  url: string;
  database: string;
  /** A superuser connection to the test database. */
  admin: pg.Client;
}

const PRIVATE = new Set<CountedTable>(['batch_sources', 'quarantined']);

export async function pgHarness(): Promise<PgHarness | null> {
  if (!(await pgAvailable())) return null;
  const db = await pgDatabase();
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  admin.on('error', () => undefined);
  return {
    concurrentWriters: true,
    url: db.url,
    database: db.name,
    admin,
    open: (steps) => openPostgresStore(db.url, { steps }),
    openReader: () => openPostgresStore(db.url, {}, { role: 'reader' }),
    async count(table) {
      const name = `${PRIVATE.has(table) ? 'medetl_private' : 'medetl'}.${table}`;
      const exists = await admin.query<{ r: string | null }>('SELECT to_regclass($1) AS r', [name]);
      if (exists.rows[0].r === null) return 0;
      const r = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`);
      return Number(r.rows[0].n);
    },
    async cleanedEvents() {
      const exists = await admin.query<{ r: string | null }>("SELECT to_regclass('medetl.cleaned_events') AS r");
      if (exists.rows[0].r === null) return [];
      const r = await admin.query<CleanedRow>(
        `SELECT patient_key, dob_year, age_years, event_year, event_date::text AS event_date, zip3, systolic_bp, diastolic_bp, heart_rate,
                outlier_flags, batch_id
           FROM medetl.cleaned_events
`,
      );
      return sortRows(r.rows);
    },
    async dispose() {
      await admin.end().catch(() => undefined);
      await db.drop();
    },
  };
}

/** Backends of this database other than the admin's, as pg_stat_activity shows them. */
export async function backends(h: PgHarness, where = 'true'): Promise<{ pid: number; state: string; query: string; application_name: string }[]> {
  const r = await h.admin.query(
    `SELECT pid, state, query, application_name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND (${where})`,
    [h.database],
  );
  return r.rows;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Holds any COPY into medetl.events at its `row`-th row until release(): a trigger (test instrumentation on the real
 * server) takes a shared advisory lock that the admin holds exclusively. Resolves with the COPYing backend's pid once
 * the COPY has received that many rows and is waiting.
 */
export async function stallCopyAt(h: PgHarness, row: number): Promise<{ copying(): Promise<number>; release(): Promise<void> }> {
  const key = 4242;
  await h.admin.query('SELECT pg_advisory_lock($1)', [key]);
  await h.admin.query(`CREATE SEQUENCE medetl.test_rows_seen;
    CREATE FUNCTION medetl.test_stall() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('medetl.test_rows_seen') = ${Math.floor(row)} THEN PERFORM pg_advisory_lock_shared(${key}); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_stall BEFORE INSERT ON medetl.events FOR EACH ROW EXECUTE FUNCTION medetl.test_stall()`);
  return {
    copying: () =>
      waitFor('a COPY held mid-way', async () => {
        const r = await h.admin.query(
          `SELECT p.pid, p.tuples_processed FROM pg_stat_progress_copy p JOIN pg_database d ON d.oid = p.datid
             JOIN pg_locks l ON l.pid = p.pid AND l.locktype = 'advisory' AND NOT l.granted WHERE d.datname = $1`,
          [h.database],
        );
        return r.rows.length === 1 && Number(r.rows[0].tuples_processed) >= row - 1 ? (r.rows[0].pid as number) : null;
      }),
    // Unlock first: the held COPY goes on (or, its client gone, finds the socket closed and rolls back), and only
    // then can the trigger be dropped (DROP TRIGGER waits for the COPY's transaction).
    async release() {
      await h.admin.query('SELECT pg_advisory_unlock($1)', [key]);
      await h.admin.query('DROP TRIGGER test_stall ON medetl.events; DROP FUNCTION medetl.test_stall(); DROP SEQUENCE medetl.test_rows_seen');
    },
  };
}
