#!/usr/bin/env node
// npm run bench: speed and memory of the pipeline on this machine, printed as a table.
// Every measurement runs in a child process of its own (peak RSS is that process's maxRSS).
// The CLI rows (`medetl process` / `verify` on big files) run the built CLI under /usr/bin/time (wall clock and the
// CLI process's own peak RSS); a run that fails (out of memory, a crash) is printed in the table, never thrown.
// Options: --quick (100k rows only, 20 latency files, 200 burst files, no 5M file, a small stored history),
// --big (also 22.5M rows, ~2 GB: long), --out DIR (default bench-out/).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeEvents } from './bench/make-events.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const big = args.includes('--big');
const outDir = path.resolve(args.includes('--out') ? args[args.indexOf('--out') + 1] : path.join(repo, 'bench-out'));
if (!existsSync(path.join(repo, 'dist', 'cli.js'))) execFileSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit', shell: process.platform === 'win32' });
mkdirSync(outDir, { recursive: true });

const KEY = 'ab'.repeat(32);
function project(name, config = '') {
  const dir = path.join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.yaml'), config);
  writeFileSync(path.join(dir, '.env'), `MEDETL_HMAC_KEY=${KEY}\n`, { mode: 0o600 });
  return dir;
}
function child(script, ...argv) {
  const out = execFileSync(process.execPath, [path.join(repo, 'scripts', 'bench', script), ...argv], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}
/**
 * The built CLI in a child process of its own, under /usr/bin/time: {ok, ms, maxRssMB, status, stdout, why}.
 * Never throws: a failed run (exit code, a signal such as the OOM killer's, V8's heap limit) comes back as ok=false.
 */
const CLI = path.join(repo, 'dist', 'cli.js');
const hasTime = existsSync('/usr/bin/time');
function cli(dir, argv) {
  const cmd = hasTime ? '/usr/bin/time' : process.execPath;
  const full = hasTime ? ['-f', 'MEDETL_BENCH_TIME %e %M', process.execPath, CLI, ...argv] : [CLI, ...argv];
  const t0 = performance.now();
  const r = spawnSync(cmd, full, { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  const m = /MEDETL_BENCH_TIME ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  const maxRssMB = m ? Number(m[2]) / 1024 : NaN;
  const ok = r.status === 0 && !r.error;
  const lastErr = (r.stderr ?? '').split('\n').filter((l) => l.trim() && !l.startsWith('MEDETL_BENCH_TIME') && !/^\s+at /.test(l)).slice(-2).join(' / ');
  const why = ok ? '' : r.error ? String(r.error.message) : `exit ${r.status ?? r.signal}${/heap out of memory|Allocation failed/i.test(r.stderr ?? '') ? ' (JS heap out of memory)' : ''}: ${lastErr.slice(0, 160)}`;
  return { ok, ms, maxRssMB, status: r.status, stdout: r.stdout ?? '', why };
}
const mb = (n) => `${fmt(n)} MB`;
/** A failure as a table cell: the reason, with what it had used by then. */
const failed = (r) => `FAILED (${r.why.replace(/\|/g, '/')}) after ${fmt(r.ms / 1000, 1)} s, peak RSS ${mb(r.maxRssMB)}`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const rows = [];
const add = (what, value, note = '') => {
  rows.push([what, value, note]);
  process.stderr.write(`  ${what}: ${value} ${note}\n`);
};

const os = await import('node:os');
const load0 = os.loadavg()[0];
const started = new Date();
process.stderr.write(`medetl bench (${quick ? 'quick' : 'full'}${big ? ', big' : ''}), node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`);

// 1. medetl process vs DuckDB on 100k and 1M rows.
const sizes = quick ? [100_000] : [100_000, 1_000_000];
for (const n of sizes) {
  const file = path.join(outDir, `events_${n}.csv`);
  if (!existsSync(file)) await makeEvents(file, n);
  const runs = [];
  for (let k = 0; k < 3; k++) runs.push(child('run-process.mjs', project(`process_${n}_${k}`), file));
  const ms = median(runs.map((r) => r.ms));
  const rss = Math.max(...runs.map((r) => r.maxRssMB));
  add(`process ${fmt(n)} rows (runFiles in-process): rows/s`, fmt(n / (ms / 1000)), `median of 3; wall ${fmt(ms / 1000, 2)} s; peak RSS ${fmt(rss)} MB`);
  const clis = [];
  for (let k = 0; k < 3; k++) clis.push(cli(project(`cli_${n}_${k}`), ['process', file]));
  if (clis.every((r) => r.ok)) {
    const cms = median(clis.map((r) => r.ms));
    add(`CLI \`medetl process\` ${fmt(n)} rows: rows/s`, fmt(n / (cms / 1000)), `median of 3; wall ${fmt(cms / 1000, 2)} s (node start included); peak RSS ${mb(Math.max(...clis.map((r) => r.maxRssMB)))}`);
  } else add(`CLI \`medetl process\` ${fmt(n)} rows`, 'FAILED', failed(clis.find((r) => !r.ok)));
  const duck = [];
  for (let k = 0; k < 3; k++) duck.push(child('duckdb-job.mjs', file, path.join(outDir, `duck_${n}.parquet`)));
  const dms = median(duck.map((r) => r.ms));
  add(`DuckDB same job (Parquet only) ${fmt(n)} rows: rows/s`, fmt(n / (dms / 1000)), `median of 3; wall ${fmt(dms / 1000, 2)} s; peak RSS ${fmt(Math.max(...duck.map((r) => r.maxRssMB)))} MB; medetl/DuckDB ${fmt(dms / ms, 2)}`);
}

// 1b. Files bigger than a batch through the CLI: `medetl process` (wall clock, peak RSS), and with --big `verify`.
{
  const bigRuns = [];
  if (!quick) bigRuns.push({ n: 5_000_000, runs: 3, verify: false });
  if (big) bigRuns.push({ n: 22_500_000, runs: 1, verify: true });
  for (const b of bigRuns) {
    const file = path.join(outDir, `events_${b.n}.csv`);
    if (!existsSync(file)) {
      process.stderr.write(`  making ${file} ...\n`);
      await makeEvents(file, b.n);
    }
    const size = `${fmt(statSync(file).size / 1e6)} MB file`;
    const runs = [];
    let dir = '';
    for (let k = 0; k < b.runs; k++) {
      dir = project(`cli_${b.n}_${k}`);
      runs.push(cli(dir, ['process', file]));
      process.stderr.write(`    run ${k + 1}: ${runs[k].ok ? `${fmt(runs[k].ms / 1000, 1)} s, ${mb(runs[k].maxRssMB)}` : failed(runs[k])}\n`);
      if (!runs[k].ok) break;
    }
    const good = runs.filter((r) => r.ok);
    const label = `CLI \`medetl process\` ${fmt(b.n)} rows: rows/s`;
    if (good.length === runs.length) {
      const ms = median(good.map((r) => r.ms));
      add(label, fmt(b.n / (ms / 1000)), `${good.length > 1 ? `median of ${good.length}` : '1 run'}; wall ${fmt(ms / 1000, 1)} s; peak RSS ${mb(Math.max(...good.map((r) => r.maxRssMB)))}; ${size}`);
    } else add(label, 'FAILED', `${failed(runs.at(-1))}; ${size}`);
    if (b.verify) {
      const label2 = `CLI \`medetl verify\` after ${fmt(b.n)} rows`;
      if (!runs.at(-1).ok) add(label2, 'not run', 'process failed');
      else {
        const v = cli(dir, ['verify']);
        const lastLine = v.stdout.trim().split('\n').pop() ?? '';
        if (v.ok) add(label2, 'OK', `${fmt(v.ms / 1000, 1)} s; peak RSS ${mb(v.maxRssMB)}; ${lastLine.replace(/\|/g, '/')}`);
        else add(label2, v.status === 5 ? 'MISMATCH' : 'FAILED', `${failed(v)}; ${lastLine.replace(/\|/g, '/')}`);
      }
    }
    for (let k = 0; k < b.runs; k++) rmSync(path.join(outDir, `cli_${b.n}_${k}`), { recursive: true, force: true });
  }
}

// 2. Batch 50 costs what batch 1 costs: 50 files of 20k rows into one project, on a fresh store and on a store that
// already holds a history of fingerprints (10 files of 1M rows: 10M rows; --quick: 2 files of 100k).
{
  const files = [];
  for (let i = 0; i < 50; i++) {
    const f = path.join(outDir, 'growth_in', `events_g${String(i).padStart(2, '0')}.csv`);
    mkdirSync(path.dirname(f), { recursive: true });
    if (!existsSync(f)) await makeEvents(f, 20_000, { seed: 100 + i, startMs: Date.UTC(2020, 0, 1) + i * 20_000 * 60_000 });
    files.push(f);
  }
  const r = child('run-process.mjs', project('growth'), ...files);
  const first = median(r.batchMs.slice(0, 5));
  const last = median(r.batchMs.slice(45));
  add('20k-row batch, fresh store: ms, batches 1-5 vs 46-50 (median)', `${fmt(first)} vs ${fmt(last)}`, `ratio ${fmt(last / first, 2)}; 1M rows loaded in all`);

  const [histFiles, histRows] = quick ? [2, 100_000] : [10, 1_000_000];
  const hist = [];
  for (let i = 0; i < histFiles; i++) {
    // other seeds and other (past: a future event is flagged, and a file of them quarantined) times than the 20k
    // files, 6 s apart (10M rows in ~2 years, 2022-2023): every row is a fingerprint of its own
    const f = path.join(outDir, 'history_in', `events_h${histRows}_${i}_v2.csv`);
    mkdirSync(path.dirname(f), { recursive: true });
    if (!existsSync(f)) await makeEvents(f, histRows, { seed: 1000 + i, startMs: Date.UTC(2022, 0, 1) + i * histRows * 6_000, stepMs: 6_000 });
    hist.push(f);
  }
  const dir = project('growth_history');
  const h = child('run-process.mjs', dir, ...hist);
  if (h.statuses.join(',') !== 'loaded') process.stderr.write(`  history load statuses: ${h.statuses.join(',')} (not every file loaded)\n`);
  const g = child('run-process.mjs', dir, ...files);
  const loaded = g.statuses.join(',');
  const hf = median(g.batchMs.slice(0, 5));
  const hl = median(g.batchMs.slice(45));
  add(
    `20k-row batch with ${fmt(h.rows / 1e6, 1)}M fingerprints stored: ms, batches 1-5 vs 46-50 (median)`,
    `${fmt(hf)} vs ${fmt(hl)}`,
    `ratio ${fmt(hl / hf, 2)}; history: ${histFiles} files x ${fmt(histRows)} rows loaded first (${fmt(h.ms / 1000, 1)} s, peak RSS ${mb(h.maxRssMB)}); vs fresh store batches 1-5: ${fmt(hf / first, 2)}x; history statuses ${h.statuses.join(',')}; batch statuses ${loaded}`,
  );
}

// 2b. The PostgreSQL store: the store alone (scripts/bench/pg-store.mjs: 1M masked rows, binary COPY, the raw COPY
// ceiling beside it) and `medetl process` with store: postgres on the same 1M-row file, each in a fresh database.
{
  const n = sizes[sizes.length - 1];
  const file = path.join(outDir, `events_${n}.csv`);
  const adminUrl = process.env.MEDETL_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  let pgMod = null;
  let reach = null;
  try {
    pgMod = (await import('pg')).default;
    const c = new pgMod.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
    await c.connect();
    await c.end();
  } catch (err) {
    reach = err instanceof Error ? err.message : String(err);
  }
  if (reach !== null) add(`PostgreSQL store ${fmt(n)} rows`, 'skipped', `PostgreSQL not reachable at ${new URL(adminUrl).host} (${reach.replace(/\|/g, '/').slice(0, 80)})`);
  else {
    try {
      const s = child('pg-store.mjs', String(n), file);
      add(
        `PostgreSQL store alone ${fmt(n)} rows (markSeen + COPY + commit): rows/s`,
        fmt(s.storeRowsPerSec),
        `COPY ${fmt(s.copyRowsPerSec)} rows/s (raw COPY ceiling ${fmt(s.rawCopyRowsPerSec)}, indexed ${fmt(s.rawCopyIndexedRowsPerSec)}); 2nd batch ${fmt(s.second.storeRowsPerSec)} rows/s; peak RSS ${mb(s.maxRssMB)}; scripts/bench/pg-store.mjs`,
      );
    } catch (err) {
      add(`PostgreSQL store alone ${fmt(n)} rows`, 'FAILED', String(err instanceof Error ? err.message : err).split('\n')[0].replace(/\|/g, '/').slice(0, 160));
    }
    const db = `medetl_bench_cli_${process.pid}`;
    const u = new URL(adminUrl);
    u.pathname = `/${db}`;
    const admin = new pgMod.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${db}`);
      const runs = [];
      for (let k = 0; k < (quick ? 1 : 3); k++) {
        const dir = project(`pg_${k}`, 'store: postgres\n');
        writeFileSync(path.join(dir, '.env'), `MEDETL_HMAC_KEY=${KEY}\nMEDETL_PG_URL=${u}\n`, { mode: 0o600 });
        if (k > 0) {
          await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
          await admin.query(`CREATE DATABASE ${db}`);
        }
        runs.push(cli(dir, ['process', file]));
        if (!runs[k].ok) break;
      }
      const label = `CLI \`medetl process\` ${fmt(n)} rows, store: postgres: rows/s`;
      if (runs.every((r) => r.ok)) {
        const ms = median(runs.map((r) => r.ms));
        add(label, fmt(n / (ms / 1000)), `${runs.length > 1 ? `median of ${runs.length}` : '1 run'}; wall ${fmt(ms / 1000, 2)} s; peak RSS ${mb(Math.max(...runs.map((r) => r.maxRssMB)))} (the CLI; the server's memory not counted); fresh database each run, dropped after`);
      } else add(label, 'FAILED', failed(runs.at(-1)));
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
      await admin.end();
    }
  }
}

// 3. Library choices on the hot path.
{
  const file = path.join(outDir, `events_${sizes[sizes.length - 1]}.csv`);
  const n = sizes[sizes.length - 1];
  const cp = child('libs.mjs', 'csv-parse', file);
  const tk = child('libs.mjs', 'tokenizer', file);
  add(`parse ${fmt(n)} rows: csv-parse vs medetl tokenizer (rows/s)`, `${fmt(cp.rows / (cp.ms / 1000))} vs ${fmt(tk.rows / (tk.ms / 1000))}`, `ratio ${fmt(cp.ms / tk.ms, 1)}x`);
  const pn = 100_000;
  const pl = child('libs.mjs', 'parquetjs-lite', path.join(outDir, 'lib'), String(pn));
  const pwm = child('libs.mjs', 'parquet-wasm', path.join(outDir, 'lib'), String(pn));
  add(`write ${fmt(pn)} masked rows: parquetjs-lite vs parquet-wasm (rows/s)`, `${fmt(pn / (pl.ms / 1000))} vs ${fmt(pn / (pwm.ms / 1000))}`, `peak RSS ${fmt(pl.maxRssMB)} vs ${fmt(pwm.maxRssMB)} MB`);
}

// 4. Watch: rename into incoming/ -> rows queryable in SQLite, and a burst of small files.
{
  const latencyFiles = quick ? 20 : 50;
  const burstFiles = quick ? 200 : 1000;
  const r = child('watch-latency.mjs', project('watch'), String(latencyFiles), String(burstFiles));
  add(`watch latency, ${latencyFiles} files of 10k rows: p50 / p95 (ms)`, `${fmt(median(r.latencies))} / ${fmt(pct(r.latencies, 95))}`, 'rename -> committed in SQLite');
  add(`watch burst of ${burstFiles} small files: files/s`, fmt(burstFiles / (r.burstMs / 1000), 1), `${fmt(r.burstMs / 1000, 2)} s; peak RSS ${fmt(r.maxRssMB)} MB`);
}

// 5. The reference the project started from, quoted (issue 14), not measured by this script.
rows.push(['seed\'s pandas pipeline (reference): rows/s', '~35,000', 'quoted from issue 14; not measured here']);

const head = `medetl bench (${quick ? '--quick' : 'full'}${big ? ' --big' : ''}), ${started.toISOString()} to ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cores, ${fmt(os.totalmem() / 2 ** 30)} GiB; load average (1 min) ${fmt(load0, 2)} at the start, ${fmt(os.loadavg()[0], 2)} at the end`;
const table = [head, '', '| measurement | result | notes |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
process.stdout.write(`\n${table}\n`);
writeFileSync(path.join(outDir, 'results.md'), `${table}\n`);

