// Ages over 89 judged at release, across batches (Safe Harbor (C); the per-batch rule is in pipeline/deid.ts).
//
// A patient is in the "90 or older" category from the day they turn 90 (from the EARLIEST birth date ever seen for
// them) or from any event of theirs at 90+. From then on no published row of theirs may carry dob_year or
// event_year, including the rows that earlier releases published while they were 89. Three parts:
//
// 1. Facts, in the private state (never in the release): age90_facts (patient_key -> the day they turn 90, their
//    latest event day) and age90_seen (patient_key, batch_id) for every batch in which the patient has rows that
//    still carry a year. Before de-identification the runner reads the facts of the batch's patients (prior()), so
//    the batch is masked right the first time, even when its own rows have no birth date.
// 2. The commit step (step()), inside the batch transaction, just before COMMIT: it records this batch's facts, and
//    for every patient judged 90+ in this batch, or crossing 90 by the calendar since the last release (turn90_day
//    in (last release day, this release day]), it re-masks their earlier rows in the store (UPDATE events ...
//    SET dob_year = NULL, event_year = NULL, found through age90_seen and the events(batch_ref) index) and records
//    which Parquet parts hold such rows (age90_rewrites: part batch, patient, releasing batch). The release day is
//    kept in the private state per releasing batch (age90_releases); the last release day is that of the latest
//    batch that COMMITTED, so it never goes back and a rolled-back batch does not move it (a processing day in the
//    release itself would date a streaming feed's encounters). On SQLite the private writes commit on their own connection at once; each is harmless
//    if the batch then rolls back (facts about a patient; a pending rewrite of rows that were not changed).
// 3. After the commit (applyPendingRewrites(), also at every writer start): each pending part whose releasing batch
//    committed is rewritten atomically (sinks/parquet/rewrite.ts: temporary file, fsync, rename over the part),
//    cleaned.parquet is rebuilt when it exists and masked_out/bi/ exports are invalidated; only then are the pending
//    records (and the patients' age90_seen rows, now masked) deleted. A crash anywhere leaves them to be redone;
//    a rewrite is idempotent. Pending rewrites of a batch that never committed are dropped.
import { processingDay, type BatchAgeFacts, type PatientAgeFacts } from '../pipeline/deid.js';
import { NULL_INT } from '../pipeline/types.js';
import type { Logger } from '../ops/log.js';
import type { StagedFate } from '../stores/store.js';
import type { CommitStep, SqlTx, StepContext } from '../stores/steps.js';

export const AGE90_PRIVATE_DDL = [
  'CREATE TABLE IF NOT EXISTS age90_facts (patient_key VARCHAR(64) NOT NULL PRIMARY KEY, turn90_day INTEGER, max_event_day INTEGER)',
  'CREATE INDEX IF NOT EXISTS ix_age90_facts_turn90 ON age90_facts (turn90_day)',
  'CREATE TABLE IF NOT EXISTS age90_seen (patient_key VARCHAR(64) NOT NULL, batch_id VARCHAR(40) NOT NULL, PRIMARY KEY (patient_key, batch_id))',
  'CREATE TABLE IF NOT EXISTS age90_rewrites (part_batch_id VARCHAR(40) NOT NULL, patient_key VARCHAR(64) NOT NULL, ' +
    'release_batch_id VARCHAR(40) NOT NULL, PRIMARY KEY (part_batch_id, patient_key, release_batch_id))',
  'CREATE TABLE IF NOT EXISTS age90_releases (batch_id VARCHAR(40) NOT NULL PRIMARY KEY, release_day INTEGER NOT NULL)',
];

/** Rows of a batch found without scanning the table (the index appends: batch_ref only grows). */
export const AGE90_RELEASE_DDL = ['CREATE INDEX IF NOT EXISTS ix_events_batch_ref ON events (batch_ref)'];


/** What one file holding published rows can do about re-masked patients (sinks/parquet/rewrite.ts). */
export interface PartRewriter {
  /** Null dob_year and event_year on the rows of these patients in the part of this batch. */
  rewrite(batchId: string, patientKeys: ReadonlySet<string>): Promise<'rewritten' | 'unchanged' | 'missing' | 'staged'>;
  /** After parts changed: rebuild what is derived from them (cleaned.parquet), invalidate exports (bi/). */
  afterRewrites(): Promise<void>;
}

/**
 * Where the BI tables (stores/bi.ts) move the contributions of re-masked patients: called inside the batch
 * transaction with the patients and batches whose rows lost their years. compose.ts wires it.
 */
/**
 * How derived tables follow a re-mask: called once per batch with the patients about to be re-masked and the change
 * itself (stores/bi.ts revisePatients subtracts their contributions, runs the change, adds them back).
 */
export type ReviseHook = (tx: SqlTx, ctx: StepContext, patientRefs: number[], change: () => Promise<void>) => Promise<void>;

export interface RemaskReport {
  patients: number;
  rows: number;
  batches: number;
  /** Time the commit step took (ms). */
  ms: number;
}

interface Staged {
  keys: readonly string[];
  facts: BatchAgeFacts;
}

const CHUNK = 400;
const marks = (n: number) => Array(n).fill('?').join(',');

function chunks<T>(xs: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

const int = (v: unknown): number => (v === null || v === undefined ? NULL_INT : Number(v));
const sqlInt = (v: number): number | null => (v === NULL_INT ? null : v);

export interface Age90Options {
  /** input.timezone: the release day is the calendar day there. */
  zone: string;
  /** The private state, outside any batch transaction (reads, and the deletes after a commit). */
  priv: SqlTx;
  /** The release, read after commits (which batches committed). */
  release: SqlTx;
  /** The store's word on batches not committed: abandoned (drop their pending rewrites) or in flight (wait). */
  fates: (batchIds: readonly string[]) => Promise<Map<string, StagedFate>>;
  rewriter: PartRewriter;
  log: Logger;
  revise?: ReviseHook;
  /** After a commit that re-masked published rows: drop old page images (SQLite: truncate the WAL). */
  onRemaskCommitted?: () => void;
}

export class Age90Guard {
  private readonly staged = new Map<string, Staged>();
  /** What the last commit step re-masked (for the log line and tests). */
  lastRemask: RemaskReport = { patients: 0, rows: 0, batches: 0, ms: 0 };

  constructor(private readonly o: Age90Options) {}

  /** Facts from earlier batches for these patients, and the last release day (from the release, in `tx`). */
  async prior(patientKeys: readonly string[], tx: SqlTx): Promise<{ prior: PatientAgeFacts; floorDay: number | undefined }> {
    const turn90Day = new Int32Array(patientKeys.length).fill(NULL_INT);
    const maxEventDay = new Int32Array(patientKeys.length).fill(NULL_INT);
    const at = new Map<string, number[]>();
    patientKeys.forEach((k, i) => {
      const list = at.get(k);
      if (list) list.push(i);
      else at.set(k, [i]);
    });
    for (const part of chunks([...at.keys()])) {
      const rows = await this.o.priv.all<{ patient_key: string; turn90_day: unknown; max_event_day: unknown }>(
        `SELECT patient_key, turn90_day, max_event_day FROM age90_facts WHERE patient_key IN (${marks(part.length)})`,
        part,
      );
      for (const r of rows) {
        for (const i of at.get(r.patient_key) ?? []) {
          turn90Day[i] = int(r.turn90_day);
          maxEventDay[i] = int(r.max_event_day);
        }
      }
    }
    return { prior: { turn90Day, maxEventDay }, floorDay: await releaseFloor(this.o.priv, tx) };
  }

  /** The batch's facts, for the commit step of this batch (StepContext carries none). */
  stage(batchId: string, keys: readonly string[], facts: BatchAgeFacts): void {
    this.staged.set(batchId, { keys, facts });
  }

  discard(batchId: string): void {
    this.staged.delete(batchId);
  }

  step(): CommitStep {
    return {
      name: 'age90',
      ddl: () => AGE90_RELEASE_DDL,
      privateDdl: () => AGE90_PRIVATE_DDL,
      run: (tx, priv, ctx) => (priv.dialect === 'sqlite' ? inOneTransaction(priv, () => this.run(tx, priv, ctx)) : this.run(tx, priv, ctx)),
    };
  }

  private async run(tx: SqlTx, priv: SqlTx, ctx: StepContext): Promise<void> {
    const t0 = performance.now();
    const staged = this.staged.get(ctx.batchId);
    this.staged.delete(ctx.batchId);
    const floor = await releaseFloor(priv, tx);
    const today = processingDay(ctx.nowMs, this.o.zone);
    const releaseDay = floor === undefined ? today : Math.max(today, floor);
    const candidates = new Set<string>();
    if (staged) {
      const { keys, facts } = staged;
      const factRows: (string | number | null)[][] = [];
      const seen: string[] = [];
      for (let p = 0; p < keys.length; p++) {
        if (!facts.present[p]) continue;
        if (facts.turn90Day[p] !== NULL_INT || facts.maxEventDay[p] !== NULL_INT) {
          factRows.push([keys[p], sqlInt(facts.turn90Day[p]), sqlInt(facts.maxEventDay[p])]);
        }
        if (facts.aged90[p]) candidates.add(keys[p]);
        else seen.push(keys[p]);
      }
      factRows.sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
      for (const part of chunks(factRows, 300)) {
        await priv.run(
          `INSERT INTO age90_facts (patient_key, turn90_day, max_event_day) VALUES ${part.map(() => '(?, ?, ?)').join(',')}
           ON CONFLICT (patient_key) DO UPDATE SET
             turn90_day = CASE WHEN excluded.turn90_day IS NULL THEN age90_facts.turn90_day
                               WHEN age90_facts.turn90_day IS NULL OR excluded.turn90_day < age90_facts.turn90_day THEN excluded.turn90_day
                               ELSE age90_facts.turn90_day END,
             max_event_day = CASE WHEN excluded.max_event_day IS NULL THEN age90_facts.max_event_day
                               WHEN age90_facts.max_event_day IS NULL OR excluded.max_event_day > age90_facts.max_event_day THEN excluded.max_event_day
                               ELSE age90_facts.max_event_day END`,
          part.flat(),
        );
      }
      for (const part of chunks([...new Set(seen)].sort())) {
        await priv.run(
          `INSERT INTO age90_seen (patient_key, batch_id) VALUES ${part.map(() => '(?, ?)').join(',')} ON CONFLICT (patient_key, batch_id) DO NOTHING`,
          part.flatMap((k) => [k, ctx.batchId]),
        );
      }
    }
    // Patients who turned 90 by the calendar since the last release, batch or no batch of theirs.
    const crossed = await priv.all<{ patient_key: string }>(
      floor === undefined
        ? 'SELECT patient_key FROM age90_facts WHERE turn90_day <= ?'
        : 'SELECT patient_key FROM age90_facts WHERE turn90_day <= ? AND turn90_day > ?',
      floor === undefined ? [releaseDay] : [releaseDay, floor],
    );
    for (const r of crossed) candidates.add(r.patient_key);
    this.lastRemask = candidates.size ? await this.remask(tx, priv, [...candidates], ctx) : { patients: 0, rows: 0, batches: 0, ms: 0 };
    this.lastRemask.ms = Math.round(performance.now() - t0);
    await priv.run(
      'INSERT INTO age90_releases (batch_id, release_day) VALUES (?, ?) ON CONFLICT (batch_id) DO UPDATE SET release_day = excluded.release_day',
      [ctx.batchId, releaseDay],
    );
  }

  /** Re-mask the rows of these (90+) patients that still carry a year, and record the parts to rewrite. */
  private async remask(tx: SqlTx, priv: SqlTx, keys: string[], ctx: StepContext): Promise<RemaskReport> {
    const seen: { patient_key: string; batch_id: string }[] = [];
    for (const part of chunks(keys)) {
      seen.push(...(await priv.all<{ patient_key: string; batch_id: string }>(`SELECT patient_key, batch_id FROM age90_seen WHERE patient_key IN (${marks(part.length)})`, part)));
    }
    if (seen.length === 0) return { patients: 0, rows: 0, batches: 0, ms: 0 };
    const batchRef = new Map<string, number>();
    for (const part of chunks([...new Set(seen.map((s) => s.batch_id))])) {
      for (const r of await tx.all<{ batch_ref: number; batch_id: string }>(`SELECT batch_ref, batch_id FROM batches WHERE batch_id IN (${marks(part.length)})`, part)) {
        batchRef.set(r.batch_id, Number(r.batch_ref));
      }
    }
    const patientRef = new Map<string, number>();
    for (const part of chunks([...new Set(seen.map((s) => s.patient_key))])) {
      for (const r of await tx.all<{ patient_ref: number; patient_key: string }>(`SELECT patient_ref, patient_key FROM patients WHERE patient_key IN (${marks(part.length)})`, part)) {
        patientRef.set(r.patient_key, Number(r.patient_ref));
      }
    }
    const byBatch = new Map<string, number[]>();
    const keyOfRef = new Map<number, string>();
    for (const s of seen) {
      const b = batchRef.get(s.batch_id);
      const p = patientRef.get(s.patient_key);
      if (b === undefined || p === undefined) continue; // a batch that never committed
      keyOfRef.set(p, s.patient_key);
      const list = byBatch.get(s.batch_id) ?? [];
      list.push(p);
      byBatch.set(s.batch_id, list);
    }
    const report: RemaskReport = { patients: 0, rows: 0, batches: 0, ms: 0 };
    const patients = new Set<number>();
    const withYear = '(dob_year IS NOT NULL OR event_year IS NOT NULL)';
    // First find what must change, then change it in one go: the BI tables move these patients' contributions
    // around the change (subtracted before, added back after), once for all of them.
    const hits: { batchId: string; batchRef: number; refs: number[] }[] = [];
    for (const [batchId, refs] of byBatch) {
      const b = batchRef.get(batchId)!;
      const hit: { patient_ref: number; n: number }[] = [];
      for (const part of chunks(refs)) {
        hit.push(
          ...(await tx.all<{ patient_ref: number; n: number }>(
            `SELECT patient_ref, COUNT(*) AS n FROM events WHERE batch_ref = ? AND patient_ref IN (${marks(part.length)}) AND ${withYear} GROUP BY patient_ref`,
            [b, ...part],
          )),
        );
      }
      if (hit.length === 0) continue;
      hits.push({ batchId, batchRef: b, refs: hit.map((h) => Number(h.patient_ref)) });
      report.batches++;
      for (const h of hit) {
        patients.add(Number(h.patient_ref));
        report.rows += Number(h.n);
      }
    }
    report.patients = patients.size;
    if (hits.length === 0) return report;
    const change = async () => {
      for (const { batchId, batchRef: b, refs } of hits) {
        for (const part of chunks(refs)) {
          await tx.run(`UPDATE events SET dob_year = NULL, event_year = NULL WHERE batch_ref = ? AND patient_ref IN (${marks(part.length)}) AND ${withYear}`, [b, ...part]);
        }
        for (const part of chunks(refs, 300)) {
          await priv.run(
            `INSERT INTO age90_rewrites (part_batch_id, patient_key, release_batch_id) VALUES ${part.map(() => '(?, ?, ?)').join(',')}
             ON CONFLICT (part_batch_id, patient_key, release_batch_id) DO NOTHING`,
            part.flatMap((r) => [batchId, keyOfRef.get(r)!, ctx.batchId]),
          );
        }
      }
    };
    if (this.o.revise) await this.o.revise(tx, ctx, [...patients], change);
    else await change();
    return report;
  }

  /** After a batch committed: log what its step re-masked, clean up after it, rewrite the Parquet parts. */
  async afterCommit(batchId: string): Promise<void> {
    const r = this.lastRemask;
    this.lastRemask = { patients: 0, rows: 0, batches: 0, ms: 0 };
    if (r.rows > 0) {
      this.o.log.info({ event: 'age90_remasked', batch_id: batchId, ...r }, 'rows of patients who crossed 90 were masked again');
      this.o.onRemaskCommitted?.();
    }
    await this.applyPendingRewrites();
  }

  /**
   * Rewrite the Parquet parts that hold re-masked rows (after each commit, and at every writer start). Returns how
   * many parts were rewritten.
   */
  async applyPendingRewrites(): Promise<number> {
    // Release days older than the latest committed one are of no more use.
    const floor = await releaseFloor(this.o.priv, this.o.release);
    if (floor !== undefined) await this.o.priv.run('DELETE FROM age90_releases WHERE release_day < ?', [floor]);
    const rows = await this.o.priv.all<{ part_batch_id: string; patient_key: string; release_batch_id: string }>(
      'SELECT part_batch_id, patient_key, release_batch_id FROM age90_rewrites',
    );
    if (rows.length === 0) return 0;
    const releases = [...new Set(rows.map((r) => r.release_batch_id))];
    const committed = new Set<string>();
    for (const part of chunks(releases)) {
      for (const r of await this.o.release.all<{ batch_id: string }>(`SELECT batch_id FROM batches WHERE batch_id IN (${marks(part.length)})`, part)) {
        committed.add(r.batch_id);
      }
    }
    const notCommitted = releases.filter((id) => !committed.has(id));
    const fates = notCommitted.length ? await this.o.fates(notCommitted) : new Map<string, StagedFate>();
    for (const id of notCommitted) {
      if (fates.get(id) === 'in_flight') continue;
      await this.o.priv.run('DELETE FROM age90_rewrites WHERE release_batch_id = ?', [id]);
    }
    const byPart = new Map<string, Set<string>>();
    for (const r of rows) {
      if (!committed.has(r.release_batch_id)) continue;
      const set = byPart.get(r.part_batch_id) ?? new Set<string>();
      set.add(r.patient_key);
      byPart.set(r.part_batch_id, set);
    }
    const done: [string, Set<string>][] = [];
    let rewritten = 0;
    const t0 = performance.now();
    for (const [partId, keys] of byPart) {
      const r = await this.o.rewriter.rewrite(partId, keys);
      if (r === 'staged') continue; // not published yet: the next pass
      if (r === 'missing') this.o.log.warn({ event: 'age90_part_missing', batch_id: partId }, 'a part to re-mask is not on disk');
      if (r === 'rewritten') rewritten++;
      done.push([partId, keys]);
    }
    const partsMs = Math.round(performance.now() - t0);
    if (rewritten > 0) await this.o.rewriter.afterRewrites();
    for (const [partId, keys] of done) {
      for (const part of chunks([...keys])) {
        await this.o.priv.run(`DELETE FROM age90_rewrites WHERE part_batch_id = ? AND patient_key IN (${marks(part.length)})`, [partId, ...part]);
        await this.o.priv.run(`DELETE FROM age90_seen WHERE batch_id = ? AND patient_key IN (${marks(part.length)})`, [partId, ...part]);
      }
    }
    if (rewritten > 0) {
      this.o.log.info({ event: 'age90_parts_rewritten', parts: rewritten, ms: partsMs }, 'Parquet parts re-masked for patients who crossed 90');
    }
    return rewritten;
  }
}

/**
 * SQLite's private state is a connection of its own in autocommit mode: one transaction for the step's writes (one
 * commit per statement rewrote every touched page each time: ~1 s for 20k patients, against ~0.1 s).
 */
async function inOneTransaction<T>(priv: SqlTx, fn: () => Promise<T>): Promise<T> {
  await priv.run('BEGIN IMMEDIATE');
  try {
    const r = await fn();
    await priv.run('COMMIT');
    return r;
  } catch (err) {
    await priv.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The latest release day of a batch that committed (`release` tells which did), or undefined before the first. */
export async function releaseFloor(priv: SqlTx, release: SqlTx): Promise<number | undefined> {
  const rows = await priv.all<{ batch_id: string; release_day: number }>('SELECT batch_id, release_day FROM age90_releases ORDER BY release_day DESC');
  for (const r of rows) {
    if ((await release.all('SELECT 1 AS one FROM batches WHERE batch_id = ?', [r.batch_id])).length) return Number(r.release_day);
  }
  return undefined;
}
