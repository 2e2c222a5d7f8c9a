// Files larger than batch.max_rows load as consecutive batches (segments), each exactly once: the built CLI on real
// files, the ledger and rows read back from the SQLite file, the Parquet parts read back by DuckDB. A file that grew
// loads only what was appended; a file rewritten before its end loads again with its old events as duplicates; a
// process SIGKILLed between segments resumes after the last committed one.
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { duckQuery, globOf } from '../helpers/duck.js';
import { CLI, cleanEnv, eventsCsv, makeProject, plausibleRows, type Project } from '../helpers/project.js';

function query<T>(p: Project, sql: string): T[] {
  const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}
type Seg = { start_offset: number; end_offset: number; rows_in: number; loaded: number; duplicates: number };
const ledger = (p: Project) => query<Seg>(p, 'SELECT start_offset, end_offset, rows_in, loaded, duplicates FROM batches ORDER BY seq');
const released = (p: Project) =>
  query<Record<string, unknown>>(p, 'SELECT patient_key, age_years, zip3, systolic_bp, diastolic_bp, heart_rate FROM cleaned_events')
    .map((r) => JSON.stringify(r))
    .sort();

describe('batch.max_rows: a big file as several batches', () => {
  it('loads 1,000 rows as 4 batches of at most 250, contiguous, with the same rows as one batch', async () => {
    const csv = eventsCsv(plausibleRows(1000, { patients: 40 }));
    const one = makeProject();
    const four = makeProject('batch:\n  max_rows: 250\n');
    for (const p of [one, four]) {
      writeFileSync(p.file('events_big.csv'), csv);
      const r = p.run(['process', 'events_big.csv', '--json']);
      expect(r.status, r.stderr).toBe(0);
    }
    const segs = ledger(four);
    expect(segs.map((s) => s.rows_in)).toEqual([250, 250, 250, 250]);
    expect(segs[0]!.start_offset).toBe(0);
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.start_offset).toBe(segs[i - 1]!.end_offset);
    expect(segs.at(-1)!.end_offset).toBe(Buffer.byteLength(csv));
    expect(ledger(one)).toHaveLength(1);
    expect(released(four)).toEqual(released(one));
    const pq = await duckQuery(`SELECT count(*)::INTEGER AS n, count(DISTINCT batch_id)::INTEGER AS b FROM read_parquet('${globOf(four.file('masked_out/parts'))}')`);
    expect(pq[0]).toEqual({ n: 1000, b: 4 });
    // A second run of the same file: every segment is found committed.
    writeFileSync(four.file('events_again.csv'), csv);
    const again = four.run(['process', 'events_again.csv', '--json']);
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout.trim().split('\n')[0]!)).toMatchObject({ status: 'skipped_duplicate' });
    expect(ledger(four)).toHaveLength(4);
  });

  it('a file that grew loads only the appended lines; one rewritten before its end loads again, its old events as duplicates', () => {
    const p = makeProject();
    const rows = plausibleRows(900, { patients: 30 });
    const first = eventsCsv(rows.slice(0, 600));
    writeFileSync(p.file('events_grow.csv'), first);
    expect(p.run(['process', 'events_grow.csv']).status).toBe(0);
    // The producer wrote 300 more lines to the same file.
    appendFileSync(p.file('events_grow.csv'), eventsCsv(rows.slice(600)).split('\n').slice(1).join('\n'));
    const grown = p.run(['process', 'events_grow.csv', '--json']);
    expect(grown.status, grown.stderr).toBe(0);
    expect(JSON.parse(grown.stdout.trim())).toMatchObject({ status: 'loaded', rowsIn: 300, loaded: 300, duplicates: 0, resumedAt: Buffer.byteLength(first) });
    expect(ledger(p).map((s) => [s.start_offset, s.rows_in])).toEqual([[0, 600], [Buffer.byteLength(first), 300]]);
    expect(query<{ n: number }>(p, 'SELECT count(*) AS n FROM cleaned_events')[0]!.n).toBe(900);

    // Rewritten: one row past the file's first bytes changed (same length), the rest as before plus 100 more.
    const more = plausibleRows(100, { patients: 30, seed: 99, startMs: Date.UTC(2024, 0, 1) });
    const changed = [...rows.slice(0, 300), { ...rows[300]!, heart_rate: '99.5' }, ...rows.slice(301), ...more];
    writeFileSync(p.file('events_grow.csv'), eventsCsv(changed));
    const re = p.run(['process', 'events_grow.csv', '--json']);
    expect(re.status, re.stderr).toBe(0);
    expect(JSON.parse(re.stdout.trim())).toMatchObject({ status: 'loaded', rowsIn: 1000, loaded: 101, duplicates: 899 });
    expect(query<{ n: number }>(p, 'SELECT count(*) AS n FROM cleaned_events')[0]!.n).toBe(1001);
    const log = readFileSync(path.join(p.dir, 'logs', 'pipeline.log'), 'utf8');
    expect(log).toContain('"event":"file_rewritten"');
  });

  it('a process SIGKILLed between segments resumes after the last committed one: every row once, no partial batch', async () => {
    const p = makeProject('batch:\n  max_rows: 2000\n');
    const n = 40_000;
    writeFileSync(p.file('events_kill.csv'), eventsCsv(plausibleRows(n, { patients: 200 })));
    const size = statSync(p.file('events_kill.csv')).size;
    const child = spawn(process.execPath, [CLI, 'process', 'events_kill.csv'], { cwd: p.dir, env: cleanEnv(), stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    // Kill once a few segments are committed and before the last.
    const deadline = Date.now() + 60_000;
    let committed = 0;
    while (Date.now() < deadline) {
      try {
        committed = query<{ n: number }>(p, 'SELECT count(*) AS n FROM batches')[0]!.n;
      } catch {
        // the store is not made yet
      }
      if (committed >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    const before = ledger(p).length;
    expect(before).toBeGreaterThanOrEqual(3);
    expect(before).toBeLessThan(20);
    const r = p.run(['process', 'events_kill.csv', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.resumedAt).toBeGreaterThan(0);
    expect(out.rowsIn).toBe(n - before * 2000);
    const segs = ledger(p);
    expect(segs).toHaveLength(20);
    for (let i = 1; i < segs.length; i++) expect(segs[i]!.start_offset).toBe(segs[i - 1]!.end_offset);
    expect(segs.at(-1)!.end_offset).toBe(size);
    expect(segs.reduce((a, s) => a + s.rows_in, 0)).toBe(n);
    expect(query<{ n: number }>(p, 'SELECT count(*) AS n FROM cleaned_events')[0]!.n).toBe(n);
    const pq = await duckQuery(`SELECT count(*)::INTEGER AS n FROM read_parquet('${globOf(p.file('masked_out/parts'))}')`);
    expect(pq[0]!.n).toBe(n);
  }, 120_000);
});
