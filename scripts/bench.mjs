#!/usr/bin/env node
// npm run bench: speed and memory of the pipeline on this machine, printed as a table.
// Every measurement runs in a child process of its own (peak RSS is that process's maxRSS).
// Options: --quick (100k rows only, 20 latency files, 200 burst files), --out DIR (default bench-out/).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeEvents } from './bench/make-events.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = path.resolve(args.includes('--out') ? args[args.indexOf('--out') + 1] : path.join(repo, 'bench-out'));
if (!existsSync(path.join(repo, 'dist', 'cli.js'))) execFileSync('npm', ['run', 'build'], { cwd: repo, stdio: 'inherit', shell: process.platform === 'win32' });
mkdirSync(outDir, { recursive: true });

const KEY = 'ab'.repeat(32);
function project(name, config = '') {
  const dir = path.join(outDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.yaml'), config);
  writeFileSync(path.join(dir, '.env'), `MEDETL_HMAC_KEY=${KEY}\n`);
  return dir;
}
function child(script, ...argv) {
  const out = execFileSync(process.execPath, [path.join(repo, 'scripts', 'bench', script), ...argv], { cwd: repo, encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}
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

process.stderr.write(`medetl bench (${quick ? 'quick' : 'full'}), node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`);

// 1. medetl process vs DuckDB on 100k and 1M rows.
const sizes = quick ? [100_000] : [100_000, 1_000_000];
for (const n of sizes) {
  const file = path.join(outDir, `events_${n}.csv`);
  if (!existsSync(file)) await makeEvents(file, n);
  const runs = [];
  for (let k = 0; k < 3; k++) runs.push(child('run-process.mjs', project(`process_${n}_${k}`), file));
  const ms = median(runs.map((r) => r.ms));
  const rss = Math.max(...runs.map((r) => r.maxRssMB));
  add(`process ${fmt(n)} rows: rows/s`, fmt(n / (ms / 1000)), `median of 3; wall ${fmt(ms / 1000, 2)} s; peak RSS ${fmt(rss)} MB`);
  const duck = [];
  for (let k = 0; k < 3; k++) duck.push(child('duckdb-job.mjs', file, path.join(outDir, `duck_${n}.parquet`)));
  const dms = median(duck.map((r) => r.ms));
  add(`DuckDB same job (Parquet only) ${fmt(n)} rows: rows/s`, fmt(n / (dms / 1000)), `median of 3; wall ${fmt(dms / 1000, 2)} s; peak RSS ${fmt(Math.max(...duck.map((r) => r.maxRssMB)))} MB; medetl/DuckDB ${fmt(dms / ms, 2)}`);
}

// 2. Batch 50 costs what batch 1 costs: 50 files of 20k rows into one project.
{
  const dir = project('growth');
  const files = [];
  for (let i = 0; i < 50; i++) {
    const f = path.join(outDir, 'growth_in', `events_g${String(i).padStart(2, '0')}.csv`);
    mkdirSync(path.dirname(f), { recursive: true });
    if (!existsSync(f)) await makeEvents(f, 20_000, { seed: 100 + i, startMs: Date.UTC(2020, 0, 1) + i * 20_000 * 60_000 });
    files.push(f);
  }
  const r = child('run-process.mjs', dir, ...files);
  const first = median(r.batchMs.slice(0, 5));
  const last = median(r.batchMs.slice(45));
  add('20k-row batch: ms, batches 1-5 vs 46-50 (median)', `${fmt(first)} vs ${fmt(last)}`, `ratio ${fmt(last / first, 2)}; 1M rows loaded in all`);
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

const table = ['| measurement | result | notes |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
process.stdout.write(`\n${table}\n`);
writeFileSync(path.join(outDir, 'results.md'), `${table}\n`);

