// SQLite sink and ledger: masked_out/cleaned.sqlite in WAL mode (Power BI can read through ODBC
// while a batch is appended). Column types are declared so that the SQLite ODBC driver reports
// them right: VARCHAR -> text, INTEGER -> integer, DOUBLE -> double, DATE -> date (YYYY-MM-DD).
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../ops/log.js';
import { ensureDir } from '../core/fsx.js';
import type { MaskedBatch } from '../pipeline/deid.js';
import { isoDate } from '../pipeline/parse.js';
import { OUTBOX_SCHEMA } from './powerbi.js';
import { NULL_INT, OUTPUT_COLUMNS, type ColumnMetrics } from '../pipeline/types.js';
import { PART_PREFIX, PART_SUFFIX, TMP_SUFFIX, partName, type LedgerEntry } from './sink.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cleaned_events (
  patient_key   VARCHAR(64) NOT NULL,
  dob_year      INTEGER,
  age_years     INTEGER,
  event_year    INTEGER NOT NULL,
  event_date    DATE,
  zip3          VARCHAR(3),
  systolic_bp   DOUBLE,
  diastolic_bp  DOUBLE,
  heart_rate    DOUBLE,
  outlier_flags VARCHAR(255) NOT NULL,
  batch_id      VARCHAR(40) NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
  batch_id           VARCHAR(40) PRIMARY KEY,
  content_sha256     VARCHAR(64) NOT NULL UNIQUE,
  source_name        VARCHAR(255) NOT NULL,
  part_file          VARCHAR(255) NOT NULL,
  rows_in            INTEGER NOT NULL,
  loaded             INTEGER NOT NULL,
  rejected           INTEGER NOT NULL,
  duplicates         INTEGER NOT NULL,
  flagged            INTEGER NOT NULL,
  clipped            INTEGER NOT NULL,
  key_fingerprint    VARCHAR(16) NOT NULL,
  deid_profile       VARCHAR(20) NOT NULL,
  zip3_table_version VARCHAR(40) NOT NULL,
  arrived_at         TIMESTAMP,
  started_at         TIMESTAMP NOT NULL,
  committed_at       TIMESTAMP NOT NULL,
  ms                 INTEGER NOT NULL,
  warnings           VARCHAR(1000) NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_rejects (
  batch_id VARCHAR(40) NOT NULL,
  reason   VARCHAR(40) NOT NULL,
  rows     INTEGER NOT NULL,
  PRIMARY KEY (batch_id, reason)
);
CREATE TABLE IF NOT EXISTS qc_metrics (
  batch_id VARCHAR(40) NOT NULL,
  column_name VARCHAR(40) NOT NULL,
  n INTEGER NOT NULL, nulls INTEGER NOT NULL,
  min DOUBLE, q1 DOUBLE, median DOUBLE, q3 DOUBLE, max DOUBLE,
  flagged INTEGER NOT NULL, clipped INTEGER NOT NULL,
  PRIMARY KEY (batch_id, column_name)
);
CREATE TABLE IF NOT EXISTS quarantined (
  content_sha256 VARCHAR(64) NOT NULL,
  source_name    VARCHAR(255) NOT NULL,
  reason_code    VARCHAR(40) NOT NULL,
  at             TIMESTAMP NOT NULL
);
-- Keyed 63-bit fingerprints of loaded events, for cross-batch duplicate detection (see deid.ts).
CREATE TABLE IF NOT EXISTS event_fingerprints (fp INTEGER PRIMARY KEY);
`;

const ROWS_PER_STATEMENT = 50;
const FP_CHUNK = 500;

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export { isoDate };

export interface StoreCounts {
  batches: number;
  rows: number;
  quarantined: Record<string, number>;
}

export class Store {
  readonly db: Database.Database;
  private readonly insertMany: Database.Statement;
  private readonly insertOne: Database.Statement;
  private readonly insertFp: Database.Statement;
  private readonly insertFps: Database.Statement;
  private readonly selectFp: Database.Statement;
  private readonly selectFps: Database.Statement;
  private readonly committedStmt: Database.Statement;

  private constructor(
    readonly file: string,
    readonly partsDir: string,
    private readonly log: Logger,
  ) {
    ensureDir(path.dirname(file));
    ensureDir(partsDir);
    this.db = new Database(file, { timeout: 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.db.exec(OUTBOX_SCHEMA);
    // Additive migrations for files made by an earlier version.
    const ledgerCols = new Set((this.db.prepare('PRAGMA table_info(batches)').all() as { name: string }[]).map((c) => c.name));
    if (!ledgerCols.has('arrived_at')) this.db.exec('ALTER TABLE batches ADD COLUMN arrived_at TIMESTAMP');
    const cols = OUTPUT_COLUMNS.join(', ');
    const one = `(${OUTPUT_COLUMNS.map(() => '?').join(', ')})`;
    this.insertMany = this.db.prepare(
      `INSERT INTO cleaned_events (${cols}) VALUES ${Array.from({ length: ROWS_PER_STATEMENT }, () => one).join(', ')}`,
    );
    this.insertOne = this.db.prepare(`INSERT INTO cleaned_events (${cols}) VALUES ${one}`);
    this.insertFp = this.db.prepare('INSERT OR IGNORE INTO event_fingerprints (fp) VALUES (?)');
    this.insertFps = this.db.prepare(`INSERT OR IGNORE INTO event_fingerprints (fp) VALUES ${Array(FP_CHUNK).fill('(?)').join(',')}`);
    this.selectFp = this.db.prepare('SELECT fp FROM event_fingerprints WHERE fp = ?').pluck().safeIntegers(true);
    this.selectFps = this.db
      .prepare(`SELECT fp FROM event_fingerprints WHERE fp IN (${Array(FP_CHUNK).fill('?').join(',')})`)
      .pluck()
      .safeIntegers(true);
    this.committedStmt = this.db.prepare('SELECT batch_id, source_name FROM batches WHERE content_sha256 = ?');
    this.db.defaultSafeIntegers(false);
  }

  /** Open (creating if needed) and recover: see sink.ts for the protocol. */
  static open(file: string, partsDir: string, log: Logger): Store {
    const s = new Store(file, partsDir, log);
    s.recover();
    return s;
  }

  private recover(): void {
    if (!existsSync(this.partsDir)) return;
    const committed = this.db.prepare('SELECT 1 FROM batches WHERE batch_id = ?').pluck();
    for (const name of readdirSync(this.partsDir)) {
      if (!name.startsWith(PART_PREFIX) || !name.endsWith(PART_SUFFIX + TMP_SUFFIX)) continue;
      const batchId = name.slice(PART_PREFIX.length, -(PART_SUFFIX + TMP_SUFFIX).length);
      const tmp = path.join(this.partsDir, name);
      if (committed.get(batchId)) {
        renameSync(tmp, path.join(this.partsDir, partName(batchId)));
        this.log.info({ event: 'recovery_part_renamed', batch_id: batchId }, 'committed batch: part renamed into place');
      } else {
        rmSync(tmp, { force: true });
        this.log.info({ event: 'recovery_part_deleted', batch_id: batchId }, 'uncommitted batch: temporary part deleted');
      }
    }
  }

  committedBatch(contentSha256: string): { batch_id: string; source_name: string } | undefined {
    return this.committedStmt.get(contentSha256) as { batch_id: string; source_name: string } | undefined;
  }

  begin(): void {
    this.db.exec('BEGIN IMMEDIATE');
  }

  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  /**
   * Inside the batch transaction: 1 for an event never loaded before, 0 for a cross-batch duplicate.
   * Looks up and inserts in sorted order, FP_CHUNK keys per statement (B-tree pages stay hot).
   */
  markSeen(fps: BigInt64Array): Uint8Array {
    const sorted = fps.slice().sort();
    const existing = new Set<bigint>();
    const params = new Array<bigint>(FP_CHUNK);
    let k = 0;
    for (; k + FP_CHUNK <= sorted.length; k += FP_CHUNK) {
      for (let j = 0; j < FP_CHUNK; j++) params[j] = sorted[k + j];
      for (const fp of this.selectFps.all(params) as bigint[]) existing.add(fp);
    }
    for (; k < sorted.length; k++) if (this.selectFp.get(sorted[k]) !== undefined) existing.add(sorted[k]);
    const toInsert = existing.size === 0 ? sorted : sorted.filter((fp) => !existing.has(fp));
    let m = 0;
    for (; m + FP_CHUNK <= toInsert.length; m += FP_CHUNK) {
      for (let j = 0; j < FP_CHUNK; j++) params[j] = toInsert[m + j];
      this.insertFps.run(params);
    }
    for (; m < toInsert.length; m++) this.insertFp.run(toInsert[m]);
    const fresh = new Uint8Array(fps.length).fill(1);
    if (existing.size > 0) for (let i = 0; i < fps.length; i++) if (existing.has(fps[i])) fresh[i] = 0;
    return fresh;
  }

  /** Rows [from, to) of the batch, inside the batch transaction. */
  insertRows(b: MaskedBatch, from = 0, to = b.n): void {
    const width = OUTPUT_COLUMNS.length;
    const dateText = new Map<number, string>();
    const date = (d: number) => {
      if (d === NULL_INT) return null;
      let t = dateText.get(d);
      if (t === undefined) dateText.set(d, (t = isoDate(d)));
      return t;
    };
    const int = (v: number) => (v === NULL_INT ? null : v);
    const dbl = (v: number) => (Number.isNaN(v) ? null : v);
    const fill = (params: unknown[], at: number, i: number) => {
      params[at] = b.patientKeys[b.patientKeyIdx[i]];
      params[at + 1] = int(b.dobYear[i]);
      params[at + 2] = int(b.ageYears[i]);
      params[at + 3] = b.eventYear[i];
      params[at + 4] = date(b.eventDate[i]);
      params[at + 5] = b.zip3s[b.zip3Idx[i]];
      params[at + 6] = dbl(b.systolic_bp[i]);
      params[at + 7] = dbl(b.diastolic_bp[i]);
      params[at + 8] = dbl(b.heart_rate[i]);
      params[at + 9] = b.flagTexts[b.flagIdx[i]];
      params[at + 10] = b.batchId;
    };
    const many = new Array<unknown>(width * ROWS_PER_STATEMENT);
    let i = from;
    for (; i + ROWS_PER_STATEMENT <= to; i += ROWS_PER_STATEMENT) {
      for (let k = 0; k < ROWS_PER_STATEMENT; k++) fill(many, k * width, i + k);
      this.insertMany.run(many);
    }
    const one = new Array<unknown>(width);
    for (; i < to; i++) {
      fill(one, 0, i);
      this.insertOne.run(one);
    }
  }

  /** Inside the batch transaction: metrics, rejects, Power BI outbox chunks and the ledger row; then COMMIT. */
  commit(entry: LedgerEntry, metrics: ColumnMetrics[], outbox: readonly { rows: number; payload: string }[] = []): void {
    const o = this.db.prepare('INSERT INTO powerbi_outbox (batch_id, rows, payload) VALUES (?,?,?)');
    for (const c of outbox) o.run(entry.batchId, c.rows, c.payload);
    const m = this.db.prepare(
      'INSERT INTO qc_metrics (batch_id, column_name, n, nulls, min, q1, median, q3, max, flagged, clipped) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
    );
    for (const c of metrics) m.run(entry.batchId, c.column, c.n, c.nulls, c.min, c.q1, c.median, c.q3, c.max, c.flagged, c.clipped);
    const r = this.db.prepare('INSERT INTO batch_rejects (batch_id, reason, rows) VALUES (?,?,?)');
    for (const [reason, rows] of Object.entries(entry.rejectedByReason)) r.run(entry.batchId, reason, rows);
    this.db
      .prepare(
        `INSERT INTO batches (batch_id, content_sha256, source_name, part_file, rows_in, loaded, rejected, duplicates, flagged,
          clipped, key_fingerprint, deid_profile, zip3_table_version, arrived_at, started_at, committed_at, ms, warnings)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      )
      .run(
        entry.batchId, entry.contentSha256, entry.sourceName, entry.partFile, entry.rowsIn, entry.loaded, entry.rejected,
        entry.duplicates, entry.flagged, entry.clipped, entry.keyFingerprint, entry.deidProfile, entry.zip3TableVersion,
        entry.arrivedAt, entry.startedAt, entry.committedAt, entry.ms, entry.warnings.join('; '),
      );
    this.db.exec('COMMIT');
  }

  recordQuarantine(contentSha256: string, sourceName: string, reasonCode: string, atMs: number): void {
    this.db
      .prepare('INSERT INTO quarantined (content_sha256, source_name, reason_code, at) VALUES (?,?,?,?)')
      .run(contentSha256, sourceName, reasonCode, isoSeconds(atMs));
  }

  counts(): StoreCounts {
    const batches = this.db.prepare('SELECT COUNT(*) FROM batches').pluck().get() as number;
    const rows = this.db.prepare('SELECT COUNT(*) FROM cleaned_events').pluck().get() as number;
    const quarantined: Record<string, number> = {};
    for (const q of this.db.prepare('SELECT reason_code, COUNT(*) AS n FROM quarantined GROUP BY reason_code').all() as {
      reason_code: string;
      n: number;
    }[])
      quarantined[q.reason_code] = q.n;
    return { batches, rows, quarantined };
  }

  close(): void {
    this.rollback();
    this.db.close();
  }
}

export { isoSeconds };
