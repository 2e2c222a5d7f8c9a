// The PostgreSQL store alone: N masked rows (default 1M) through begin -> markSeen -> insertRows (binary COPY, in
// row groups of 65,536 as the runner sends them) -> commit, in a database of its own (dropped after); then a second
// batch of N other rows, whose fingerprints are checked against the first batch's.
// Prints {rows, ms, markSeenMs, copyMs, commitMs, copyRowsPerSec, storeRowsPerSec, second, rawCopyRowsPerSec, ...}
// as JSON. The raw COPY figures (the same rows' COPY data made beforehand, into an unindexed and an indexed copy of
// events) are the server's ceiling on this machine at this moment, for a ratio that survives a busy machine.
// argv: [rows] [csvFile]; MEDETL_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) is an admin URL.
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { parseKey } from '../../dist/config/key.js';
import { loadConfig } from '../../dist/config/load.js';
import { DEFAULT_ZIP3_TABLE_NAME, zip3Table } from '../../dist/config/zip3.js';
import { filterRows } from '../../dist/pipeline/clean.js';
import { deidentify, eventFingerprints } from '../../dist/pipeline/deid.js';
import { CsvTokenizer } from '../../dist/pipeline/read.js';
import { countRejects, RawBatchBuilder, resolveHeader } from '../../dist/pipeline/schema.js';
import { cleanAndCheck, dropDuplicatesWithin } from '../../dist/pipeline/stages.js';
import { EVENTS_COPY_COLUMNS, eventsBinaryCopyStream } from '../../dist/stores/postgres/copy.js';
import { openPostgresStore } from '../../dist/stores/postgres/store.js';
import { makeEvents } from './make-events.mjs';

const rows = Number(process.argv[2] ?? 1_000_000);
const given = process.argv[3];
const files = [given ?? path.join(tmpdir(), `medetl-bench-pg-${process.pid}-1.csv`), path.join(tmpdir(), `medetl-bench-pg-${process.pid}-2.csv`)];
if (!existsSync(files[0])) await makeEvents(files[0], rows);
await makeEvents(files[1], rows, { seed: 2, startMs: Date.UTC(2022, 0, 1) });
const adminUrl = process.env.MEDETL_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `medetl_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const u = new URL(adminUrl);
u.pathname = `/${dbName}`;

const KEY = parseKey('ab'.repeat(32));
const ZIP3 = zip3Table(DEFAULT_ZIP3_TABLE_NAME);
// The stages' settings as a default project has them (an empty config.yaml).
const cfgDir = mkdtempSync(path.join(tmpdir(), 'medetl-bench-pg-cfg-'));
writeFileSync(path.join(cfgDir, 'config.yaml'), '');
const STAGE_CONFIG = loadConfig(path.join(cfgDir, 'config.yaml'));
rmSync(cfgDir, { recursive: true, force: true });
const keyed = (label, data) => createHmac('sha256', KEY.bytes).update(label).update('\0').update(data).digest('hex');

/** One batch through the store; the pipeline before it is not timed. */
async function loadOnce(store, file) {
  const csv = readFileSync(file, 'utf8');
  let builder = null;
  const tok = new CsvTokenizer((f, line) => (builder ? builder.add(f, line) : (builder = new RawBatchBuilder(resolveHeader(f), 'UTC', rows))));
  tok.push(csv);
  tok.end();
  const dedup = dropDuplicatesWithin(builder.finish());
  const fps = eventFingerprints(dedup.batch, KEY);
  const ref = { contentKey: keyed('content', csv), headKey: keyed('head', csv.slice(0, 4096)), startOffset: 0, endOffset: Buffer.byteLength(csv) };
  const batchId = randomBytes(10).toString('hex');
  const t0 = performance.now();
  const { tx } = await store.begin(ref, batchId);
  const t1 = performance.now();
  const fresh = filterRows(dedup.batch, await tx.markSeen(fps));
  const t2 = performance.now();
  const checked = cleanAndCheck(fresh, STAGE_CONFIG, { nowMs: Date.UTC(2026, 0, 1) });
  const masked = deidentify(checked.batch, { key: KEY, profile: 'safe_harbor', zip3: ZIP3, batchId, nowMs: Date.UTC(2026, 0, 1) });
  const t3 = performance.now();
  for (let from = 0; from < masked.n; from += 65_536) await tx.insertRows(masked, from, Math.min(masked.n, from + 65_536));
  const t4 = performance.now();
  await tx.commit({
    entry: {
      batchId, ...ref, rowsIn: builder.rowsIn, loaded: masked.n, rejected: builder.rejects.length, rejectedByReason: countRejects(builder.rejects),
      duplicates: dedup.duplicates + (dedup.batch.n - fresh.n), flagged: checked.flaggedRows, clipped: checked.clippedRows, files: [],
      keyId: 'k'.repeat(16), keyMode: 'hmac', deidProfile: 'safe_harbor', zip3Vintage: ZIP3.vintage, zip3TableHash: ZIP3.hash,
      rulesetVersion: 'bench', warnings: [],
    },
    metrics: checked.metrics, outbox: [], drift: [], attestation: null,
    private: { sourceName: path.basename(file), arrivedAtMs: null, startedAtMs: Date.now(), committedAtMs: Date.now(), ms: 0 },
  });
  const t5 = performance.now();
  const ms = t2 - t0 + (t5 - t3);
  return {
    masked, batchId, rows: masked.n, ms, beginMs: t1 - t0, markSeenMs: t2 - t1, copyMs: t4 - t3, commitMs: t5 - t4,
    copyRowsPerSec: Math.round(masked.n / ((t4 - t3) / 1000)), storeRowsPerSec: Math.round(masked.n / (ms / 1000)),
  };
}

let result = {};
try {
  const store = await openPostgresStore(u.toString());
  const first = await loadOnce(store, files[0]);
  const second = await loadOnce(store, files[1]);
  const stored = await store.ledger.storedRowsByBatch();
  await store.close();
  for (const b of [first, second]) if (stored.get(b.batchId) !== b.rows) throw new Error(`stored ${stored.get(b.batchId)} of ${b.rows} rows`);
  const data = [];
  const m = first.masked;
  await pipeline(eventsBinaryCopyStream(m, 0, m.n, new Int32Array(m.patientKeys.length).fill(1), 1), new Writable({ write(c, _e, cb) { data.push(Buffer.from(c)); cb(); } }));
  const raw = new pg.Client({ connectionString: u.toString() });
  await raw.connect();
  const rawCopy = async (indexes) => {
    await raw.query('DROP TABLE IF EXISTS medetl.bench_copy; CREATE TABLE medetl.bench_copy (LIKE medetl.events)');
    if (indexes) await raw.query('CREATE INDEX ON medetl.bench_copy (patient_ref); CREATE INDEX ON medetl.bench_copy (batch_ref)');
    const r0 = performance.now();
    await pipeline(Readable.from(data), raw.query(copyStreams.from(`COPY medetl.bench_copy (${EVENTS_COPY_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`)));
    return performance.now() - r0;
  };
  const rawMs = await rawCopy(false);
  const rawIdxMs = await rawCopy(true);
  await raw.end();
  const { masked: _m, batchId: _b, ...firstOut } = first;
  const { masked: _m2, batchId: _b2, ...secondOut } = second;
  result = {
    ...firstOut,
    second: secondOut,
    rawCopyRowsPerSec: Math.round(m.n / (rawMs / 1000)),
    rawCopyIndexedRowsPerSec: Math.round(m.n / (rawIdxMs / 1000)),
    loadAverage: os.loadavg()[0],
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  };
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  rmSync(files[1], { force: true });
  if (!given) rmSync(files[0], { force: true });
}
process.stdout.write(JSON.stringify(result) + '\n');
