// The runner: one delivery through the exactly-once protocol. `process`, `watch` and `worker` all use it; the
// store, the file sinks, the outbox sinks and the source behind it are chosen by compose.ts.
//
// THE EXACTLY-ONCE PROTOCOL (the one place it is written down; a SIGKILL may land between any two steps):
//   1. Read the delivery as segments of at most batch.max_rows records (pipeline/segments.ts; one segment for most
//      files), computing each segment's content key while reading: a keyed hash of the file's bytes up to the
//      segment's end (nothing in the release is an unkeyed hash of raw data). Cuts also fall on the ends of segments
//      committed earlier, so a file that grew or a big file whose load was interrupted finds those committed.
//      Steps 2-5 run per segment; the raw file is settled (done()) once, after its last segment.
//      The pure stages run: schema, duplicates within the batch.
//   2. store.begin(content): content already committed (under any file name) -> delivery.done(), finished.
//      Otherwise a transaction is open; the cross-batch duplicate fingerprints are marked in it.
//   3. Clean, QC and de-identification run; the file sinks stage their files under temporary names while the
//      transaction inserts the same rows, chunk by chunk.
//   4. The file sinks seal (fsync); the transaction commits the ledger row naming the staged files, with the
//      metrics, rejects, outbox chunks and BI tables. THIS is the moment the batch exists.
//   5. The file sinks publish (rename); delivery.done() archives the raw file (NATS: ack).
// A crash before 4 leaves staged files that recovery deletes (the store reports them abandoned) and a raw file
// that is read again; between 4 and 5, staged files that recovery publishes and a raw file that step 2 finds
// committed. Recovery runs only where it may (compose.ts): the SQLite writer holding the output lock, or any
// worker for batches whose writer is gone (PostgreSQL advisory locks tell).
//
// De-identification context (privacy/): patient keys come from the HMAC or, in the surrogate mode, the vault; the
// age facts of earlier batches are read before deid so a batch is masked right the first time (privacy/age90.ts,
// whose commit step re-masks earlier rows inside the transaction and whose Parquet rewrites run after step 5);
// the masked batch is audited and its signed attestation is staged with the batch and committed with it.
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Config } from './config/load.js';
import type { HmacKey } from './config/key.js';
import { abortError, BatchError, CsvError } from './core/errors.js';
import { collectGarbage } from './core/gc.js';
import type { Clock } from './core/time.js';
import type { Logger } from './ops/log.js';
import { contentKey, DEID_RULESET_VERSION, deidentifyWithFacts, eventFingerprints, headKey, patientKey, type MaskedBatch } from './pipeline/deid.js';
import { safeName, safePath } from './ops/safe-name.js';
import type { Age90Guard } from './privacy/age90.js';
import type { AttestationSink } from './privacy/attestation-sink.js';
import { makeAttestation } from './privacy/attestation.js';
import { auditMaskedBatch } from './privacy/batch-audit.js';
import type { Vault } from './privacy/vault.js';
import { filterRows } from './pipeline/clean.js';
import { checkThresholds } from './pipeline/qc.js';
import { headSha256, readSegments } from './pipeline/segments.js';
import { countRejects, RawBatchBuilder, resolveHeader, type HeaderMap } from './pipeline/schema.js';
import { cleanAndCheck, dropDuplicatesWithin } from './pipeline/stages.js';
import type { BatchCounts, RawBatch, Reject } from './pipeline/types.js';
import type { FileSink, StagedFiles } from './sinks/file-sink.js';
import type { OutboxSink } from './sinks/outbox.js';
import { writeRejects } from './sources/quarantine.js';
import type { Delivery } from './sources/source.js';
import type { HistoryKeeper } from './stores/history.js';
import type { DriftBaseline } from './pipeline/drift.js';
import { AlreadyCommittedError, type BatchTransaction, type ContentRef, type LedgerEntry, type OutboxWrite, type Store } from './stores/store.js';

/** Rows per chunk: the store inserts them while the file sinks encode them (one Parquet row group each). */
export const CHUNK_ROWS = 65_536;

export type BatchStatus = 'loaded' | 'skipped_duplicate' | 'quarantined';

export interface BatchResult extends BatchCounts {
  /** The file's base name as it may be printed (ops/safe-name.ts: a keyed id unless the name is safe). */
  file: string;
  status: BatchStatus;
  batchId: string | null;
  ms: number;
  reason?: { code: string; message: string };
  warnings?: string[];
  /** QC drift rows this batch recorded (departures from the earlier batches). */
  drift?: number;
  /** Where the file went, as it may be printed (its name through the name policy). */
  movedTo?: string;
  /** Batches this delivery committed (a file larger than batch.max_rows records makes several). */
  batches?: number;
  /** The load continued after segments committed earlier (a file that grew, or an interrupted big file): from here. */
  resumedAt?: number;
}

/** A segment's content was refused (quarantine): the error, with the counts the segment had reached. */
class SegmentRefused extends Error {
  constructor(readonly error: BatchError | CsvError, readonly partial: BatchResult) {
    super(error.message);
  }
}

/** Adds one committed batch to a file's result. */
function addCounts(total: BatchResult, r: BatchResult): void {
  total.batches = (total.batches ?? 0) + 1;
  total.batchId = r.batchId;
  total.rowsIn += r.rowsIn;
  total.loaded += r.loaded;
  total.rejected += r.rejected;
  for (const [k, v] of Object.entries(r.rejectedByReason)) total.rejectedByReason[k] = (total.rejectedByReason[k] ?? 0) + v;
  total.duplicates += r.duplicates;
  total.flagged += r.flagged;
  total.clipped += r.clipped;
  if (r.drift !== undefined) total.drift = (total.drift ?? 0) + r.drift;
  if (r.warnings) total.warnings = [...(total.warnings ?? []), ...r.warnings.filter((w) => !total.warnings?.includes(w))];
}

/** The privacy layer's parts (compose.ts makes them). */
export interface PrivacyParts {
  age90: Age90Guard;
  /** The surrogate-key vault (deid.key_mode: surrogate), else null. */
  vault: Vault | null;
  attestations: AttestationSink;
}

export interface RunnerParts {
  config: Config;
  key: HmacKey;
  log: Logger;
  store: Store;
  fileSinks: readonly FileSink[];
  outboxSinks: readonly OutboxSink[];
  clock: Clock;
  privacy: PrivacyParts;
  /** The patients' QC history in the store (config history.enabled), else null. */
  history: HistoryKeeper | null;
  /** Checked before each batch: the output lock is still ours, the store is still the one we opened. */
  preflight?: () => Promise<void>;
}

export interface RunOptions {
  onProgress?: (rowsRead: number, bytesRead: number, totalBytes: number) => void;
  /** Aborts the batch (rolled back); combined with the delivery's own signal. */
  signal?: AbortSignal;
}

/** Batch ids are random, with no date in them (a processing time would date the encounters of a streaming feed). */
export function newBatchId(): string {
  return randomBytes(10).toString('hex');
}

/** Where a file went, as it may be printed. */
function shown(movedTo: string | undefined): string | undefined {
  return movedTo === undefined ? undefined : safePath(movedTo);
}

/** The earlier batches as the drift baseline: the last `window` committed ones, oldest first. */
async function driftBaseline(store: Store, window: number): Promise<DriftBaseline> {
  const recent = (await store.ledger.batches({ newestFirst: true, limit: window })).reverse();
  const metrics = await store.ledger.metrics(recent.map((b) => b.batchId));
  return {
    batches: recent.map((b) => ({ rows: b.loaded, flaggedRows: b.flagged, metrics: metrics.filter((m) => m.batchId === b.batchId) })),
  };
}

/** A row-count estimate from the file size and the header's width (~10 bytes a field, +5%), capped. */
function expectedRows(size: number | null, fields: number): number {
  return size === null ? 1024 : Math.min((size / (fields * 10)) * 1.05, 2_000_000);
}

export class Runner {
  constructor(private readonly parts: RunnerParts) {}

  get log(): Logger {
    return this.parts.log;
  }

  /**
   * One delivery, exactly once: the file as consecutive segments of at most batch.max_rows records, each its own
   * batch (steps 1-5 per segment; the raw file is settled once, after the last). Bad content ends quarantined
   * (returned, never thrown), with the segments before it committed; an abort, a transient failure or an
   * unexpected error is thrown with the open transaction rolled back and nothing staged left behind, so the caller
   * (drive.ts) can retry the delivery or quarantine it: committed segments are then found in the ledger.
   */
  async run(d: Delivery, opts: RunOptions = {}): Promise<BatchResult> {
    const { config, key } = this.parts;
    const t0 = performance.now();
    const total: BatchResult = {
      file: safeName(d.name), status: 'skipped_duplicate', batchId: null, rowsIn: 0, loaded: 0, rejected: 0, rejectedByReason: {},
      duplicates: 0, flagged: 0, clipped: 0, ms: 0, batches: 0,
    };
    const signal = opts.signal ? AbortSignal.any([opts.signal, d.signal]) : d.signal;
    let size: number | null = null;
    try {
      size = statSync(d.path).size;
    } catch {
      // vanished: the read below reports it
    }
    const maxRows = config.batch.max_rows;
    let header: HeaderMap | null = null;
    let width = 0;
    let builder: RawBatchBuilder | null = null;
    let rowsBefore = 0;
    let skippedBatchId: string | null = null;
    let content: ContentRef | null = null;
    const fileRejects: Reject[] = [];
    const fresh = () => new RawBatchBuilder(header!, config.input.timezone, Math.min(maxRows + 1, expectedRows(size, width)));
    try {
      await this.parts.preflight?.();
      // 1. read + schema, streaming; each segment's content key covers exactly the file's bytes up to its end.
      const head = headKey(key, await headSha256(d.path));
      const earlier = await this.parts.store.segments(head);
      const segments = readSegments(
        d.path,
        (fields, line) => {
          if (!header) {
            header = resolveHeader(fields);
            width = fields.length;
            return;
          }
          // A segment's batch is made at its first record, once the batch before it has been handed over.
          (builder ??= fresh()).add(fields, line);
        },
        {
          maxRows, cutAt: earlier.map((e) => e.endOffset), signal,
          onProgress: opts.onProgress && ((bytes, all) => opts.onProgress!(rowsBefore + ((builder as RawBatchBuilder | null)?.rowsIn ?? 0), bytes, all)),
        },
      );
      for await (const seg of segments) {
        content = { contentKey: contentKey(key, seg.prefixSha256), headKey: head, startOffset: seg.startOffset, endOffset: seg.endOffset };
        // A file with a header and no record is a batch of none (as before segments); no header: b stays null.
        const b: RawBatchBuilder | null = builder ?? (header && seg.index === 0 ? fresh() : null);
        builder = null; // the next segment's records go to a new batch
        rowsBefore += b?.rowsIn ?? 0;
        if (seg.index > 0 && (!b || b.rowsIn === 0)) continue; // only blank lines after the last cut
        const r = await this.loadSegment(d, content, b, fileRejects, signal, t0);
        if (r.kind === 'committed') {
          skippedBatchId = r.batchId;
          continue;
        }
        if (seg.startOffset > 0 && skippedBatchId !== null && total.batches === 0) total.resumedAt = seg.startOffset;
        if (seg.index === 0 && earlier.length > 0) {
          // Its first bytes match a file committed before, but not up to any end committed before.
          this.parts.log.warn({ event: 'file_rewritten', file: d.name }, 'a file seen before changed before its end: loaded again (events already stored count as duplicates)');
        }
        addCounts(total, r.result);
        if (!seg.last) collectGarbage(); // the next batch fills while this one's columns are released
      }
    } catch (err) {
      if (err instanceof SegmentRefused) {
        // What the refused segment read is reported with it; loaded stays what earlier segments committed.
        const { partial } = err;
        const counts = { ...total, rowsIn: total.rowsIn + partial.rowsIn, rejected: total.rejected + partial.rejected, flagged: total.flagged + partial.flagged };
        for (const [k, v] of Object.entries(partial.rejectedByReason)) counts.rejectedByReason = { ...counts.rejectedByReason, [k]: (counts.rejectedByReason[k] ?? 0) + v };
        return this.quarantined(d, err.error, counts, content, t0);
      }
      if (err instanceof BatchError || err instanceof CsvError) return this.quarantined(d, err, total, content, t0);
      throw err;
    }
    if (total.batches === 0) return this.skipped(d, skippedBatchId!, t0);
    // 5 (the file's part). Committed. What follows can fail without undoing it: a raw file left behind is found
    // committed next time.
    try {
      total.movedTo = shown(await d.done());
    } catch (err) {
      this.parts.log.warn({ event: 'post_commit_step_failed', file: d.name, batch_id: total.batchId, code: (err as NodeJS.ErrnoException).code }, 'batch committed; finishing step will be retried');
    }
    total.status = 'loaded';
    total.ms = Math.round(performance.now() - t0);
    return total;
  }

  /** One segment through steps 2-5 (all but settling the raw file). */
  private async loadSegment(
    d: Delivery, content: ContentRef, b: RawBatchBuilder | null, fileRejects: Reject[], signal: AbortSignal, t0: number,
  ): Promise<{ kind: 'committed'; batchId: string } | { kind: 'loaded'; result: BatchResult }> {
    const { config, log, store, key, clock } = this.parts;
    const tSeg = performance.now();
    const startedAtMs = clock();
    const name = d.name;
    const result: BatchResult = {
      file: safeName(name), status: 'loaded', batchId: null, rowsIn: 0, loaded: 0, rejected: 0, rejectedByReason: {}, duplicates: 0,
      flagged: 0, clipped: 0, ms: 0,
    };
    const checkAbort = () => {
      if (signal.aborted) throw abortError();
    };
    let tx: BatchTransaction | null = null;
    let staged: StagedFiles[] = [];
    try {
      // 2. begin, unless this content is committed already.
      const batchId = newBatchId();
      const begun = await store.begin(content, batchId);
      if (begun.kind === 'committed') return begun;
      tx = begun.tx;
      if (!b) throw new BatchError('empty_file', 'the file has no header line');
      // One variable through the stages, so columns a stage replaced can be freed (1M rows: ~50 MB each).
      let batch: RawBatch = b.finish();
      result.rowsIn = b.rowsIn;
      const rejects = b.rejects;
      result.rejected = rejects.length;
      result.rejectedByReason = countRejects(rejects);
      checkAbort();
      const dedup = dropDuplicatesWithin(batch);
      result.duplicates = dedup.duplicates;
      batch = dedup.batch;
      const fresh = filterRows(batch, await tx.markSeen(eventFingerprints(batch, key)));
      result.duplicates += batch.n - fresh.n;

      // 3. clean + QC (with the patients' own history and the earlier batches as baseline), then
      // de-identification: the only way to a MaskedBatch.
      const { privacy } = this.parts;
      const patientKeys = privacy.vault ? await privacy.vault.tokens(fresh.patientIds) : fresh.patientIds.map((id) => patientKey(key, id));
      const q = cleanAndCheck(fresh, config, {
        nowMs: startedAtMs,
        patientKeys: this.parts.history ? patientKeys : undefined,
        history: this.parts.history ? await this.parts.history.load(store.privateSql(), patientKeys) : undefined,
        driftBaseline: config.drift.enabled ? await driftBaseline(store, config.drift.window) : undefined,
      });
      batch = q.batch;
      if (q.rejects.length) {
        // timestamp checks in reject mode: counted and written like the schema's rejects
        rejects.push(...q.rejects);
        rejects.sort((x, y) => x.line - y.line);
        result.rejected = rejects.length;
        result.rejectedByReason = countRejects(rejects);
      }
      this.parts.history?.stage(batchId, q.historyAppends);
      q.historyAppends.length = 0; // staged as one document per patient: the per-reading appends can go
      result.drift = q.drift.length;
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
      result.batchId = batchId;
      const keyMode = config.deid.key_mode;
      const { prior, floorDay } = await privacy.age90.prior(patientKeys, tx.sql);
      const { masked, counts, facts } = deidentifyWithFacts(batch, {
        key, profile: config.deid.profile, zip3: config.zip3, batchId, nowMs: startedAtMs, zone: config.input.timezone, patientKeys, prior,
        releaseFloorDay: floorDay,
      });
      const audit = auditMaskedBatch(masked, facts, { profile: config.deid.profile, zip3: config.zip3, keyMode });
      if (audit.result !== 'pass') throw new Error(`de-identification self-check failed: ${audit.findings.join('; ')}`);
      privacy.age90.stage(batchId, patientKeys, facts);
      const attestation = makeAttestation({
        batchId, profile: config.deid.profile, zip3: config.zip3, key, keyMode, counts, audit, cellsSuppressed: null,
      });
      checkAbort();

      // File sinks stage while the transaction inserts the same rows, chunk by chunk. Between chunks the event loop
      // runs, so a stop is seen at once and an abort rolls back here.
      staged = [...this.parts.fileSinks.map((s) => s.stage(batchId)), privacy.attestations.stageDocument(batchId, attestation)];
      let from = 0;
      do {
        const to = Math.min(from + CHUNK_ROWS, masked.n);
        await Promise.all([...staged.map((s) => s.write(masked, from, to)), tx.insertRows(masked, from, to)]);
        from = to;
        d.keepAlive();
        await new Promise<void>((r) => setImmediate(r));
        checkAbort();
      } while (from < masked.n);
      // The file's rejects so far (every segment's), under its name in quarantine/.
      await writeRejects(config.resolved.quarantine, name, [...fileRejects, ...rejects]);

      // 4. seal, then commit: the moment the batch exists.
      const files = (await Promise.all(staged.map((s) => s.seal()))).flat();
      checkAbort();
      const entry: LedgerEntry = {
        ...content, batchId, files, rowsIn: result.rowsIn, loaded: result.loaded, rejected: result.rejected,
        rejectedByReason: result.rejectedByReason, duplicates: result.duplicates, flagged: result.flagged, clipped: result.clipped,
        keyId: key.id, keyMode, deidProfile: config.deid.profile, zip3Vintage: config.zip3.vintage,
        zip3TableHash: config.zip3.hash, rulesetVersion: DEID_RULESET_VERSION, warnings,
      };
      await tx.commit({
        entry, metrics: q.metrics, outbox: this.outboxWrites(masked), drift: q.drift, attestation,
        private: { sourceName: name, arrivedAtMs: d.arrivedAtMs, startedAtMs, committedAtMs: clock(), ms: Math.round(performance.now() - t0) },
      });
      tx = null;
      fileRejects.push(...rejects);
    } catch (err) {
      await tx?.rollback().catch(() => undefined);
      if (result.batchId) this.parts.privacy.age90.discard(result.batchId);
      if (tx) this.parts.history?.discard(tx.batchId);
      await Promise.all(staged.map((s) => s.abort().catch(() => undefined)));
      if (err instanceof AlreadyCommittedError) return { kind: 'committed', batchId: err.batchId }; // another writer won the race
      if (err instanceof BatchError || err instanceof CsvError) throw new SegmentRefused(err, result);
      throw err;
    }
    // 5 (the batch's part). Committed: recovery publishes a part left temporary.
    try {
      await Promise.all(staged.map((s) => s.publish()));
      await this.parts.privacy.age90.afterCommit(result.batchId!);
    } catch (err) {
      log.warn({ event: 'post_commit_step_failed', file: name, batch_id: result.batchId, code: (err as NodeJS.ErrnoException).code }, 'batch committed; finishing step will be retried');
    }
    result.ms = Math.round(performance.now() - tSeg);
    log.info(
      {
        event: 'batch_loaded', file: name, batch_id: result.batchId, rows_in: result.rowsIn, loaded: result.loaded,
        rejected: result.rejected, rejected_by_reason: result.rejectedByReason, duplicates: result.duplicates,
        flagged: result.flagged, clipped: result.clipped, ms: result.ms, key_id: key.id,
        start_offset: content.startOffset, end_offset: content.endOffset,
      },
      'batch committed',
    );
    return { kind: 'loaded', result };
  }

  /** The content was committed already (by an earlier batch, or by another writer just now): settle the file. */
  private async skipped(d: Delivery, batchId: string, t0: number): Promise<BatchResult> {
    const movedTo = shown(await d.done());
    this.parts.log.info({ event: 'batch_skipped_duplicate', file: d.name, batch_id: batchId }, 'content already loaded');
    return {
      file: safeName(d.name), status: 'skipped_duplicate', batchId, rowsIn: 0, loaded: 0, rejected: 0, rejectedByReason: {}, duplicates: 0,
      flagged: 0, clipped: 0, ms: Math.round(performance.now() - t0), movedTo,
    };
  }

  private outboxWrites(masked: MaskedBatch): OutboxWrite[] {
    return this.parts.outboxSinks.flatMap((s) => s.chunks(masked).map((c) => ({ sink: s.name, ...c })));
  }

  private async quarantined(d: Delivery, e: BatchError | CsvError, result: BatchResult, content: ContentRef | null, t0: number): Promise<BatchResult> {
    const lines = e instanceof CsvError ? [e.line] : e.details.lines;
    const movedTo = shown(await d.quarantine({
      code: e.code, message: e.message, lines, columns: e instanceof BatchError ? e.details.columns : undefined,
      metrics: e instanceof BatchError ? e.details.metrics : undefined,
    }));
    await this.parts.store.recordQuarantine({ sourceName: d.name, reasonCode: e.code, contentKey: content?.contentKey ?? null, atMs: this.parts.clock() });
    this.parts.log.warn({ event: 'batch_quarantined', file: d.name, reason: e.code }, 'file quarantined');
    // `result` holds what segments before this one committed (nothing, for a file of one batch).
    return { ...result, status: 'quarantined', batchId: null, reason: { code: e.code, message: e.message }, movedTo, ms: Math.round(performance.now() - t0) };
  }
}
