// A second process for the PostgreSQL store tests: loads one CSV through the built pipeline (dist/) into the store,
// as the runner does, and reports each step as a JSON line on stdout. The test kills it with SIGKILL where it wants.
// argv: url csvFile batchId [hold]
//   hold = none         load and exit
//        = before-copy  after markSeen, print {"event":"ready"} and wait for "go" on stdin, then insert in one COPY
//        = before-commit after the rows are inserted, print {"event":"inserted"} and wait for "commit" on stdin
// The same steps as test/stores/batches.ts (keyed content reference, stage order), written against dist/.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const imp = (m) => import(path.join(dist, m));
const { parseKey } = await imp('config/key.js');
const { configSchema } = await imp('config/schema.js');
const { zip3Table } = await imp('config/zip3.js');
const { filterRows } = await imp('pipeline/clean.js');
const { deidentify, eventFingerprints } = await imp('pipeline/deid.js');
const { CsvTokenizer } = await imp('pipeline/read.js');
const { countRejects, RawBatchBuilder, resolveHeader } = await imp('pipeline/schema.js');
const { cleanAndCheck, dropDuplicatesWithin } = await imp('pipeline/stages.js');
const { openPostgresStore } = await imp('stores/postgres/store.js');

const [url, file, batchId, hold = 'none'] = process.argv.slice(2);
const KEY = parseKey('5f'.repeat(32));
const NOW = Date.UTC(2026, 0, 15, 12);
const keyed = (label, data) => createHmac('sha256', KEY.bytes).update(label).update('\0').update(data).digest('hex');
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const lines = createInterface({ input: process.stdin });
const waitFor = (word) => new Promise((resolve) => lines.on('line', (l) => l.trim() === word && resolve()));

const csv = readFileSync(file, 'utf8');
const ref = { contentKey: keyed('content', csv), headKey: keyed('head', csv.slice(0, 4096)), startOffset: 0, endOffset: Buffer.byteLength(csv) };
let builder = null;
const tok = new CsvTokenizer((fields, line) => (builder ? builder.add(fields, line) : (builder = new RawBatchBuilder(resolveHeader(fields), 'UTC'))));
tok.push(csv);
tok.end();
const raw = builder.finish();

const store = await openPostgresStore(url);
say({ event: 'open', pid: process.pid });
const begun = await store.begin(ref, batchId);
if (begun.kind === 'committed') {
  say({ event: 'committed', batchId: begun.batchId });
  await store.close();
  process.exit(0);
}
const tx = begun.tx;
say({ event: 'begun' });
const dedup = dropDuplicatesWithin(raw);
const fresh = filterRows(dedup.batch, await tx.markSeen(eventFingerprints(dedup.batch, KEY)));
const checked = cleanAndCheck(fresh, configSchema.parse({}), { nowMs: NOW });
const masked = deidentify(checked.batch, { key: KEY, profile: 'safe_harbor', zip3: zip3Table('census2020'), batchId, nowMs: NOW });
if (hold === 'before-copy') {
  say({ event: 'ready', rows: masked.n });
  await waitFor('go');
  await tx.insertRows(masked, 0, masked.n);
} else {
  for (let from = 0; from < masked.n; from += 10_000) await tx.insertRows(masked, from, Math.min(masked.n, from + 10_000));
}
say({ event: 'inserted', rows: masked.n });
if (hold === 'before-commit') await waitFor('commit');
const rejectedByReason = countRejects(builder.rejects);
await tx.commit({
  entry: {
    batchId, ...ref, rowsIn: builder.rowsIn, loaded: masked.n, rejected: builder.rejects.length, rejectedByReason,
    duplicates: dedup.duplicates + (dedup.batch.n - fresh.n), flagged: checked.flaggedRows, clipped: checked.clippedRows,
    files: [`parts/part-${batchId}.parquet`], keyId: 'k'.repeat(16), keyMode: 'hmac', deidProfile: 'safe_harbor',
    zip3Vintage: zip3Table('census2020').vintage, zip3TableHash: 'z'.repeat(16), rulesetVersion: 'test-rules-1', warnings: [],
  },
  metrics: checked.metrics,
  outbox: [],
  drift: [],
  attestation: null,
  private: { sourceName: path.basename(file), arrivedAtMs: null, startedAtMs: NOW, committedAtMs: NOW, ms: 1 },
});
say({ event: 'loaded', batchId, rows: masked.n });
await store.close();
lines.close();
