// One batch, end to end: read -> schema -> clean -> qc -> deid -> sinks, exactly once (sinks/sink.ts).
// `medetl process` and `medetl watch` both call processFile().
import { randomBytes } from 'node:crypto';
import { promises as fs, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from '../config/load.js';
import { parseKey, type HmacKey, KEY_VARIABLE } from '../config/key.js';
import { createLogger, type Logger } from '../ops/log.js';
import { moveFile, freeName } from '../core/fsx.js';
import { openPart, publishPart, ROW_GROUP_ROWS, type PartWriter } from '../sinks/parquet.js';
import { partName, type LedgerEntry } from '../sinks/sink.js';
import { outboxChunks, POWERBI_URL_VARIABLE } from '../sinks/powerbi.js';
import { Store, isoSeconds } from '../sinks/sqlite.js';
import { filterRows } from './clean.js';
import { cleanAndCheck, dropDuplicatesWithin } from './stages.js';
import { deidentify, eventFingerprints } from './deid.js';
import { checkThresholds } from './qc.js';
import { quarantineFile, writeRejects } from './quarantine.js';
import { abortError, CsvError, hashFile, readCsvFile } from './read.js';
import { BatchError, RawBatchBuilder, countRejects, resolveHeader } from './schema.js';
import type { BatchCounts, RawBatch } from './types.js';
import { assertZone } from './parse.js';

export interface RunContext {
  config: Config;
  key: HmacKey;
  log: Logger;
  store: Store;
}

export function openContext(config: Config, opts: { logFile?: string; log?: Logger } = {}): RunContext {
  const key = parseKey(config.env[KEY_VARIABLE]);
  try {
    assertZone(config.input.timezone);
  } catch {
    throw new ConfigError(`input.timezone: unknown time zone ${JSON.stringify(config.input.timezone)}`);
  }
  if (config.sinks.powerbi.enabled && !config.env[POWERBI_URL_VARIABLE]?.trim()) {
    throw new ConfigError(`sinks.powerbi.enabled is true but ${POWERBI_URL_VARIABLE} is not set in .env`);
  }
  const log = opts.log ?? createLogger(config.resolved.logs, config.log.level, opts.logFile);
  const store = Store.open(config.resolved.sqlite, config.resolved.parts, log);
  removeTempFiles(config.resolved.quarantine, log);
  return { config, key, log, store };
}

/**
 * A crash while a reason or rejects file was being written leaves `<name>.<pid>.tmp` in quarantine/.
 * Callers hold the project lock (watch, process), so no other writer's file can be caught here.
 */
function removeTempFiles(dir: string, log: Logger): void {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!/\.\d+\.tmp$/.test(n)) continue;
    rmSync(path.join(dir, n), { force: true });
    log.info({ event: 'recovery_temp_removed', file: n }, 'removed a temporary file left by a crash');
  }
}

export function closeContext(ctx: RunContext): void {
  ctx.store.close();
}

export type BatchStatus = 'loaded' | 'skipped_duplicate' | 'quarantined';

export interface BatchResult extends BatchCounts {
  file: string;
  status: BatchStatus;
  batchId: string | null;
  ms: number;
  reason?: { code: string; message: string };
  warnings?: string[];
  movedTo?: string;
}

export interface ProcessOptions {
  onSuccess: 'keep' | 'archive' | 'delete';
  onProgress?: (rowsRead: number, bytesRead: number, totalBytes: number) => void;
  signal?: AbortSignal;
  /** The processing instant; tests pin it. */
  nowMs?: number;
}

const TRANSIENT_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'EBUSY', 'EPERM', 'EACCES', 'EMFILE', 'ENFILE']);

export function newBatchId(nowMs: number): string {
  return `${new Date(nowMs).toISOString().replace(/[-:]/g, '').slice(0, 15)}Z-${randomBytes(4).toString('hex')}`;
}

async function settleRawFile(file: string, ctx: RunContext, how: ProcessOptions['onSuccess']): Promise<string | undefined> {
  if (how === 'keep') return undefined;
  if (how === 'delete') {
    await fs.rm(file, { force: true });
    return undefined;
  }
  const dest = await freeName(ctx.config.resolved.archive, path.basename(file));
  await moveFile(file, dest);
  return dest;
}

function emptyResult(file: string, t0: number): BatchResult {
  return {
    file: path.basename(file), status: 'loaded', batchId: null, rowsIn: 0, loaded: 0, rejected: 0,
    rejectedByReason: {}, duplicates: 0, flagged: 0, clipped: 0, ms: Math.round(performance.now() - t0),
  };
}

/**
 * A row-count estimate from the file size and the header's width (~10 bytes a field, +5%), capped:
 * beyond the cap the columns grow as rows arrive, so a huge file cannot allocate gigabytes up front.
 */
function expectedRows(size: number | null, header: string[]): number {
  return size === null ? 1024 : Math.min((size / (header.length * 10)) * 1.05, 2_000_000);
}

export async function processFile(file: string, ctx: RunContext, opts: ProcessOptions): Promise<BatchResult> {
  const t0 = performance.now();
  const { config, log, store } = ctx;
  const name = path.basename(file);
  const result = emptyResult(file, t0);
  const nowMs = opts.nowMs ?? Date.now();
  // One look at the file: when it arrived (latency) and how big it is (column presizing).
  let arrivedMs: number | null = null;
  let size: number | null = null;
  try {
    const st = statSync(file);
    arrivedMs = st.mtimeMs;
    size = st.size;
  } catch {
    // vanished: the read below reports it
  }
  const checkAbort = () => {
    if (opts.signal?.aborted) throw abortError();
  };
  let sha256 = '';
  let tmpPart: string | null = null; // set once the part is fully written
  let part = null as PartWriter | null;
  try {
    // 1. read + schema, streaming; the hash covers exactly the bytes processed.
    let builder: RawBatchBuilder | null = null;
    const read = await readCsvFile(
      file,
      (fields, line) => {
        if (builder) return builder.add(fields, line);
        builder = new RawBatchBuilder(resolveHeader(fields), config.input.timezone, expectedRows(size, fields));
      },
      {
        signal: opts.signal,
        onProgress: opts.onProgress && ((bytes, total) => opts.onProgress!(builder?.rowsIn ?? 0, bytes, total)),
      },
    );
    sha256 = read.sha256;
    const done = store.committedBatch(sha256);
    if (done) {
      result.status = 'skipped_duplicate';
      result.batchId = done.batch_id;
      result.movedTo = await settleRawFile(file, ctx, opts.onSuccess);
      log.info({ event: 'batch_skipped_duplicate', file: name, batch_id: done.batch_id, first_seen_as: done.source_name }, 'content already loaded');
      result.ms = Math.round(performance.now() - t0);
      return result;
    }
    if (!builder) throw new BatchError('empty_file', 'the file has no header line');
    const b = builder as RawBatchBuilder;
    // One variable through the stages, so columns a stage replaced can be freed (1M rows: ~50 MB each).
    let batch: RawBatch = b.finish();
    result.rowsIn = b.rowsIn;
    result.rejected = b.rejects.length;
    result.rejectedByReason = countRejects(b.rejects);
    checkAbort();

    // 2. clean: in-batch duplicates (on values as read), ZIPs, clipping.
    const dedup = dropDuplicatesWithin(batch);
    result.duplicates = dedup.duplicates;
    batch = dedup.batch;
    const fingerprints = eventFingerprints(batch, ctx.key);

    store.begin();
    try {
      // Cross-batch duplicates: events loaded by an earlier batch.
      const fresh = filterRows(batch, store.markSeen(fingerprints));
      result.duplicates += batch.n - fresh.n;
      // 3. clean + qc
      const q = cleanAndCheck(fresh, config, { nowMs });
      batch = q.batch;
      b.rejects.push(...q.rejects); // timestamp checks in reject mode: counted and written like schema rejects
      b.rejects.sort((x, y) => x.line - y.line);
      result.rejected = b.rejects.length;
      result.rejectedByReason = countRejects(b.rejects);
      checkAbort();
      result.loaded = batch.n;
      result.flagged = q.flaggedRows;
      result.clipped = q.clippedRows;
      const warnings = checkThresholds(
        { rowsIn: result.rowsIn, rejected: result.rejected, loaded: result.loaded, flaggedRows: result.flagged },
        config.thresholds,
      );
      if (warnings.length) {
        result.warnings = warnings;
        log.warn({ event: 'qc_threshold_warning', file: name, warnings }, 'batch thresholds exceeded (action: flag)');
      }

      // 4. deid: the only way to a MaskedBatch.
      const batchId = newBatchId(nowMs);
      result.batchId = batchId;
      const masked = deidentify(batch, {
        key: ctx.key,
        profile: config.deid.profile,
        restrictedZip3: new Set(config.zip3_restricted.prefixes),
        batchId,
        nowMs,
      });
      checkAbort();

      // 5. sinks: Parquet part under a temporary name, then the SQLite transaction commits the batch.
      // Row group by row group: the encoder thread encodes group k while this thread inserts its rows.
      part = openPart(config.resolved.parts, batchId, config.sinks.parquet.compression);
      // Between row groups the event loop runs, so Ctrl+C is seen at once and an abort rolls back here.
      let from = 0;
      do {
        const to = Math.min(from + ROW_GROUP_ROWS, masked.n);
        part.write(masked, from, to);
        store.insertRows(masked, from, to);
        from = to;
        await new Promise<void>((r) => setImmediate(r));
        checkAbort();
      } while (from < masked.n);
      await writeRejects(config, name, b.rejects);
      tmpPart = await part.finish();
      checkAbort();
      const entry: LedgerEntry = {
        batchId,
        contentSha256: sha256,
        sourceName: name,
        partFile: path.join('parts', partName(batchId)),
        rowsIn: result.rowsIn,
        loaded: result.loaded,
        rejected: result.rejected,
        rejectedByReason: result.rejectedByReason,
        duplicates: result.duplicates,
        flagged: result.flagged,
        clipped: result.clipped,
        keyFingerprint: ctx.key.fingerprint,
        deidProfile: config.deid.profile,
        zip3TableVersion: config.zip3_restricted.version,
        arrivedAt: arrivedMs === null ? null : isoSeconds(arrivedMs),
        startedAt: isoSeconds(nowMs),
        committedAt: isoSeconds(Date.now()),
        ms: Math.round(performance.now() - t0),
        warnings,
      };
      const outbox = config.sinks.powerbi.enabled ? outboxChunks(masked, config.sinks.powerbi.rows_per_post) : [];
      store.commit(entry, q.metrics, outbox);
    } catch (err) {
      store.rollback();
      throw err;
    }
    // Committed: the batch exists. What follows can fail without undoing it; the next start's
    // recovery renames a part left temporary, and a raw file left behind is skipped as a duplicate.
    part = null;
    try {
      await publishPart(tmpPart!);
      result.movedTo = await settleRawFile(file, ctx, opts.onSuccess);
    } catch (err) {
      log.warn({ event: 'post_commit_step_failed', file: name, batch_id: result.batchId, code: (err as NodeJS.ErrnoException).code }, 'batch committed; finishing step will be retried');
    }
    result.ms = Math.round(performance.now() - t0);
    log.info(
      {
        event: 'batch_loaded', file: name, batch_id: result.batchId, rows_in: result.rowsIn, loaded: result.loaded,
        rejected: result.rejected, rejected_by_reason: result.rejectedByReason, duplicates: result.duplicates,
        flagged: result.flagged, clipped: result.clipped, ms: result.ms, key_fingerprint: ctx.key.fingerprint,
      },
      'batch loaded',
    );
    return result;
  } catch (err) {
    if (part) await part.abort().catch(() => undefined);
    const e = err as Error & { code?: string; transient?: boolean };
    if (e.name === 'AbortError') {
      log.warn({ event: 'batch_aborted', file: name }, 'batch aborted and rolled back');
      throw e;
    }
    if (e instanceof BatchError || e instanceof CsvError) {
      const lines = e instanceof CsvError ? [e.line] : e.details.lines;
      if (!sha256) sha256 = await hashFile(file).catch(() => '');
      const movedTo = await quarantineFile(file, config, {
        code: e.code, message: e.message, lines, columns: e instanceof BatchError ? e.details.columns : undefined,
        metrics: e instanceof BatchError ? e.details.metrics : undefined,
      });
      if (sha256) store.recordQuarantine(sha256, name, e.code, Date.now());
      log.warn({ event: 'batch_quarantined', file: name, reason: e.code, message: e.message }, 'file quarantined');
      return { ...result, status: 'quarantined', batchId: null, loaded: 0, reason: { code: e.code, message: e.message }, movedTo, ms: Math.round(performance.now() - t0) };
    }
    if (e.code && TRANSIENT_CODES.has(e.code)) e.transient = true;
    log.error({ event: 'batch_failed', file: name, code: e.code ?? 'internal_error', transient: !!e.transient }, 'batch failed');
    throw e;
  }
}
