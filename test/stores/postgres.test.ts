// The PostgreSQL store: the store contract against a real server, then what only PostgreSQL promises: real child
// processes racing for one file and killed mid-COPY, start-up errors as one line, the analysts' GRANTs, a connection
// terminated mid-batch, a schema replaced under a running store.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { zip3Table } from '../../src/config/zip3.js';
import { isTransient, UserError } from '../../src/core/errors.js';
import { deidentify } from '../../src/pipeline/deid.js';
import { openPostgresLedger, openPostgresOutbox, openPostgresStore, type PostgresStore } from '../../src/stores/postgres/store.js';
import { AlreadyCommittedError } from '../../src/stores/postgres/transaction.js';
import { createPool, pgUrlFrom } from '../../src/stores/postgres/connect.js';
import { eventsCsv, plausibleRows, REPO } from '../helpers/project.js';
import { PG_ADMIN_URL, uniqueName } from '../helpers/services.js';
import { expectedRows, KEY, load, newBatchId, NOW, readCsv, stage } from './batches.js';
import { storeContract } from './contract.js';
import { backends, pgHarness, stallCopyAt, waitFor, type PgHarness } from './pg-harness.js';

storeContract('postgres', pgHarness);

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pg-child.mjs');
const DIST_STORE = path.join(REPO, 'dist', 'stores', 'postgres', 'store.js');

interface Child {
  proc: ChildProcessWithoutNullStreams;
  next(event: string): Promise<Record<string, unknown>>;
  send(word: string): void;
  exited: Promise<number | null>;
  stderr(): string;
}

function child(url: string, file: string, batchId: string, hold: 'none' | 'before-copy' | 'before-commit' = 'none'): Child {
  const proc = spawn(process.execPath, [CHILD, url, file, batchId, hold], { stdio: ['pipe', 'pipe', 'pipe'] });
  const seen: Record<string, unknown>[] = [];
  const waiting: { event: string; resolve: (v: Record<string, unknown>) => void }[] = [];
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    seen.push(o);
    for (const w of waiting.filter((x) => x.event === o.event)) w.resolve(o);
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    exited,
    stderr: () => err,
    send: (word) => proc.stdin.write(`${word}\n`),
    next(event) {
      const hit = seen.find((o) => o.event === event);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        waiting.push({ event, resolve });
        void exited.then((code) => setTimeout(() => reject(new Error(`child exited (${code}) before "${event}": ${err.slice(-500)}`)), 50));
      });
    },
  };
}

/** A port nobody listens on. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function withUser(url: string, user: string, password = 'sekret-pw-123'): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

async function startupError(p: Promise<unknown>): Promise<UserError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(UserError);
  const ue = e as UserError;
  expect(ue.message).not.toMatch(/\n/);
  expect(ue.message).not.toContain('sekret');
  return ue;
}

describe('PostgreSQL store', () => {
  let h: PgHarness | null = null;
  const stores: PostgresStore[] = [];
  const roles: string[] = [];
  const children: Child[] = [];
  let dir = '';
  const open = async (url = h!.url, role: 'writer' | 'reader' = 'writer') => {
    const s = await openPostgresStore(url, {}, { role });
    stores.push(s);
    return s;
  };
  const writeCsv = (name: string, text: string) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  beforeEach(async (ctx) => {
    h = await pgHarness();
    if (!h) return ctx.skip();
    dir = mkdtempSync(path.join(tmpdir(), 'medetl-pgstore-'));
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    await h?.dispose();
    // Roles are cluster-wide: dropped after the database (which took their objects and rights with it).
    for (const r of roles.splice(0)) {
      const a = new pg.Client({ connectionString: PG_ADMIN_URL });
      await a.connect();
      await a.query(`DROP ROLE IF EXISTS ${r}`).finally(() => a.end());
    }
    h = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  const makeRole = async (prefix: string) => {
    const r = uniqueName(prefix);
    roles.push(r);
    await h!.admin.query(`CREATE ROLE ${r} LOGIN PASSWORD 'sekret-pw-123'`);
    return r;
  };

  const needDist = () => {
    if (!existsSync(DIST_STORE)) throw new Error('these tests run child processes on dist/: build first (npx tsc -p tsconfig.json)');
  };

  it('two processes given the same file at once: the second waits, then finds it committed', async () => {
    needDist();
    const file = writeCsv('events_same.csv', eventsCsv(plausibleRows(3000, { seed: 201, patients: 60 })));
    const a = child(h!.url, file, newBatchId(), 'before-commit');
    children.push(a);
    await a.next('inserted');
    const b = child(h!.url, file, newBatchId());
    children.push(b);
    // b is blocked on the content key's advisory lock while a holds its open transaction.
    await waitFor('the second process to wait on the content lock', async () => {
      const r = await h!.admin.query(
        `SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid WHERE l.locktype = 'advisory' AND NOT l.granted AND s.datname = $1`,
        [h!.database],
      );
      return Number(r.rows[0].n) === 1;
    });
    expect(await h!.count('events')).toBe(0);
    a.send('commit');
    const loaded = await a.next('loaded');
    const skipped = await b.next('committed');
    expect(skipped.batchId).toBe(loaded.batchId);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(await h!.count('events')).toBe(3000);
    expect(await h!.count('batches')).toBe(1);
  });

  it('SIGKILL mid-COPY leaves no rows and no ledger row; in flight while alive, abandoned after; the next run loads it once', async () => {
    needDist();
    const n = 30_000;
    const file = writeCsv('events_big.csv', eventsCsv(plausibleRows(n, { seed: 202, patients: 300 })));
    const idA = newBatchId();
    const a = child(h!.url, file, idA, 'before-copy');
    children.push(a);
    await a.next('ready');
    const observer = await open();
    expect((await observer.stagedFates([idA])).get(idA)).toBe('in_flight');
    // Kill it while the server is receiving rows: the COPY is held at row 10,000 of 30,000.
    const stall = await stallCopyAt(h!, 10_000);
    a.send('go');
    await stall.copying();
    a.proc.kill('SIGKILL');
    expect(await a.exited).toBeNull();
    // The server notices the closed socket when the held COPY reads on: then it rolls the transaction back.
    await stall.release();
    await waitFor('the server to end the killed session', async () => (await backends(h!, `application_name = 'medetl' AND state <> 'idle'`)).length === 0);
    for (const t of ['events', 'batches', 'patients', 'event_fingerprints', 'batch_sources'] as const) expect(await h!.count(t)).toBe(0);
    expect((await observer.stagedFates([idA])).get(idA)).toBe('abandoned');

    const b = child(h!.url, file, newBatchId());
    children.push(b);
    const loaded = await b.next('loaded');
    expect(loaded.rows).toBe(n);
    expect(await b.exited).toBe(0);
    const c = child(h!.url, file, newBatchId());
    children.push(c);
    expect((await c.next('committed')).batchId).toBe(loaded.batchId);
    expect(await h!.count('events')).toBe(n);
    expect(await h!.count('batches')).toBe(1);
    expect((await observer.stagedFates([idA, String(loaded.batchId)])).get(String(loaded.batchId))).toBe('committed');
  }, 120_000);

  it('a connection terminated mid-batch is a transient error, and nothing of the batch remains', async () => {
    const store = await open();
    const r = readCsv(eventsCsv(plausibleRows(500, { seed: 203, prefix: 'MRN' })));
    const s = await stage(store, r);
    if ('status' in s) throw new Error('fresh content reported as committed');
    const [victim] = await waitFor('the batch to sit idle in its transaction', async () => {
      const b = await backends(h!, `state = 'idle in transaction'`);
      return b.length === 1 ? b : null;
    });
    await h!.admin.query('SELECT pg_terminate_backend($1)', [victim.pid]);
    await waitFor('the backend to go', async () => (await backends(h!, `pid = ${victim.pid}`)).length === 0);
    const e = await s.tx.commit(s.commit).then(() => null, (x: unknown) => x as Error);
    expect(e).toBeInstanceOf(Error);
    expect(isTransient(e)).toBe(true);
    expect(e!.message).not.toMatch(/MRN|[0-9a-f]{64}/);
    await s.tx.rollback();
    await s.tx.rollback();
    for (const t of ['events', 'batches', 'patients', 'event_fingerprints', 'batch_sources'] as const) expect(await h!.count(t)).toBe(0);
    // The store is still usable: the file is retried and loads.
    expect((await load(store, r)).status).toBe('loaded');
    expect(await h!.count('events')).toBe(500);
  });

  it('a connection terminated during a COPY is a transient error too', async () => {
    const store = await open();
    const r = readCsv(eventsCsv(plausibleRows(20_000, { seed: 204, patients: 200 })));
    // A batch whose single insertRows is one long COPY.
    const begun = await store.begin(r.ref, newBatchId());
    if (begun.kind !== 'open') throw new Error('fresh content reported as committed');
    const masked = deidentify(r.raw, { key: KEY, profile: 'safe_harbor', zip3: zip3Table('census2020'), batchId: begun.tx.batchId, nowMs: NOW });
    const stall = await stallCopyAt(h!, 5_000);
    const copying = begun.tx.insertRows(masked, 0, masked.n).then(() => null, (x: unknown) => x as Error);
    await h!.admin.query('SELECT pg_terminate_backend($1)', [await stall.copying()]);
    const e = await copying;
    expect(e).toBeInstanceOf(Error);
    expect(isTransient(e)).toBe(true);
    await begun.tx.rollback();
    await stall.release();
    expect(await h!.count('events')).toBe(0);
    expect(await h!.count('patients')).toBe(0);
  }, 60_000);

  it('start-up errors are one line naming what to fix: bad URL, refused port, missing database, reader of nothing', async () => {
    for (const bad of ['not a url', 'mysql://u:sekret@127.0.0.1:3306/db', 'postgres://u:sekret@127.0.0.1:5432', 'postgres://u:sekret@:5432/db']) {
      const e = await startupError(openPostgresStore(bad));
      expect(e.code).toBe('pg_url_invalid');
      expect(e.message).toContain('MEDETL_PG_URL');
    }
    expect(() => pgUrlFrom({})).toThrow(/MEDETL_PG_URL/);
    const port = await freePort();
    const refused = await startupError(openPostgresStore(`postgres://postgres:sekret@127.0.0.1:${port}/medetl`));
    expect(refused.code).toBe('pg_unreachable');
    expect(refused.message).toContain(`refused the connection at 127.0.0.1:${port}`);
    const missingDb = uniqueName('medetl_nope');
    const missing = await startupError(openPostgresStore(withUser(h!.url, 'postgres', 'sekret').replace(`/${h!.database}`, `/${missingDb}`)));
    expect(missing.code).toBe('pg_database_missing');
    expect(missing.message).toContain(`database ${missingDb} does not exist`);
    const noUser = await startupError(openPostgresStore(withUser(h!.url, uniqueName('nobody'))));
    expect(noUser.code).toBe('pg_auth_failed');
    const reader = await startupError(openPostgresStore(h!.url, {}, { role: 'reader' }));
    expect(reader.code).toBe('pg_store_missing');
    expect(await h!.admin.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'medetl%'`).then((q) => q.rowCount)).toBe(0);
  });

  it('a role without CREATE rights gets one line and no half-made schema; schemas made for it by the owner work', async () => {
    const role = await makeRole('medetl_nocreate');
    const url = withUser(h!.url, role);
    const e = await startupError(openPostgresStore(url));
    expect(e.code).toBe('pg_permission_denied');
    expect(e.message).toContain(`user ${role} may not create schemas in database ${h!.database}`);
    expect(e.message).toContain(`GRANT CREATE ON DATABASE ${h!.database} TO ${role}`);
    expect((await h!.admin.query(`SELECT 1 FROM pg_namespace WHERE nspname LIKE 'medetl%'`)).rowCount).toBe(0);
    // Schemas it may not use: still one line, still nothing created in them.
    await h!.admin.query('CREATE SCHEMA medetl; CREATE SCHEMA medetl_private');
    const e2 = await startupError(openPostgresStore(url));
    expect(e2.code).toBe('pg_permission_denied');
    expect(e2.message).toContain(`may not create tables in schema medetl`);
    expect((await h!.admin.query(`SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'medetl%'`)).rowCount).toBe(0);
    // The owner hands the schemas over (docs/postgres.md): the role creates its tables and loads.
    await h!.admin.query(`ALTER SCHEMA medetl OWNER TO ${role}; ALTER SCHEMA medetl_private OWNER TO ${role}`);
    const store = await open(url);
    expect((await load(store, readCsv(eventsCsv(plausibleRows(40, { seed: 206 }))))).status).toBe('loaded');
    // A second writer without rights on the tables it finds is refused at start, by name.
    const other = await makeRole('medetl_other');
    await h!.admin.query(`GRANT USAGE ON SCHEMA medetl, medetl_private TO ${other}; GRANT SELECT ON ALL TABLES IN SCHEMA medetl TO ${other}`);
    const e3 = await startupError(openPostgresStore(withUser(h!.url, other)));
    expect(e3.message).toMatch(new RegExp(`user ${other} may not write to medetl(_private)?\\.`));
  });

  it("the analysts' role with the documented GRANTs reads cleaned_events and is refused on medetl_private", async () => {
    const writer = await open();
    const a = await load(writer, readCsv(eventsCsv(plausibleRows(120, { seed: 207 }))), { sourceName: 'events_20260115_0001.csv' });
    await writer.recordQuarantine({ sourceName: 'events_bad.csv', reasonCode: 'empty_file', contentKey: null, atMs: Date.UTC(2026, 0, 15) });
    const analyst = await makeRole('medetl_analyst');
    const doc = readFileSync(path.join(REPO, 'docs', 'postgres.md'), 'utf8');
    const block = doc.slice(doc.indexOf('-- analyst-grants'), doc.indexOf('-- end analyst-grants'));
    expect(block).toContain('GRANT SELECT ON ALL TABLES IN SCHEMA medetl');
    const sql = block
      .split('\n')
      .filter((l) => !l.startsWith('--') && l.trim())
      .join('\n')
      .replaceAll('medetl_analyst', analyst)
      .replace(`DATABASE medetl `, `DATABASE ${h!.database} `)
      .replace(/CREATE ROLE [^;]+;/, '');
    await h!.admin.query(sql);
    const url = withUser(h!.url, analyst);
    const reader = await open(url, 'reader');
    const [b] = await reader.ledger.batches();
    expect(b).toMatchObject({ batchId: a.batchId, loaded: 120, sourceName: null, arrivedAtMs: null, committedAtMs: null, ms: null });
    expect((await reader.ledger.summary()).quarantinedByReason).toEqual({});
    expect(await reader.ledger.quarantined()).toEqual([]);
    expect((await writer.ledger.batches())[0].sourceName).toBe('events_20260115_0001.csv');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query('SELECT count(*)::int AS n FROM medetl.cleaned_events')).rows[0].n).toBe(120);
      for (const q of ['SELECT * FROM medetl_private.batch_sources', 'SELECT * FROM medetl_private.quarantined', "INSERT INTO medetl.meta VALUES ('x', 'y')"]) {
        await expect(c.query(q)).rejects.toMatchObject({ code: '42501' });
      }
      // Tables the writer creates later (the BI tables) are readable too: ALTER DEFAULT PRIVILEGES.
      await h!.admin.query('CREATE TABLE medetl.kpi_later (x integer); INSERT INTO medetl.kpi_later VALUES (1)');
      expect((await c.query('SELECT x FROM medetl.kpi_later')).rows).toEqual([{ x: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('checkIdentity fails clearly when the schema is dropped or replaced under a running store', async () => {
    const store = await open();
    await load(store, readCsv(eventsCsv(plausibleRows(20, { seed: 208 }))));
    await store.checkIdentity();
    await h!.admin.query('DROP SCHEMA medetl CASCADE; DROP SCHEMA medetl_private CASCADE');
    const gone = await store.checkIdentity().then(() => null, (x: unknown) => x);
    expect(gone).toBeInstanceOf(UserError);
    expect((gone as UserError).code).toBe('store_replaced');
    const fresh = await open();
    await fresh.checkIdentity();
    expect(fresh.identity.storeId).not.toBe(store.identity.storeId);
    await expect(store.checkIdentity()).rejects.toMatchObject({ code: 'store_replaced' });
  });

  it('two processes creating the store at once make it once', async () => {
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    expect(new Set([a.identity.storeId, b.identity.storeId, c.identity.storeId]).size).toBe(1);
    expect((await h!.admin.query(`SELECT count(*)::int AS n FROM medetl.meta WHERE name = 'store_id'`)).rows[0].n).toBe(1);
  });

  it('two batches holding the same events at the same moment: the later one fails as transient and, retried, finds them duplicates', async () => {
    const a = await open();
    const b = await open();
    const shared = plausibleRows(80, { seed: 213, prefix: 'shared' });
    const fileA = readCsv(eventsCsv([...shared, ...plausibleRows(20, { seed: 214, prefix: 'onlya' })]));
    const fileB = readCsv(eventsCsv([...shared.slice(0, 40), ...plausibleRows(10, { seed: 215, prefix: 'onlyb' })]));
    const sa = await stage(a, fileA);
    if ('status' in sa) throw new Error('fresh content reported as committed');
    // b's fingerprints include 40 that a holds uncommitted: b waits for a.
    const sb = stage(b, fileB).then((x) => x, (x: unknown) => x as Error);
    await waitFor('the second batch to wait for the first', async () => (await backends(h!, `wait_event_type = 'Lock'`)).length === 1);
    await sa.tx.commit(sa.commit);
    const e = await sb;
    expect(e).toBeInstanceOf(Error);
    expect(isTransient(e)).toBe(true);
    expect((e as { code?: string }).code).toBe('fingerprint_race');
    const retried = await load(b, fileB);
    if (retried.status !== 'loaded') throw new Error('expected a load');
    expect(retried.commit.entry).toMatchObject({ loaded: 10, duplicates: 40 });
    expect(await h!.count('events')).toBe(110);
    expect(await h!.count('event_fingerprints')).toBe(110);
  });

  it('the unique content key is the backstop: content committed by a writer that took no lock is reported as committed', async () => {
    const store = await open();
    const r = readCsv(eventsCsv(plausibleRows(60, { seed: 209 })));
    const s = await stage(store, r);
    if ('status' in s) throw new Error('fresh content reported as committed');
    // Another writer (an older tool, say) commits the same content key without the advisory lock.
    await h!.admin.query(
      `INSERT INTO medetl.batches (batch_ref, seq, batch_id, content_key, head_key, start_offset, end_offset, rows_in, loaded, rejected, duplicates,
         flagged, clipped, files, key_id, key_mode, deid_profile, zip3_vintage, zip3_table_hash, ruleset_version, warnings)
       VALUES (-1, 1, 'foreign-batch', $1, $2, 0, 1, 0, 0, 0, 0, 0, 0, '', 'k', 'hmac', 'safe_harbor', 'v', 'h', 'r', '')`,
      [r.ref.contentKey, r.ref.headKey],
    );
    const e = await s.tx.commit(s.commit).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(AlreadyCommittedError);
    expect((e as AlreadyCommittedError).batchId).toBe('foreign-batch');
    expect(await h!.count('events')).toBe(0);
    expect(await h!.count('batches')).toBe(1);
    expect(await store.begin(r.ref, newBatchId())).toEqual({ kind: 'committed', batchId: 'foreign-batch' });
  });

  it('an outbox sink has one sender at a time; delivered chunks are counted once', async () => {
    const store = await open();
    const other = await open();
    const a = await load(store, readCsv(eventsCsv(plausibleRows(30, { seed: 210 }))), { outboxSink: 'powerbi' });
    const q1 = store.outboxQueue('powerbi');
    const q2 = other.outboxQueue('powerbi');
    expect(await q1.pending()).toEqual({ chunks: 1, rows: 30 });
    const chunk = await q1.next();
    expect(chunk).toMatchObject({ batchId: a.batchId, rows: 30, payload: JSON.stringify({ rows: 30 }) });
    expect(await q2.next()).toBeUndefined();
    await q1.attempted(chunk!);
    expect((await h!.admin.query('SELECT attempts FROM medetl.outbox')).rows).toEqual([{ attempts: 1 }]);
    await q1.delivered(chunk!);
    await q1.delivered(chunk!);
    expect(await q1.pending()).toEqual({ chunks: 0, rows: 0 });
    expect((await h!.admin.query('SELECT sink, batch_id, rows FROM medetl.outbox_delivered')).rows).toEqual([{ sink: 'powerbi', batch_id: a.batchId, rows: 30 }]);
    await q1.close();
    await load(store, readCsv(eventsCsv(plausibleRows(5, { seed: 211, prefix: 'more' }))), { outboxSink: 'powerbi' });
    expect(await q2.next()).toMatchObject({ rows: 5 });
    await q2.close();
    // What `medetl push` and the readers open from the config alone.
    const config = { env: { MEDETL_PG_URL: h!.url }, postgres: { schema: 'medetl', private_schema: 'medetl_private' } };
    const pushQueue = await openPostgresOutbox(config, 'powerbi');
    expect(await pushQueue.pending()).toEqual({ chunks: 1, rows: 5 });
    await pushQueue.close();
    await expect(pushQueue.pending()).rejects.toThrow();
    const ledger = await openPostgresLedger(config);
    expect((await ledger.summary()).batches).toBe(2);
    await ledger.close();
    await expect(ledger.summary()).rejects.toThrow();
  });

  it("a reader's connections are read-only on the server; a writer's sessions carry the idle-transaction and keepalive limits", async () => {
    const reader = createPool(h!.url, { role: 'reader' });
    try {
      await expect(reader.query('CREATE TABLE public.nope (x integer)')).rejects.toMatchObject({ code: '25006' });
      expect((await reader.query('SHOW tcp_keepalives_idle')).rows[0].tcp_keepalives_idle).toBe('60');
    } finally {
      await reader.end();
    }
    const writer = createPool(h!.url, { role: 'writer' });
    try {
      expect((await writer.query('SHOW idle_in_transaction_session_timeout')).rows[0].idle_in_transaction_session_timeout).toBe('10min');
      expect((await writer.query('SHOW default_transaction_read_only')).rows[0].default_transaction_read_only).toBe('off');
    } finally {
      await writer.end();
    }
  });

  it('declares the types Power BI reads as typed columns', async () => {
    await open();
    const r = await h!.admin.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'medetl' AND table_name = 'cleaned_events' ORDER BY ordinal_position`,
    );
    expect(r.rows.map((x) => `${x.column_name} ${x.data_type}`)).toEqual([
      'patient_key character varying', 'dob_year integer', 'age_years integer', 'event_year integer', 'event_date date', 'zip3 character varying',
      'systolic_bp double precision', 'diastolic_bp double precision', 'heart_rate double precision', 'outlier_flags character varying',
      'batch_id character varying',
    ]);
    const p = await h!.admin.query(`SELECT data_type FROM information_schema.columns WHERE table_schema = 'medetl_private' AND table_name = 'batch_sources' AND column_name = 'arrived_at'`);
    expect(p.rows[0].data_type).toBe('timestamp without time zone');
  });

  it('binary COPY round-trips dates before 2000, leap days, odd decimals and NULLs', async () => {
    const store = await open();
    const rows = plausibleRows(12, { seed: 212 });
    const at = ['1999-12-31T23:59:59Z', '1969-07-20T20:17:00Z', '2000-02-29T12:00:00Z', '2000-01-01T00:00:00Z', '1850-03-01T00:00:00Z', '2199-12-31T00:00:00Z'];
    at.forEach((ts, i) => (rows[i] = { ...rows[i], event_ts: ts }));
    rows[6] = { ...rows[6], systolic_bp: '0.1', diastolic_bp: '', heart_rate: '123.456789' };
    rows[7] = { ...rows[7], systolic_bp: '1e3', heart_rate: '-0', dob: '' };
    const a = await load(store, readCsv(eventsCsv(rows)), { profile: 'limited_data_set' });
    if (a.status !== 'loaded') throw new Error('expected a load');
    const got = await h!.cleanedEvents();
    expect(got).toEqual(expectedRows(a.masked));
    expect(got.map((r) => r.event_date)).toEqual(expect.arrayContaining(['1999-12-31', '1969-07-20', '2000-02-29', '2000-01-01', '1850-03-01', '2199-12-31']));
  });
});
