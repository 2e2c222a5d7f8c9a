// A file that keeps growing after it was loaded (an in-place writer that paused longer than watch.stable_ms): the
// real watcher keeps the loaded file in incoming/ for watch.archive_after_ms; what is appended meanwhile loads as a
// new batch, exactly once; once the file is idle it is archived. Real chokidar, real SQLite, real Parquet (DuckDB).
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { startWatch } from '../../src/run.js';
import { duckQuery, globOf } from '../helpers/duck.js';
import { eventsCsv, listDir, makeProject, waitFor } from '../helpers/watch-project.js';

function ledger(file: string): { start_offset: number; rows_in: number }[] {
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT start_offset, rows_in FROM batches ORDER BY seq').all() as { start_offset: number; rows_in: number }[];
  } catch {
    return [];
  } finally {
    db.close();
  }
}

describe('watch: files that keep growing', () => {
  it('loads the appended lines of a loaded file as new batches, exactly once, and archives it once idle', async () => {
    const p = makeProject({ watch: { archive_after_ms: 2500 } });
    const h = await startWatch(p.config());
    try {
      const file = path.join(p.incoming, 'events_grow.csv');
      const first = eventsCsv(0, 120);
      writeFileSync(file, first); // written in place, then the writer pauses
      await waitFor(() => ledger(p.sqlite).length === 1, 10_000, 'first part loaded');
      expect(listDir(p.incoming)).toContain('events_grow.csv'); // kept: it may grow
      // The writer goes on: 80 more lines, in two writes.
      const rest = eventsCsv(120, 80).split('\n').slice(1);
      appendFileSync(file, `${rest.slice(0, 40).join('\n')}\n`);
      await waitFor(() => ledger(p.sqlite).length === 2, 10_000, 'first append loaded');
      appendFileSync(file, rest.slice(40).join('\n'));
      await waitFor(() => ledger(p.sqlite).length === 3, 10_000, 'second append loaded');
      const segs = ledger(p.sqlite);
      expect(segs.map((s) => s.rows_in)).toEqual([120, 40, 40]);
      expect(segs[1]!.start_offset).toBe(Buffer.byteLength(first));
      // Idle for archive_after_ms: archived, and nothing was quarantined.
      await waitFor(() => listDir(p.archive).includes('events_grow.csv'), 10_000, 'archived once idle');
      expect(listDir(p.incoming).filter((n) => n.endsWith('.csv'))).toEqual([]);
      expect(listDir(p.quarantine)).toEqual([]);
    } finally {
      h.stop();
      await h.done;
    }
    const db = new Database(p.sqlite, { readonly: true });
    const n = (db.prepare('SELECT count(*) AS n FROM cleaned_events').get() as { n: number }).n;
    db.close();
    expect(n).toBe(200);
    const pq = await duckQuery(`SELECT count(*)::INTEGER AS n FROM read_parquet('${globOf(p.parts)}')`);
    expect(pq[0]!.n).toBe(200);
  }, 60_000);

  it('a loaded file that is rewritten shorter is loaded again without loading an event twice', async () => {
    const p = makeProject({ watch: { archive_after_ms: 2000 } });
    const h = await startWatch(p.config());
    try {
      const file = path.join(p.incoming, 'events_cut.csv');
      writeFileSync(file, eventsCsv(0, 150));
      await waitFor(() => ledger(p.sqlite).length === 1, 10_000, 'loaded');
      writeFileSync(file, eventsCsv(0, 90)); // truncated and rewritten in place
      await waitFor(() => ledger(p.sqlite).length === 2, 10_000, 'looked at again');
      await waitFor(() => listDir(p.archive).includes('events_cut.csv'), 10_000, 'archived once idle');
    } finally {
      h.stop();
      await h.done;
    }
    const db = new Database(p.sqlite, { readonly: true });
    const n = (db.prepare('SELECT count(*) AS n FROM cleaned_events').get() as { n: number }).n;
    const dup = (db.prepare('SELECT duplicates FROM batches ORDER BY seq DESC LIMIT 1').get() as { duplicates: number }).duplicates;
    db.close();
    expect(n).toBe(150);
    expect(dup).toBe(90);
  }, 60_000);
});
