// medetl compact (and the daemon's re-compactor, compactor.ts): every part in one file (masked_out/cleaned.parquet)
// for Power BI's Parquet connector, and the BI tables beside it (masked_out/bi/<table>.parquet, bi-export.ts).
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import { retryFs, writeFileSynced } from '../../core/fsx.js';
import { pidAlive } from '../../core/lock.js';
import { sleep } from '../../core/retry.js';
import { emptyMaskedBatch } from '../../pipeline/deid.js';
import type { LedgerReader } from '../../stores/ledger.js';
import { biTableNames, writeBiFiles, type BiRows } from './bi-export.js';
import { encodeParquet, initWasm, pipeEncoded, toArrow, writerProperties, type ParquetCompression } from './encode.js';
import { listParts, partBatches, UnreadablePartError } from './read.js';
import { BI_FOLDER } from './bi-export.js';
import { TMP_SUFFIX } from './part-sink.js';

/** The temporary name a compaction writes `file` under (this process's pid in it: see sweepCompactionTemps). */
export const compactionTemp = (file: string): string => `${file}.${process.pid}${TMP_SUFFIX}`;

/** How far a compaction is: parts finished of all parts, row groups and rows read so far (for a progress bar). */
export interface CompactProgress {
  partsDone: number;
  parts: number;
  rowGroups: number;
  rows: number;
}

/**
 * One Parquet file with every row of the given parts, in order. Streams one row group at a time (memory bounded
 * whatever the parts' sizes), writes a temporary file, fsyncs it, then renames it into place; on failure the
 * temporary file is removed. A part that cannot be read fails it with an UnreadablePartError naming the part.
 */
export async function compactFiles(
  parts: readonly string[],
  outFile: string,
  compression: ParquetCompression,
  onProgress?: (p: CompactProgress) => void,
): Promise<{ parts: number; rows: number }> {
  initWasm();
  let rowGroups = 0;
  let rows = 0;
  let k = 0;
  let current: AsyncGenerator<pw.RecordBatch> | null = null;
  let pullError: unknown = null; // the reader's own error (it names the part), not what the encoder makes of it
  const source = new ReadableStream<pw.RecordBatch>({
    async pull(controller) {
      for (;;) {
        if (!current) {
          if (k >= parts.length) return controller.close();
          current = partBatches(parts[k++]);
        }
        let next: IteratorResult<pw.RecordBatch>;
        try {
          next = await current.next();
        } catch (err) {
          pullError = err;
          throw err;
        }
        if (next.done) {
          current = null;
          onProgress?.({ partsDone: k, parts: parts.length, rowGroups, rows });
          continue;
        }
        rows += next.value.numRows;
        rowGroups++;
        onProgress?.({ partsDone: k - 1, parts: parts.length, rowGroups, rows });
        return controller.enqueue(next.value);
      }
    },
  });
  const tmp = compactionTemp(outFile);
  try {
    if (parts.length === 0) await writeFileSynced(tmp, encodeParquet(toArrow(emptyMaskedBatch('empty')), compression));
    else await pipeEncoded(await pw.transformParquetStream(source, writerProperties(compression)), tmp);
    // The encoder may end its output cleanly when its source fails: the source's own error decides.
    if (pullError) throw pullError;
    await retryFs(() => fs.rename(tmp, outFile));
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw pullError ?? err;
  }
  return { parts: parts.length, rows };
}

/** Remove `<file>.<pid>.tmp` compaction leftovers of processes that no longer run (a SIGKILL mid-write). */
export async function sweepCompactionTemps(maskedOut: string, outFile: string): Promise<number> {
  let removed = 0;
  const dirs = [path.dirname(outFile), path.join(maskedOut, BI_FOLDER)];
  for (const dir of dirs) {
    let names: string[] = [];
    try {
      names = await fs.readdir(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = /^(.+\.parquet)\.(\d+)\.tmp$/.exec(n);
      if (!m || (dir === dirs[0] && m[1] !== path.basename(outFile))) continue;
      if (Number(m[2]) === process.pid || pidAlive(Number(m[2]))) continue;
      await fs.rm(path.join(dir, n), { force: true });
      removed++;
    }
  }
  return removed;
}

/** Every part in the folder, in name order. */
export async function compactParts(partsDir: string, outFile: string, compression: ParquetCompression): Promise<{ parts: number; rows: number }> {
  return compactFiles(await listParts(partsDir), outFile, compression);
}

const workerFile = fileURLToPath(new URL('./compact-worker.js', import.meta.url));

export interface CompactJob {
  parts: string[];
  outFile: string;
  compression: ParquetCompression;
}

/**
 * compactFiles on a thread of its own (decoding and encoding every part is seconds of CPU on a large store: the
 * batch loop keeps its thread). Inline when running from TypeScript sources (tests). `signal` terminates the
 * thread; its temporary file is then removed.
 */
export async function compactOffThread(
  job: CompactJob,
  signal?: AbortSignal,
  onProgress?: (p: CompactProgress) => void,
): Promise<{ parts: number; rows: number }> {
  if (!existsSync(workerFile)) return compactFiles(job.parts, job.outFile, job.compression, onProgress);
  const w = new Worker(workerFile, { workerData: { ...job, progress: onProgress !== undefined } });
  const tmp = compactionTemp(job.outFile); // the thread shares this process's pid
  try {
    return await new Promise((resolve, reject) => {
      const onAbort = () => void w.terminate().then(() => reject(Object.assign(new Error('compaction stopped'), { code: 'compaction_stopped' })));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
      type Reply = { ok: true; parts: number; rows: number } | { ok: false; error: string; file?: string } | { progress: CompactProgress };
      const onMessage = (m: Reply) => {
        if ('progress' in m) return void onProgress?.(m.progress);
        w.off('message', onMessage);
        signal?.removeEventListener('abort', onAbort);
        if (m.ok) resolve({ parts: m.parts, rows: m.rows });
        else if (m.file) reject(Object.assign(new UnreadablePartError(m.file, null), { message: m.error }));
        else reject(new Error(`compaction: ${m.error}`));
      };
      w.on('message', onMessage);
      w.once('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      });
      w.once('exit', (code) => {
        if (code !== 0) reject(new Error(`compaction thread exited with code ${code}`));
      });
    });
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    await w.terminate().catch(() => undefined);
  }
}

/** What the ledger says at one moment: the last committed batch, the parts of every batch up to it, the BI rows. */
export interface ReleaseSnapshot {
  seq: number;
  parts: string[];
  bi: BiRows;
}

async function lastSeq(reader: LedgerReader): Promise<number> {
  return (await reader.batches({ newestFirst: true, limit: 1 }))[0]?.seq ?? 0;
}

/**
 * A consistent snapshot: read the batches and the BI tables, and again if a batch committed meanwhile, so the BI
 * files and cleaned.parquet describe the same batches.
 */
export async function releaseSnapshot(reader: LedgerReader, maskedOut: string): Promise<ReleaseSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const before = await lastSeq(reader);
    const batches = await reader.batches();
    const bi = new Map<string, Record<string, unknown>[]>();
    for (const t of biTableNames()) bi.set(t, await reader.bi(t));
    const after = await lastSeq(reader);
    if ((before === after && (batches.at(-1)?.seq ?? 0) === after) || attempt >= 5) {
      const parts = batches.filter((b) => b.seq <= after).flatMap((b) => b.files.filter((f) => f.endsWith('.parquet')).map((f) => path.join(maskedOut, f)));
      return { seq: after, parts, bi };
    }
  }
}

/** A committed batch's part is published just after its commit: wait a moment for parts not renamed into place yet. */
async function awaitParts(parts: readonly string[], waitMs: number): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    const missing = parts.filter((p) => !existsSync(p));
    if (missing.length === 0) return;
    if (Date.now() > until) {
      throw Object.assign(new Error(`${missing.length} committed part(s) are not in place yet (first: ${path.basename(missing[0])})`), { code: 'part_missing' });
    }
    await sleep(100);
  }
}

export interface CompactReport {
  seq: number;
  parts: number;
  rows: number;
  biTables: number;
  biRows: number;
}

export interface ReleaseTarget {
  /** masked_out/ */
  maskedOut: string;
  /** masked_out/cleaned.parquet */
  outFile: string;
  compression: ParquetCompression;
}

/**
 * cleaned.parquet from exactly the parts of the committed batches, and the BI files, from one snapshot of the
 * ledger. `sinceSeq`: nothing is written when no batch committed after it (returns null).
 */
export async function compactRelease(
  t: ReleaseTarget,
  reader: LedgerReader,
  opts: { sinceSeq?: number; signal?: AbortSignal; waitForPartsMs?: number; onProgress?: (p: CompactProgress) => void } = {},
): Promise<CompactReport | null> {
  await sweepCompactionTemps(t.maskedOut, t.outFile);
  const snap = await releaseSnapshot(reader, t.maskedOut);
  if (opts.sinceSeq !== undefined && snap.seq === opts.sinceSeq) return null;
  await awaitParts(snap.parts, opts.waitForPartsMs ?? 5_000);
  const c = await compactOffThread({ parts: snap.parts, outFile: t.outFile, compression: t.compression }, opts.signal, opts.onProgress);
  const b = await writeBiFiles(t.maskedOut, snap.bi, t.compression);
  return { seq: snap.seq, parts: c.parts, rows: c.rows, biTables: b.tables, biRows: b.rows };
}
