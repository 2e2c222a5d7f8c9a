// The store contract (src/stores/store.ts), as tests every store runs: PostgreSQL (postgres.test.ts) and SQLite.
// A harness gives a fresh, empty store location per test, writer and reader stores on it, and a view of its tables
// through a connection of its own (outside any store), which is how "not visible before commit" is observed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTransient, UserError } from '../../src/core/errors.js';
import type { CommitStep } from '../../src/stores/steps.js';
import type { Store } from '../../src/stores/store.js';
import { eventsCsv, plausibleRows, type EventRow } from '../helpers/project.js';
import { contentRef, expectedRows, load, newBatchId, readCsv, stage, type CleanedRow } from './batches.js';

/** Tables a harness can count: the release tables and the private ones. */
export type CountedTable =
  | 'events' | 'patients' | 'batches' | 'event_fingerprints' | 'batch_rejects' | 'qc_metrics' | 'qc_drift' | 'outbox'
  | 'attestations' | 'batch_sources' | 'quarantined';

export interface StoreHarness {
  /** Whether two writers may be open on one store at once (PostgreSQL: yes; SQLite: one writer holds the lock). */
  readonly concurrentWriters: boolean;
  /**
   * A writer store on this test's store (called again: another writer on the same store, as a second process), with
   * these commit steps (stores/steps.ts).
   */
  open(steps?: readonly CommitStep[]): Promise<Store>;
  /** A store opened with role 'reader' on its own connection. */
  openReader(): Promise<Store>;
  /** Rows in a table, counted through the harness's own connection. */
  count(table: CountedTable): Promise<number>;
  /** The cleaned_events view through the harness's own connection, dates as YYYY-MM-DD text, sorted. */
  cleanedEvents(): Promise<CleanedRow[]>;
  /** Closes what the harness opened and removes the store. */
  dispose(): Promise<void>;
}

const ALL: CountedTable[] = ['events', 'patients', 'batches', 'event_fingerprints', 'batch_rejects', 'qc_metrics', 'qc_drift', 'outbox', 'attestations', 'batch_sources'];

async function counts(h: StoreHarness, tables = ALL): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) out[t] = await h.count(t);
  return out;
}

const zeros = (tables = ALL) => Object.fromEntries(tables.map((t) => [t, 0]));

function csv(n: number, opts: Parameters<typeof plausibleRows>[1] = {}, extra: EventRow[] = []): string {
  return eventsCsv([...plausibleRows(n, opts), ...extra]);
}

/** Rows the schema stage rejects, and a duplicate within the file. */
function messyCsv(): { text: string; rejects: Record<string, number>; withinDuplicates: number } {
  const rows = plausibleRows(40, { seed: 3, prefix: 'messy' });
  const bad: EventRow[] = [
    { ...rows[0], patient_id: '' },
    { ...rows[1], patient_id: '   ' },
    { ...rows[2], event_ts: 'yesterday' },
  ];
  return { text: eventsCsv([...rows, ...bad, rows[5]]), rejects: { missing_patient_id: 2, invalid_event_ts: 1 }, withinDuplicates: 1 };
}

/**
 * The contract suite. `makeHarness` returns null when the store's service is unavailable (the test then skips with
 * the reason its helper printed).
 */
export function storeContract(name: string, makeHarness: () => Promise<StoreHarness | null>): void {
  describe(`store contract: ${name}`, () => {
    let h: StoreHarness | null = null;
    const opened: Store[] = [];
    const open = async (steps?: readonly CommitStep[]) => {
      const s = await h!.open(steps);
      opened.push(s);
      return s;
    };
    const openReader = async () => {
      const s = await h!.openReader();
      opened.push(s);
      return s;
    };

    beforeEach(async (ctx) => {
      h = await makeHarness();
      if (!h) ctx.skip();
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close().catch(() => undefined);
      await h?.dispose();
      h = null;
    });

    it('makes the rows visible at commit and not before, to another connection', async () => {
      const store = await open();
      const reader = await openReader();
      const r = readCsv(csv(2500, { patients: 37 }));
      const s = await stage(store, r, { chunk: 700, profile: 'limited_data_set' });
      if ('status' in s) throw new Error('fresh content reported as committed');
      expect(s.masked.n).toBe(2500);
      expect(await counts(h!)).toEqual(zeros());
      expect(await h!.cleanedEvents()).toEqual([]);
      expect(await reader.ledger.batches()).toEqual([]);
      expect(await reader.ledger.committed(r.ref.contentKey)).toBeNull();
      expect((await reader.ledger.summary()).rows).toBe(0);

      await s.tx.commit(s.commit);
      const c = await counts(h!);
      expect(c).toMatchObject({ events: 2500, patients: 37, batches: 1, event_fingerprints: 2500, qc_metrics: s.commit.metrics.length, qc_drift: 1, attestations: 1, batch_sources: 1 });
      expect(await h!.cleanedEvents()).toEqual(expectedRows(s.masked));
      expect((await h!.cleanedEvents()).some((x) => x.event_date !== null)).toBe(true);
      expect(await reader.ledger.committed(r.ref.contentKey)).toBe(s.tx.batchId);
      const [b] = await reader.ledger.batches();
      expect(b).toMatchObject({ seq: 1, batchId: s.tx.batchId, rowsIn: 2500, loaded: 2500, rejected: 0, duplicates: 0, files: s.commit.entry.files });
    });

    it('rolls back to nothing, twice safely, and the content loads afterwards', async () => {
      const store = await open();
      const r = readCsv(csv(1200, { seed: 11 }));
      const s = await stage(store, r, { chunk: 500 });
      if ('status' in s) throw new Error('fresh content reported as committed');
      await s.tx.rollback();
      await s.tx.rollback();
      expect(await counts(h!)).toEqual(zeros());
      await expect(s.tx.insertRows(s.masked, 0, 1)).rejects.toThrow();
      const again = await load(store, r);
      expect(again.status).toBe('loaded');
      expect(await h!.count('events')).toBe(1200);
      expect(await h!.count('batches')).toBe(1);
    });

    it('reports content committed once already, under any batch id, and from another writer', async () => {
      const store = await open();
      const r = readCsv(csv(300, { seed: 5 }));
      const first = await load(store, r);
      expect(first.status).toBe('loaded');
      expect(await store.begin(r.ref, newBatchId())).toEqual({ kind: 'committed', batchId: first.batchId });
      if (h!.concurrentWriters) {
        const other = await open();
        expect(await other.begin(r.ref, newBatchId())).toEqual({ kind: 'committed', batchId: first.batchId });
      }
      expect(await store.ledger.committed(r.ref.contentKey)).toBe(first.batchId);
      expect(await h!.count('events')).toBe(300);
      expect(await h!.count('batches')).toBe(1);
    });

    it('records rows in = loaded + rejected + duplicates, within and across batches', async () => {
      const store = await open();
      const m = messyCsv();
      const a = await load(store, readCsv(m.text));
      if (a.status !== 'loaded') throw new Error('expected a load');
      expect(a.commit.entry).toMatchObject({ rowsIn: 44, rejected: 3, rejectedByReason: m.rejects, duplicates: m.withinDuplicates, loaded: 40 });
      // A second file repeats 15 of the first file's events and adds 10 new ones: the store finds the 15.
      const firstRows = plausibleRows(40, { seed: 3, prefix: 'messy' });
      const b = await load(store, readCsv(eventsCsv([...firstRows.slice(10, 25), ...plausibleRows(10, { seed: 9, prefix: 'new' })])));
      if (b.status !== 'loaded') throw new Error('expected a load');
      expect(b.commit.entry).toMatchObject({ rowsIn: 25, loaded: 10, duplicates: 15, rejected: 0 });
      const stored = await store.ledger.storedRowsByBatch();
      expect(Object.fromEntries(stored)).toEqual({ [a.batchId]: 40, [b.batchId]: 10 });
      expect(Object.fromEntries(await store.ledger.rejectsByBatch())).toEqual({ [a.batchId]: m.rejects });
      for (const x of await store.ledger.batches()) expect(x.rowsIn).toBe(x.loaded + x.rejected + x.duplicates);
      const sum = await store.ledger.summary();
      expect(sum).toMatchObject({ batches: 2, rows: 50, lastSeq: 2, profiles: ['safe_harbor'] });
      expect(sum.patients).toBe(20);
      expect(sum.keyIds).toHaveLength(1);
      expect(await h!.count('events')).toBe(50);
      expect(await h!.count('event_fingerprints')).toBe(50);
    });

    it('gives seq in commit order without gaps, whatever rolled back between', async () => {
      const store = await open();
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = readCsv(csv(50, { seed: 100 + i, prefix: `s${i}` }));
        if (i === 1) {
          const s = await stage(store, r);
          if (!('status' in s)) await s.tx.rollback();
        }
        const l = await load(store, r);
        ids.push(l.batchId);
      }
      const all = await store.ledger.batches();
      expect(all.map((b) => [b.seq, b.batchId])).toEqual(ids.map((id, i) => [i + 1, id]));
      expect((await store.ledger.batches({ afterSeq: 2 })).map((b) => b.seq)).toEqual([3, 4]);
      expect((await store.ledger.batches({ newestFirst: true, limit: 2 })).map((b) => b.seq)).toEqual([4, 3]);
      expect((await store.ledger.summary()).lastSeq).toBe(4);
    });

    it('finds the earlier segments of a file that grew', async () => {
      const store = await open();
      const rows = plausibleRows(60, { seed: 21 });
      const whole = eventsCsv(rows);
      const head = eventsCsv(rows.slice(0, 30));
      const tail = whole.slice(head.length);
      const a = await load(store, readCsv(head, contentRef(head, 0, whole)));
      // The appended part: its own content key, the same head key, starting where the first ended.
      const tailCsv = eventsCsv([]) + tail;
      const b = await load(store, readCsv(tailCsv, { ...contentRef(tail, Buffer.byteLength(head), whole) }));
      const seg = await store.segments(contentRef(whole).headKey);
      expect(seg.map((s) => s.batchId)).toEqual([b.batchId, a.batchId]);
      expect(seg[0]).toMatchObject({ startOffset: Buffer.byteLength(head), endOffset: Buffer.byteLength(whole) });
      expect(seg[1]).toMatchObject({ startOffset: 0, endOffset: Buffer.byteLength(head) });
      expect(await store.segments('0'.repeat(64))).toEqual([]);
    });

    it('tells committed, in-flight and abandoned batches apart (stagedFates)', async () => {
      const store = await open();
      const done = await load(store, readCsv(csv(20, { seed: 31 })));
      const rolled = await stage(store, readCsv(csv(20, { seed: 33 })));
      if ('status' in rolled) throw new Error('fresh content reported as committed');
      await rolled.tx.rollback();
      const s = await stage(store, readCsv(csv(20, { seed: 32 })));
      if ('status' in s) throw new Error('fresh content reported as committed');
      const never = newBatchId();
      const fates = await store.stagedFates([done.batchId, s.tx.batchId, rolled.tx.batchId, never]);
      expect(Object.fromEntries(fates)).toEqual({ [done.batchId]: 'committed', [s.tx.batchId]: 'in_flight', [rolled.tx.batchId]: 'abandoned', [never]: 'abandoned' });
      await s.tx.commit(s.commit);
      expect((await store.stagedFates([s.tx.batchId])).get(s.tx.batchId)).toBe('committed');
      expect((await store.stagedFates([])).size).toBe(0);
    });

    it('reads back metrics, drift, quarantined files and private fields through the ledger', async () => {
      const store = await open();
      const a = await load(store, readCsv(csv(400, { seed: 41 })), { sourceName: 'events_20260115_0001.csv' });
      if (a.status !== 'loaded') throw new Error('expected a load');
      const metrics = await store.ledger.metrics([a.batchId]);
      expect(metrics).toEqual(
        a.commit.metrics
          .map((m) => ({ ...m, batchId: a.batchId }))
          .sort((x, y) => (x.column < y.column ? -1 : 1)),
      );
      expect(await store.ledger.metrics(['no-such-batch'])).toEqual([]);
      expect(await store.ledger.drift()).toEqual([{ batchId: a.batchId, column: 'heart_rate', statistic: 'median', baseline: 70, observed: 90.5, severity: 'warn' }]);
      await store.recordQuarantine({ sourceName: 'events_bad_1.csv', reasonCode: 'missing_columns', contentKey: null, atMs: Date.UTC(2026, 0, 15, 12, 0, 1) });
      await store.recordQuarantine({ sourceName: 'events_bad_2.csv', reasonCode: 'empty_file', contentKey: 'ab'.repeat(32), atMs: Date.UTC(2026, 0, 15, 12, 0, 2) });
      await store.recordQuarantine({ sourceName: 'events_bad_3.csv', reasonCode: 'empty_file', contentKey: null, atMs: Date.UTC(2026, 0, 15, 12, 0, 3) });
      const q = await store.ledger.quarantined({ limit: 2 });
      expect(q).toEqual([
        { sourceName: 'events_bad_3.csv', reasonCode: 'empty_file', contentKey: null, atMs: Date.UTC(2026, 0, 15, 12, 0, 3) },
        { sourceName: 'events_bad_2.csv', reasonCode: 'empty_file', contentKey: 'ab'.repeat(32), atMs: Date.UTC(2026, 0, 15, 12, 0, 2) },
      ]);
      expect((await store.ledger.summary()).quarantinedByReason).toEqual({ empty_file: 2, missing_columns: 1 });
      const [b] = await store.ledger.batches();
      expect(b).toMatchObject({
        sourceName: 'events_20260115_0001.csv', arrivedAtMs: a.commit.private.arrivedAtMs, committedAtMs: a.commit.private.committedAtMs, ms: 1000,
        keyId: a.commit.entry.keyId, deidProfile: 'safe_harbor', zip3Vintage: a.commit.entry.zip3Vintage,
      });
      expect(await store.ledger.bi('kpi_bp_by_year')).toBeInstanceOf(Array);
      expect(await h!.count('quarantined')).toBe(3);
    });

    it('keeps its identity while open, and a reader never writes', async () => {
      const store = await open();
      await load(store, readCsv(csv(30, { seed: 51 })));
      await expect(store.checkIdentity()).resolves.toBeUndefined();
      const reader = await openReader();
      await expect(reader.checkIdentity()).resolves.toBeUndefined();
      expect((await reader.ledger.summary()).batches).toBe(1);
      await expect(reader.begin(contentRef('x'), newBatchId())).rejects.toBeInstanceOf(UserError);
      await expect(reader.recordQuarantine({ sourceName: 'x.csv', reasonCode: 'empty_file', contentKey: null, atMs: 0 })).rejects.toBeInstanceOf(UserError);
      expect(await h!.count('quarantined')).toBe(0);
    });

    it('refuses a commit whose counts disagree with the rows inserted, and keeps nothing of it', async () => {
      const store = await open();
      const s = await stage(store, readCsv(csv(100, { seed: 61 })));
      if ('status' in s) throw new Error('fresh content reported as committed');
      const e = await s.tx.commit({ ...s.commit, entry: { ...s.commit.entry, loaded: 99, duplicates: 1 } }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Error);
      expect(isTransient(e)).toBe(false);
      await s.tx.rollback();
      expect(await counts(h!)).toEqual(zeros());
    });

    it('runs the commit steps inside the transaction: their tables at open, their writes at commit or never', async () => {
      // A step written once for both stores: the shared SQL subset, `?` parameters, unqualified names.
      let failNext = false;
      const step: CommitStep = {
        name: 'test_counts',
        ddl: () => ['CREATE TABLE IF NOT EXISTS step_counts (batch_id VARCHAR(40) PRIMARY KEY, batch_ref INTEGER NOT NULL, n INTEGER NOT NULL, rows_so_far INTEGER NOT NULL)'],
        privateDdl: () => ['CREATE TABLE IF NOT EXISTS step_private (batch_id VARCHAR(40) PRIMARY KEY)'],
        async run(tx, priv, ctx) {
          const [own] = await tx.all<{ n: number }>('SELECT count(*) AS n FROM events WHERE batch_ref = ?', [ctx.batchRef]);
          const [all] = await tx.all<{ n: number }>("SELECT count(*) AS n FROM events WHERE outlier_flags <> 'no such ? flag'");
          await tx.run('INSERT INTO step_counts (batch_id, batch_ref, n, rows_so_far) VALUES (?, ?, ?, ?)', [ctx.batchId, ctx.batchRef, own.n, all.n]);
          await priv.run('INSERT INTO step_private (batch_id) VALUES (?)', [ctx.batchId]);
          if (failNext) throw new Error('step failed');
        },
      };
      const store = await open([step]);
      const a = await load(store, readCsv(csv(120, { seed: 81 })));
      const s = await stage(store, readCsv(csv(30, { seed: 82, prefix: 'b' })));
      if ('status' in s) throw new Error('fresh content reported as committed');
      // The transaction's own SQL sees its uncommitted rows; another connection does not.
      expect(await s.tx.sql.all<{ n: number }>('SELECT count(*) AS n FROM events')).toEqual([{ n: 150 }]);
      expect(await h!.count('events')).toBe(120);
      await s.tx.commit(s.commit);
      const rows = await (await openReader()).ledger.batches();
      expect(rows.map((b) => b.batchId)).toEqual([a.batchId, s.tx.batchId]);
      const counts = await store.begin(contentRef('probe'), newBatchId());
      if (counts.kind !== 'open') throw new Error('fresh content reported as committed');
      const got = await counts.tx.sql.all<{ batch_id: string; n: number; rows_so_far: number }>('SELECT batch_id, n, rows_so_far FROM step_counts ORDER BY rows_so_far');
      await counts.tx.rollback();
      expect(got).toEqual([
        { batch_id: a.batchId, n: 120, rows_so_far: 120 },
        { batch_id: s.tx.batchId, n: 30, rows_so_far: 150 },
      ]);
      // A failing step fails the commit: nothing of that batch remains in the release.
      failNext = true;
      const f = await stage(store, readCsv(csv(10, { seed: 83, prefix: 'c' })));
      if ('status' in f) throw new Error('fresh content reported as committed');
      await expect(f.tx.commit(f.commit)).rejects.toThrow();
      await f.tx.rollback();
      expect(await h!.count('events')).toBe(150);
      expect(await h!.count('batches')).toBe(2);
      // Opening again with the same steps keeps their tables and rows.
      const again = await open([step]);
      const probe = await again.begin(contentRef('probe-2'), newBatchId());
      if (probe.kind !== 'open') throw new Error('fresh content reported as committed');
      expect(await probe.tx.sql.all('SELECT batch_id FROM step_counts')).toHaveLength(2);
      await probe.tx.rollback();
    });

    it('stores NULL for every missing value', async () => {
      const store = await open();
      const rows = plausibleRows(30, { seed: 71 });
      rows[0] = { ...rows[0], dob: '', zip: '' };
      rows[1] = { ...rows[1], heart_rate: '', systolic_bp: '' };
      rows[2] = { ...rows[2], dob: 'not-a-date', zip: '9' };
      const a = await load(store, readCsv(eventsCsv(rows)));
      if (a.status !== 'loaded') throw new Error('expected a load');
      const got = await h!.cleanedEvents();
      expect(got).toEqual(expectedRows(a.masked));
      expect(got.some((r) => r.dob_year === null && r.zip3 === null)).toBe(true);
      expect(got.some((r) => r.heart_rate === null && r.systolic_bp === null)).toBe(true);
    });
  });
}
