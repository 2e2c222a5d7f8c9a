// Scale-out benchmark: the same files loaded into PostgreSQL by one `medetl process`, then by 1, 2 and 4
// `medetl worker` processes fed by NATS JetStream (`watch --publish --drain` queues them first), each run on a
// fresh database and a stream of its own. Two figures: wall time from starting the loaders to the last commit
// (workers: polled in the ledger; process: its exit), which includes start-up and creating the schema; and the
// ledger's span, from the first batch's start to the last commit (the loading itself). Prints a markdown table and, last, one
// JSON line {"rows":[...]} for the main bench to embed.
// argv: [files=40] [rowsPerFile=25000] [workers=1,2,4]. MEDETL_BENCH_PG_URL (admin, default
// postgres://postgres@127.0.0.1:5432/postgres), MEDETL_BENCH_NATS_URL (default nats://127.0.0.1:4222). Needs `npm run build`.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { makeEvents } from './make-events.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'dist', 'cli.js');
const FILES = Number(process.argv[2] ?? 40);
const ROWS = Number(process.argv[3] ?? 25_000);
const WORKERS = (process.argv[4] ?? '1,2,4').split(',').map(Number);
const ADMIN = process.env.MEDETL_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS = process.env.MEDETL_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const KEY = 'ab'.repeat(32);
const say = (m) => process.stderr.write(`${m}\n`);

const work = mkdtempSync(path.join(tmpdir(), 'medetl-bench-workers-'));
const srcDir = path.join(work, 'files');
mkdirSync(srcDir);
say(`generating ${FILES} files x ${ROWS} rows in ${srcDir}`);
const files = [];
for (let i = 0; i < FILES; i++) {
  const f = path.join(srcDir, `events_${String(i).padStart(3, '0')}.csv`);
  await makeEvents(f, ROWS, { seed: 1000 + i, startMs: Date.UTC(2010, 0, 1) + i * ROWS * 60_000 });
  files.push(f);
}

const nc = await connect({ servers: NATS });
const jsm = await jetstreamManager(nc);

/** A fresh database and project folder (store postgres, a stream of its own); dispose() removes all three. */
async function project(label) {
  const db = `medetl_bench_${label}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const u = new URL(ADMIN);
  u.pathname = `/${db}`;
  const dir = path.join(work, label);
  mkdirSync(path.join(dir, 'incoming'), { recursive: true });
  const stream = `BENCH_${label.toUpperCase()}_${randomBytes(3).toString('hex').toUpperCase()}`;
  writeFileSync(
    path.join(dir, 'config.yaml'),
    `store: postgres\nwatch:\n  stable_ms: 0\nnats:\n  stream: ${stream}\n  subject: medetl.bench.${stream}\n  ack_wait_ms: 60000\n`,
  );
  const env = { ...process.env, MEDETL_HMAC_KEY: KEY, MEDETL_PG_URL: u.toString(), MEDETL_NATS_URL: NATS };
  const pool = new pg.Pool({ connectionString: u.toString(), max: 1 });
  return {
    dir,
    env,
    async ledger() {
      try {
        const r = await pool.query('SELECT count(*)::int AS batches, coalesce(sum(rows_in), 0)::int AS rows_in, coalesce(sum(loaded), 0)::int AS loaded FROM medetl.batches');
        const s = await pool.query(
          'SELECT (extract(epoch FROM max(committed_at) - min(started_at)) * 1000)::int AS span_ms FROM medetl_private.batch_sources',
        );
        return { ...r.rows[0], spanMs: s.rows[0].span_ms ?? 0 };
      } catch {
        return { batches: 0, rows_in: 0, loaded: 0, spanMs: 0 }; // schema not created yet
      }
    },
    async dispose() {
      await pool.end();
      for (const s of [stream, `${stream}_WORKERS`]) await jsm.streams.delete(s).catch(() => undefined);
      const a = new pg.Client({ connectionString: ADMIN });
      await a.connect();
      await a.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
      await a.query(`DROP DATABASE IF EXISTS ${db}`);
      await a.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const results = [];

async function runProcess() {
  const p = await project('process');
  try {
    const local = files.map((f) => {
      const to = path.join(p.dir, path.basename(f));
      copyFileSync(f, to);
      return to;
    });
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, 'process', ...local], { cwd: p.dir, env: p.env, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`process exited ${r.status}: ${r.stderr}`);
    const l = await p.ledger();
    results.push({ run: 'process', workers: 1, files: l.batches, rows: l.rows_in, loaded: l.loaded, ms: Math.round(ms), rowsPerSec: Math.round(l.rows_in / (ms / 1000)), spanMs: l.spanMs, spanRowsPerSec: Math.round(l.rows_in / (l.spanMs / 1000)) });
  } finally {
    await p.dispose();
  }
}

async function runWorkers(n) {
  const p = await project(`w${n}`);
  const children = [];
  try {
    for (const f of files) copyFileSync(f, path.join(p.dir, 'incoming', path.basename(f)));
    const pub = spawnSync(process.execPath, [CLI, 'watch', '--publish', '--drain', '-q'], { cwd: p.dir, env: p.env, encoding: 'utf8' });
    if (pub.status !== 0) throw new Error(`watch --publish exited ${pub.status}: ${pub.stderr}`);
    // The clock starts with the loaders: each run creates the schema in its first batch (process too), inside its time.
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const c = spawn(process.execPath, [CLI, 'worker', '-q'], { cwd: p.dir, env: p.env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      c.exitedWith = new Promise((r) => c.on('exit', (code) => r({ code, err })));
      children.push(c);
    }
    let l;
    for (;;) {
      l = await p.ledger();
      if (l.batches >= FILES) break;
      for (const c of children) if (c.exitCode !== null) throw new Error(`a worker exited ${c.exitCode}: ${(await c.exitedWith).err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ms = performance.now() - t0;
    results.push({ run: `${n} worker${n === 1 ? '' : 's'}`, workers: n, files: l.batches, rows: l.rows_in, loaded: l.loaded, ms: Math.round(ms), rowsPerSec: Math.round(l.rows_in / (ms / 1000)), spanMs: l.spanMs, spanRowsPerSec: Math.round(l.rows_in / (l.spanMs / 1000)) });
    for (const c of children) c.kill('SIGTERM');
    for (const c of children) {
      const { code, err } = await c.exitedWith;
      if (code !== 0) throw new Error(`a worker exited ${code} on SIGTERM: ${err}`);
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await p.dispose();
  }
}

try {
  say('single medetl process (store postgres)');
  await runProcess();
  for (const n of WORKERS) {
    say(`${n} worker(s)`);
    await runWorkers(n);
  }
} finally {
  await nc.close();
  rmSync(work, { recursive: true, force: true });
}

const base = results.find((r) => r.run === '1 worker')?.spanRowsPerSec ?? results[0].spanRowsPerSec;
const lines = [
  `${FILES} files x ${ROWS.toLocaleString('en-US')} rows, PostgreSQL store, ${cpus().length} CPU(s)`,
  '',
  '| run | workers | files | rows in | wall s | rows/s (wall) | loading s | rows/s (loading) | vs 1 worker (loading) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (r) =>
      `| ${r.run} | ${r.workers} | ${r.files} | ${r.rows.toLocaleString('en-US')} | ${(r.ms / 1000).toFixed(1)} | ${r.rowsPerSec.toLocaleString('en-US')} | ` +
      `${(r.spanMs / 1000).toFixed(1)} | ${r.spanRowsPerSec.toLocaleString('en-US')} | ${(r.spanRowsPerSec / base).toFixed(2)}x |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify({ rows: results })}\n`);
