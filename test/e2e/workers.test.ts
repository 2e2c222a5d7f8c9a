// Scale-out through the built CLI, on a real NATS server and a real PostgreSQL server: `watch --publish` and
// `medetl worker` as child processes. The crash test SIGKILLs random workers while files stream in; afterwards the
// store and the Parquet parts (read by DuckDB) hold every row exactly once. Then: a worker refuses SQLite and an
// unreachable NATS with one clear line, a SIGTERM finishes the batch in flight, and `status` shows the queue.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { duckQuery, globOf } from '../helpers/duck.js';
import { eventsCsv, makeProject, plausibleRows, TEST_KEY } from '../helpers/project.js';
import { natsAvailable, pgAvailable } from '../helpers/services.js';
import { workerProject, type Child, type WorkerProject } from '../helpers/worker-project.js';

const up = (await pgAvailable()) && (await natsAvailable());
let wp: WorkerProject | null = null;
afterEach(async () => {
  await wp?.cleanup();
  wp = null;
});

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms: number, why: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}\n${why()}`);
}

const ROWS = 400; // per file
const PATIENTS = 8; // per file: 50 rows each

/** File i: its own patients and times, so no row of one file is a duplicate of another's. */
function fileBody(i: number): string {
  return eventsCsv(plausibleRows(ROWS, { prefix: `f${i}`, patients: PATIENTS, seed: 100 + i, startMs: Date.UTC(2022, 0, 1) + i * 86_400_000 }));
}

describe.skipIf(!up)('medetl worker + watch --publish (real NATS and PostgreSQL, built CLI)', () => {
  it('3 workers, random SIGKILLs and restarts, 45 files streaming in: every row exactly once in PostgreSQL and Parquet, one ledger entry per file, the stream empty', { timeout: 120_000 }, async () => {
    const p = (wp = await workerProject());
    const FILES = 45;
    const publisher = p.spawn(['watch', '--publish', '--json']);
    const workers: Child[] = [];
    for (let i = 0; i < 3; i++) workers.push(p.spawn(['worker', '--json']));
    const loaded = async () => Number((await p.query<{ n: string }>('SELECT count(*) AS n FROM medetl.batches').catch(() => [{ n: '0' }]))[0].n);
    const diag = () => `publisher:\n${publisher.stderr()}\nworkers:\n${workers.map((w) => w.stderr().slice(-2000)).join('\n--\n')}`;

    // Files arrive one every ~150 ms, each written in two halves (the stability gate must not publish half a file).
    const streaming = (async () => {
      for (let i = 0; i < FILES; i++) {
        const body = fileBody(i);
        const f = p.file(`incoming/events_${String(i).padStart(3, '0')}.csv`);
        const cut = body.indexOf('\n', body.length >> 1) + 1;
        writeFileSync(f, body.slice(0, cut));
        await sleep(60);
        writeFileSync(f, body.slice(cut), { flag: 'a' });
        await sleep(90);
      }
    })();
    streaming.catch(() => undefined); // awaited below

    // Random workers SIGKILLed (mid-batch or idle) and restarted, while files arrive and are loaded.
    let kills = 0;
    let rnd = 12345;
    const random = () => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    await waitFor('the first batch', async () => (await loaded()) > 0, 30_000, diag);
    while (kills < 6 && (await loaded()) < FILES) {
      await sleep(300 + random() * 700);
      const at = Math.floor(random() * workers.length);
      workers[at].proc.kill('SIGKILL');
      await workers[at].exited;
      kills++;
      await sleep(150);
      workers[at] = p.spawn(['worker', '--json']);
    }
    await streaming;
    await waitFor('every file loaded and the stream empty', async () => {
      const q = await p.queue();
      return (await loaded()) >= FILES && q.messages === 0 && q.pending === 0 && q.ackPending === 0;
    }, 60_000, diag);
    expect(kills).toBeGreaterThanOrEqual(4);

    // Graceful stop of everything still running: each exits 0.
    for (const c of [publisher, ...workers]) c.proc.kill('SIGTERM');
    for (const c of [publisher, ...workers]) expect((await c.exited).code, c.stderr()).toBe(0);

    // One ledger entry per file, each with all its rows.
    const batches = await p.query<{ batch_id: string; loaded: number; rows_in: number }>('SELECT batch_id, loaded, rows_in FROM medetl.batches');
    expect(batches).toHaveLength(FILES);
    expect(batches.every((b) => b.loaded === ROWS && b.rows_in === ROWS)).toBe(true);
    const sources = await p.query<{ source_name: string }>('SELECT source_name FROM medetl_private.batch_sources ORDER BY 1');
    expect(sources.map((s) => s.source_name)).toEqual(Array.from({ length: FILES }, (_, i) => `events_${String(i).padStart(3, '0')}.csv`));

    // Every row exactly once: FILES * PATIENTS patients with ROWS / PATIENTS rows each, in the store and in Parquet.
    const perPatient = `SELECT count(*)::INT AS patients, min(c)::INT AS lo, max(c)::INT AS hi, sum(c)::INT AS rows FROM (SELECT patient_key, count(*) AS c FROM %s GROUP BY patient_key) t`;
    const want = { patients: FILES * PATIENTS, lo: ROWS / PATIENTS, hi: ROWS / PATIENTS, rows: FILES * ROWS };
    expect((await p.query(perPatient.replace('%s', 'medetl.cleaned_events')))[0]).toEqual(want);
    const parts = globOf(p.file('masked_out/parts'));
    expect((await duckQuery(perPatient.replace('%s', `read_parquet('${parts}')`)))[0]).toEqual(want);
    // No partial batch: each part is one committed batch with all its rows; nothing left staged.
    const byBatch = await duckQuery(`SELECT batch_id, count(*)::INT AS n FROM read_parquet('${parts}') GROUP BY batch_id ORDER BY batch_id`);
    expect(byBatch).toEqual(batches.map((b) => ({ batch_id: b.batch_id, n: ROWS })).sort((a, b) => (a.batch_id < b.batch_id ? -1 : 1)));
    expect(p.list('masked_out/parts').filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const v = JSON.parse(p.run(['verify', '--json']).stdout);
    expect(v, v.problems?.join('\n')).toMatchObject({ ok: true, batches: FILES, storeRows: FILES * ROWS, parquetRows: FILES * ROWS });

    // The raw files: every one archived once, none left in incoming/ or the shared folder, none quarantined.
    expect(p.list('incoming')).toEqual([]);
    expect(p.list('incoming/published')).toEqual([]);
    expect(p.list('quarantine')).toEqual([]);
    expect(p.list('incoming/processed')).toHaveLength(FILES);
    expect(await p.queue()).toEqual({ messages: 0, pending: 0, ackPending: 0 });
    // The publisher's lines name files and sequence numbers, never a patient value.
    expect(publisher.stdout()).not.toMatch(/f\d+-pt|Given|Family/);
  });

  it('refuses a SQLite store and an unreachable NATS server with one clear line, exit 2', async () => {
    const sqlite = makeProject('');
    writeFileSync(sqlite.file('.env'), `MEDETL_HMAC_KEY=${TEST_KEY}\nMEDETL_NATS_URL=nats://127.0.0.1:4222\n`, { mode: 0o600 });
    const r = sqlite.run(['worker']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('medetl: medetl worker needs store: postgres in config.yaml (this config has store: sqlite); workers share one PostgreSQL store, a SQLite store has one writer\n');

    const p = (wp = await workerProject());
    const refused = p.run(['worker'], { MEDETL_NATS_URL: 'nats://medetl:s3cretpw@127.0.0.1:1' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe('medetl: cannot reach NATS at 127.0.0.1:1: ECONNREFUSED\n'); // no credentials
    const pub = p.run(['watch', '--publish', '--drain'], { MEDETL_NATS_URL: 'nats://127.0.0.1:1' });
    expect(pub.status).toBe(2);
    expect(pub.stderr).toBe('medetl: cannot reach NATS at 127.0.0.1:1: ECONNREFUSED\n');
    const help = p.run(['worker', '--help']);
    expect(help.stdout).toMatch(/store: postgres/);
    expect(help.stdout).toMatch(/SIGTERM finishes the batch in flight/);
  });

  it('SIGTERM while a batch loads: the batch commits, its message is acknowledged, exit 0; status shows the queue and the workers', { timeout: 90_000 }, async () => {
    const p = (wp = await workerProject());
    const N = 150_000;
    writeFileSync(p.file('incoming/events_big.csv'), eventsCsv(plausibleRows(N, { prefix: 'big', patients: 300 })));
    writeFileSync(p.file('incoming/events_next.csv'), eventsCsv(plausibleRows(50, { prefix: 'next', startMs: Date.UTC(2024, 0, 1) })));
    const pub = p.run(['watch', '--publish', '--drain']);
    expect(pub.status, pub.stderr).toBe(0);
    expect(p.list('incoming')).toEqual([]);
    expect(p.list('incoming/published')).toHaveLength(2);
    expect(await p.queue()).toMatchObject({ messages: 2, pending: 2 });

    const w = p.spawn(['worker']);
    await waitFor('the worker to take the big file', async () => (await p.queue()).ackPending === 1, 30_000, () => w.stderr());
    // status while it works: the backlog and this worker, busy
    const st = JSON.parse(p.run(['status', '--json']).stdout);
    expect(st.workQueue).toMatchObject({ reachable: true, stream: p.settings.stream, exists: true, inFlight: 1, waiting: 1 });
    expect(st.workQueue.workers).toHaveLength(1);
    expect(st.workQueue.workers[0]).toMatchObject({ state: 'running', busy: true, pid: w.proc.pid });
    const human = p.run(['status']).stdout;
    expect(human).toMatch(/work queue: {3}stream \S+ at 127\.0\.0\.1:4222: 1 waiting, 1 in flight, 0 redelivered/);
    expect(human).toMatch(/workers: {6}1 seen in the last 10 s:/);

    w.proc.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit.code, w.stderr()).toBe(0);
    expect(w.stderr()).toMatch(/SIGTERM: finishing the batch in flight/);
    // The big batch is committed whole; the small file was not taken (it stays queued for the next worker).
    const rows = await p.query<{ n: string }>('SELECT count(*) AS n FROM medetl.cleaned_events');
    expect(Number(rows[0].n)).toBe(N);
    expect(await p.queue()).toEqual({ messages: 1, pending: 1, ackPending: 0 });
    expect(p.list('incoming/processed')).toEqual(['events_big.csv']);
    const after = JSON.parse(p.run(['status', '--json']).stdout);
    expect(after.workQueue.workers[0]).toMatchObject({ state: 'stopped', busy: false, batches: { done: 1, quarantined: 0, retried: 0 } });

    // NATS away: status says so and reports the rest.
    const away = p.run(['status'], { MEDETL_NATS_URL: 'nats://127.0.0.1:1' });
    expect(away.status).toBe(0);
    expect(away.stdout).toMatch(/work queue: {3}UNREACHABLE: cannot reach NATS at 127\.0\.0\.1:1: ECONNREFUSED/);
    expect(away.stdout).toMatch(/processed: {4}1 batch\(es\)/);
    const awayJson = JSON.parse(p.run(['status', '--json'], { MEDETL_NATS_URL: 'nats://127.0.0.1:1' }).stdout);
    expect(awayJson.workQueue).toEqual({ reachable: false, servers: '127.0.0.1:1', error: 'cannot reach NATS at 127.0.0.1:1: ECONNREFUSED' });
  });
});
