// Batches for store tests, made by the real pipeline: CSV text -> CsvTokenizer -> RawBatchBuilder -> duplicates
// within -> fingerprints -> [store.markSeen] -> clean + QC -> deidentify. The same order the runner follows
// (pipeline/stages.ts), so a store is tested with the MaskedBatches it will really get.
import { createHmac, randomBytes } from 'node:crypto';
import { parseKey, type HmacKey } from '../../src/config/key.js';
import { configSchema } from '../../src/config/schema.js';
import { zip3Table } from '../../src/config/zip3.js';
import { filterRows } from '../../src/pipeline/clean.js';
import { deidentify, eventFingerprints, type DeidProfile, type MaskedBatch } from '../../src/pipeline/deid.js';
import { isoDate } from '../../src/pipeline/parse.js';
import { CsvTokenizer } from '../../src/pipeline/read.js';
import { countRejects, RawBatchBuilder, resolveHeader } from '../../src/pipeline/schema.js';
import { cleanAndCheck, dropDuplicatesWithin } from '../../src/pipeline/stages.js';
import { NULL_INT, type RawBatch } from '../../src/pipeline/types.js';
import type { BatchCommit, BatchTransaction, ContentRef, Store } from '../../src/stores/store.js';
import { TEST_KEY } from '../helpers/project.js';

export const KEY: HmacKey = parseKey(TEST_KEY);
export const NOW = Date.UTC(2026, 0, 15, 12);
const STAGES = configSchema.parse({});
const HEAD_BYTES = 4096;

const keyed = (label: string, data: string) => createHmac('sha256', KEY.bytes).update(label).update('\0').update(data).digest('hex');

export function newBatchId(): string {
  return randomBytes(10).toString('hex');
}

/** Keyed references to a CSV's bytes, as the runner makes them (a segment starting at `startOffset`). */
export function contentRef(csv: string, startOffset = 0, whole = csv): ContentRef {
  return {
    contentKey: keyed('content', csv),
    headKey: keyed('head', whole.slice(0, HEAD_BYTES)),
    startOffset,
    endOffset: startOffset + Buffer.byteLength(csv),
  };
}

/** A CSV after schema: the rows read, what was rejected, and the raw batch (still PHI). */
export interface ReadCsv {
  csv: string;
  ref: ContentRef;
  raw: RawBatch;
  rowsIn: number;
  rejectedByReason: Record<string, number>;
  rejected: number;
}

export function readCsv(csv: string, ref = contentRef(csv)): ReadCsv {
  let builder: RawBatchBuilder | null = null;
  const tok = new CsvTokenizer((fields, line) => {
    if (builder) builder.add(fields, line);
    else builder = new RawBatchBuilder(resolveHeader(fields), 'UTC');
  });
  tok.push(csv);
  tok.end();
  const b = builder as unknown as RawBatchBuilder;
  return { csv, ref, raw: b.finish(), rowsIn: b.rowsIn, rejectedByReason: countRejects(b.rejects), rejected: b.rejects.length };
}

export interface LoadOptions {
  batchId?: string;
  profile?: DeidProfile;
  /** Rows per insertRows call. */
  chunk?: number;
  sourceName?: string;
  outboxSink?: string;
}

/** An open batch with its rows inserted, and the commit that would finish it. */
export interface Staged {
  tx: BatchTransaction;
  masked: MaskedBatch;
  commit: BatchCommit;
}

export type LoadResult =
  | { status: 'committed'; batchId: string }
  | { status: 'loaded'; batchId: string; masked: MaskedBatch; commit: BatchCommit };

/** begin + markSeen + insertRows (in chunks), stopping before commit; or the batch that already holds it. */
export async function stage(store: Store, r: ReadCsv, opts: LoadOptions = {}): Promise<Staged | { status: 'committed'; batchId: string }> {
  const batchId = opts.batchId ?? newBatchId();
  const begun = await store.begin(r.ref, batchId);
  if (begun.kind === 'committed') return { status: 'committed', batchId: begun.batchId };
  const tx = begun.tx;
  try {
    const dedup = dropDuplicatesWithin(r.raw);
    const fps = eventFingerprints(dedup.batch, KEY);
    const fresh = filterRows(dedup.batch, await tx.markSeen(fps));
    const duplicates = dedup.duplicates + (dedup.batch.n - fresh.n);
    const checked = cleanAndCheck(fresh, STAGES, { nowMs: NOW });
    const masked = deidentify(checked.batch, {
      key: KEY, profile: opts.profile ?? 'safe_harbor', zip3: zip3Table('census2020'), batchId, nowMs: NOW,
    });
    const chunk = opts.chunk ?? 1000;
    for (let from = 0; from < masked.n; from += chunk) await tx.insertRows(masked, from, Math.min(masked.n, from + chunk));
    const commit: BatchCommit = {
      entry: {
        batchId,
        ...r.ref,
        rowsIn: r.rowsIn,
        loaded: masked.n,
        rejected: r.rejected,
        rejectedByReason: r.rejectedByReason,
        duplicates,
        flagged: checked.flaggedRows,
        clipped: checked.clippedRows,
        files: [`parts/part-${batchId}.parquet`],
        keyId: keyed('key-id', 'medetl').slice(0, 16),
        keyMode: 'hmac',
        deidProfile: opts.profile ?? 'safe_harbor',
        zip3Vintage: zip3Table('census2020').vintage,
        zip3TableHash: zip3Table('census2020').hash,
        rulesetVersion: 'test-rules-1',
        warnings: checked.flaggedRows > 0 ? ['flagged rows present', 'second warning'] : [],
      },
      metrics: checked.metrics,
      outbox: opts.outboxSink ? [{ sink: opts.outboxSink, rows: masked.n, payload: JSON.stringify({ rows: masked.n }) }] : [],
      drift: [{ column: 'heart_rate', statistic: 'median', baseline: 70, observed: 90.5, severity: 'warn' }],
      attestation: JSON.stringify({ batch: batchId, rule: 'safe-harbor' }),
      private: { sourceName: opts.sourceName ?? `events_${batchId.slice(0, 6)}.csv`, arrivedAtMs: NOW - 5000, startedAtMs: NOW - 1000, committedAtMs: NOW, ms: 1000 },
    };
    return { tx, masked, commit };
  } catch (err) {
    await tx.rollback();
    throw err;
  }
}

/** One whole batch, as the runner does it. */
export async function load(store: Store, r: ReadCsv, opts: LoadOptions = {}): Promise<LoadResult> {
  const s = await stage(store, r, opts);
  if ('status' in s) return s;
  await s.tx.commit(s.commit);
  return { status: 'loaded', batchId: s.tx.batchId, masked: s.masked, commit: s.commit };
}

/** A row of cleaned_events with dates as YYYY-MM-DD text: what the store must hold for a masked batch. */
export interface CleanedRow {
  patient_key: string;
  dob_year: number | null;
  age_years: number | null;
  event_year: number | null;
  event_date: string | null;
  zip3: string | null;
  systolic_bp: number | null;
  diastolic_bp: number | null;
  heart_rate: number | null;
  outlier_flags: string;
  batch_id: string;
}

export function expectedRows(b: MaskedBatch): CleanedRow[] {
  const int = (v: number) => (v === NULL_INT ? null : v);
  const dbl = (v: number) => (Number.isNaN(v) ? null : v);
  const out: CleanedRow[] = [];
  for (let i = 0; i < b.n; i++) {
    out.push({
      patient_key: b.patientKeys[b.patientKeyIdx[i]],
      dob_year: int(b.dobYear[i]),
      age_years: int(b.ageYears[i]),
      event_year: int(b.eventYear[i]),
      event_date: b.eventDate[i] === NULL_INT ? null : isoDate(b.eventDate[i]),
      zip3: b.zip3s[b.zip3Idx[i]],
      systolic_bp: dbl(b.systolic_bp[i]),
      diastolic_bp: dbl(b.diastolic_bp[i]),
      heart_rate: dbl(b.heart_rate[i]),
      outlier_flags: b.flagTexts[b.flagIdx[i]],
      batch_id: b.batchId,
    });
  }
  return sortRows(out);
}

export function sortRows(rows: CleanedRow[]): CleanedRow[] {
  const k = (r: CleanedRow) => JSON.stringify(Object.values(r));
  return rows.map((r) => [k(r), r] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, r]) => r);
}
