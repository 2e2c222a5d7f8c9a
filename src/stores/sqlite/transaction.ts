// One batch transaction on the SQLite store: BEGIN IMMEDIATE ... COMMIT on the release database. The private
// bookkeeping row (which file, when) goes to the private database just before that COMMIT.
import type Database from 'better-sqlite3';
import type { MaskedBatch } from '../../pipeline/deid.js';
import { isoDate } from '../../pipeline/parse.js';
import { NULL_INT } from '../../pipeline/types.js';
import { isoSeconds } from '../../core/time.js';
import { LedgerCountsError, type BatchCommit, type BatchTransaction } from '../store.js';
import type { CommitStep, SqlTx } from '../steps.js';

const ROWS_PER_STATEMENT = 50;
const FP_CHUNK = 500;
const EVENT_COLUMNS = [
  'patient_ref', 'batch_ref', 'dob_year', 'age_years', 'event_year', 'event_date', 'zip3', 'systolic_bp', 'diastolic_bp', 'heart_rate', 'outlier_flags',
] as const;

/** Statements prepared once per connection. */
export class SqliteStatements {
  readonly insertMany: Database.Statement;
  readonly insertOne: Database.Statement;
  readonly insertFp: Database.Statement;
  readonly insertFps: Database.Statement;
  readonly selectFp: Database.Statement;
  readonly selectFps: Database.Statement;
  readonly upsertPatient: Database.Statement;
  readonly patientRef: Database.Statement;
  readonly nextRef: Database.Statement;

  constructor(readonly db: Database.Database) {
    const one = `(${EVENT_COLUMNS.map(() => '?').join(', ')})`;
    this.insertMany = db.prepare(
      `INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES ${Array.from({ length: ROWS_PER_STATEMENT }, () => one).join(', ')}`,
    );
    this.insertOne = db.prepare(`INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES ${one}`);
    this.insertFp = db.prepare('INSERT OR IGNORE INTO event_fingerprints (fp) VALUES (?)');
    this.insertFps = db.prepare(`INSERT OR IGNORE INTO event_fingerprints (fp) VALUES ${Array(FP_CHUNK).fill('(?)').join(',')}`);
    this.selectFp = db.prepare('SELECT fp FROM event_fingerprints WHERE fp = ?').pluck().safeIntegers(true);
    this.selectFps = db.prepare(`SELECT fp FROM event_fingerprints WHERE fp IN (${Array(FP_CHUNK).fill('?').join(',')})`).pluck().safeIntegers(true);
    this.upsertPatient = db.prepare('INSERT OR IGNORE INTO patients (patient_key) VALUES (?)');
    this.patientRef = db.prepare('SELECT patient_ref FROM patients WHERE patient_key = ?').pluck();
    this.nextRef = db.prepare('SELECT COALESCE(MAX(batch_ref), 0) + 1 FROM batches').pluck();
  }
}

/** better-sqlite3 is synchronous; steps see the same async shape as on PostgreSQL. */
export function sqliteSqlTx(db: Database.Database): SqlTx {
  return {
    dialect: 'sqlite',
    run: async (sql, params = []) => void db.prepare(sql).run(...params),
    all: async <T>(sql: string, params: readonly unknown[] = []) => db.prepare(sql).all(...params) as T[],
  };
}

export class SqliteTransaction implements BatchTransaction {
  private open = true;
  readonly sql: SqlTx;
  private readonly batchRef: number;
  /** Rows inserted so far: the ledger row must say exactly this many were loaded. */
  private inserted = 0;
  /** patient dictionary index of the batch -> patient_ref, resolved on the first insert. */
  private refs: Int32Array | null = null;

  constructor(
    private readonly st: SqliteStatements,
    private readonly priv: Database.Database,
    private readonly steps: readonly CommitStep[],
    readonly batchId: string,
    /** After COMMIT (the store's hook; nothing by default). */
    private readonly afterCommit: () => void = () => undefined,
  ) {
    this.sql = sqliteSqlTx(st.db);
    st.db.exec('BEGIN IMMEDIATE');
    // One writer at a time (the write lock is ours until COMMIT), so max + 1 is the commit order too.
    this.batchRef = st.nextRef.get() as number;
  }

  private assertOpen(): void {
    if (!this.open) throw new Error('the batch transaction is closed (committed or rolled back)');
  }

  /** Whether this transaction is still open (neither committed nor rolled back). */
  get isOpen(): boolean {
    return this.open;
  }

  async markSeen(fps: BigInt64Array): Promise<Uint8Array> {
    this.assertOpen();
    const st = this.st;
    // Sorted, FP_CHUNK keys per statement: the B-tree pages stay hot.
    const sorted = fps.slice().sort();
    const existing = new Set<bigint>();
    const params = new Array<bigint>(FP_CHUNK);
    let k = 0;
    for (; k + FP_CHUNK <= sorted.length; k += FP_CHUNK) {
      for (let j = 0; j < FP_CHUNK; j++) params[j] = sorted[k + j];
      for (const fp of st.selectFps.all(params) as bigint[]) existing.add(fp);
    }
    for (; k < sorted.length; k++) if (st.selectFp.get(sorted[k]) !== undefined) existing.add(sorted[k]);
    const toInsert = existing.size === 0 ? sorted : sorted.filter((fp) => !existing.has(fp));
    let m = 0;
    for (; m + FP_CHUNK <= toInsert.length; m += FP_CHUNK) {
      for (let j = 0; j < FP_CHUNK; j++) params[j] = toInsert[m + j];
      st.insertFps.run(params);
    }
    for (; m < toInsert.length; m++) st.insertFp.run(toInsert[m]);
    const fresh = new Uint8Array(fps.length).fill(1);
    if (existing.size > 0) for (let i = 0; i < fps.length; i++) if (existing.has(fps[i])) fresh[i] = 0;
    return fresh;
  }

  /** patient_ref of every patient the batch's rows use (new patients are added in this transaction). */
  private patientRefs(b: MaskedBatch): Int32Array {
    if (this.refs) return this.refs;
    const used = new Uint8Array(b.patientKeys.length);
    for (let i = 0; i < b.n; i++) used[b.patientKeyIdx[i]] = 1;
    const refs = new Int32Array(b.patientKeys.length).fill(-1);
    for (let k = 0; k < b.patientKeys.length; k++) {
      if (!used[k]) continue;
      this.st.upsertPatient.run(b.patientKeys[k]);
      refs[k] = this.st.patientRef.get(b.patientKeys[k]) as number;
    }
    return (this.refs = refs);
  }

  async insertRows(b: MaskedBatch, from = 0, to = b.n): Promise<void> {
    this.assertOpen();
    const refs = this.patientRefs(b);
    const width = EVENT_COLUMNS.length;
    const dateText = new Map<number, string>();
    const date = (d: number) => {
      if (d === NULL_INT) return null;
      let t = dateText.get(d);
      if (t === undefined) dateText.set(d, (t = isoDate(d)));
      return t;
    };
    const int = (v: number) => (v === NULL_INT ? null : v);
    const dbl = (v: number) => (Number.isNaN(v) ? null : v);
    const batchRef = this.batchRef;
    const fill = (params: unknown[], at: number, i: number) => {
      params[at] = refs[b.patientKeyIdx[i]];
      params[at + 1] = batchRef;
      params[at + 2] = int(b.dobYear[i]);
      params[at + 3] = int(b.ageYears[i]);
      params[at + 4] = int(b.eventYear[i]);
      params[at + 5] = date(b.eventDate[i]);
      params[at + 6] = b.zip3s[b.zip3Idx[i]];
      params[at + 7] = dbl(b.systolic_bp[i]);
      params[at + 8] = dbl(b.diastolic_bp[i]);
      params[at + 9] = dbl(b.heart_rate[i]);
      params[at + 10] = b.flagTexts[b.flagIdx[i]];
    };
    const many = new Array<unknown>(width * ROWS_PER_STATEMENT);
    let i = from;
    for (; i + ROWS_PER_STATEMENT <= to; i += ROWS_PER_STATEMENT) {
      for (let k = 0; k < ROWS_PER_STATEMENT; k++) fill(many, k * width, i + k);
      this.st.insertMany.run(many);
    }
    const one = new Array<unknown>(width);
    for (; i < to; i++) {
      fill(one, 0, i);
      this.st.insertOne.run(one);
    }
    this.inserted += to - from;
  }

  async commit(c: BatchCommit): Promise<void> {
    this.assertOpen();
    const db = this.st.db;
    const e = c.entry;
    // The ledger's promise: what it says was loaded is what the events table received.
    if (e.loaded !== this.inserted || e.rowsIn !== e.loaded + e.rejected + e.duplicates) throw new LedgerCountsError();
    const o = db.prepare('INSERT INTO outbox (sink, batch_id, rows, payload, attempts) VALUES (?, ?, ?, ?, 0)');
    for (const chunk of c.outbox) o.run(chunk.sink, e.batchId, chunk.rows, chunk.payload);
    const m = db.prepare(
      'INSERT INTO qc_metrics (batch_id, column_name, n, nulls, min, q1, median, q3, max, flagged, clipped, implausible, converted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)',
    );
    for (const x of c.metrics) {
      m.run(e.batchId, x.column, x.n, x.nulls, x.min, x.q1, x.median, x.q3, x.max, x.flagged, x.clipped, x.implausible ?? 0, x.converted ?? 0);
    }
    const d = db.prepare('INSERT INTO qc_drift (batch_id, column_name, statistic, baseline, observed, severity) VALUES (?,?,?,?,?,?)');
    for (const x of c.drift) d.run(e.batchId, x.column, x.statistic, x.baseline, x.observed, x.severity);
    const r = db.prepare('INSERT INTO batch_rejects (batch_id, reason, rows) VALUES (?,?,?)');
    for (const [reason, rows] of Object.entries(e.rejectedByReason)) r.run(e.batchId, reason, rows);
    if (c.attestation !== null) db.prepare('INSERT INTO attestations (batch_id, document) VALUES (?, ?)').run(e.batchId, c.attestation);
    db.prepare(
      `INSERT INTO batches (batch_ref, seq, batch_id, content_key, head_key, start_offset, end_offset, rows_in, loaded, rejected,
         duplicates, flagged, clipped, files, key_id, key_mode, deid_profile, zip3_vintage, zip3_table_hash, ruleset_version, warnings)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    ).run(
      this.batchRef, this.batchRef, e.batchId, e.contentKey, e.headKey, e.startOffset, e.endOffset, e.rowsIn, e.loaded, e.rejected,
      e.duplicates, e.flagged, e.clipped, e.files.join(';'), e.keyId, e.keyMode, e.deidProfile, e.zip3Vintage, e.zip3TableHash,
      e.rulesetVersion, e.warnings.join('; '),
    );
    const priv = sqliteSqlTx(this.priv);
    for (const step of this.steps) await step.run(this.sql, priv, { batchRef: this.batchRef, batchId: e.batchId, nowMs: c.private.startedAtMs });
    // Private bookkeeping first, in its own database: a crash before the COMMIT below leaves an orphan row that
    // the next writer removes (SqliteStore.openWriter), so a committed batch never lacks its file name.
    const p = c.private;
    this.priv
      .prepare('INSERT OR REPLACE INTO batch_sources (batch_id, source_name, arrived_at, started_at, committed_at, ms) VALUES (?,?,?,?,?,?)')
      .run(e.batchId, p.sourceName, p.arrivedAtMs === null ? null : isoSeconds(p.arrivedAtMs), isoSeconds(p.startedAtMs), isoSeconds(p.committedAtMs), p.ms);
    db.exec('COMMIT');
    this.open = false;
    this.afterCommit();
  }

  async rollback(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    if (this.st.db.inTransaction) this.st.db.exec('ROLLBACK');
  }
}
