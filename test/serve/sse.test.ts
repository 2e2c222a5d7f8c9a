// SSE resume: a raw HTTP client reads batch events, loses its connection mid-stream, and reconnects with
// Last-Event-ID while more batches commit (the real CLI, the real SQLite file): the union of what it received is
// every seq exactly once, in order, and each event describes the batch the ledger holds under that seq. Batches
// come from `medetl watch` running as a child process while the client is connected, away, and back.
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/serve/dashboard.js';
import { lockFileDaemonState } from '../../src/serve/daemon-state.js';
import { SqliteStore } from '../../src/stores/sqlite/store.js';
import type { LedgerReader } from '../../src/stores/ledger.js';
import { CLI, eventsCsv, makeProject, runCli, waitFor, type Child, type Project } from '../helpers/watch-project.js';
import { openSse, type SseEvent } from './helpers.js';

let p: Project;
let ledger: LedgerReader;
let dash: Dashboard;
let port: number;
let next = 0;
let watch: Child | null = null;

/** Drop n new files into incoming/ and wait until the running daemon has committed them (one batch each). */
async function commit(n: number): Promise<void> {
  for (let i = 0; i < n; i++, next++) p.drop(`events_2024_${String(next).padStart(3, '0')}.csv`, eventsCsv(next * 40, 40));
  await waitFor(() => sqliteBatches() === next, 20_000, `${next} batches`, 20);
}

function sqliteBatches(): number {
  if (!existsSync(p.sqlite)) return 0;
  const db = new Database(p.sqlite, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM batches').pluck().get() as number;
  } catch {
    return 0; // the daemon has created the file, not its tables yet
  } finally {
    db.close();
  }
}

const batches = (evs: SseEvent[]) => evs.filter((e) => e.event === 'batch');
const seqs = (evs: SseEvent[]) => batches(evs).map((e) => Number(e.id));

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  p = makeProject({ watch: { stable_ms: 50, rescan_ms: 500 } });
  watch = runCli(p, ['watch', '--quiet']);
  await commit(3);
  ledger = SqliteStore.openReader({ release: p.sqlite, private: path.join(p.root, '.medetl', 'private.sqlite') });
  dash = await startDashboard({
    ledger, daemonState: lockFileDaemonState(path.join(p.incoming, '.medetl.lock')), port: 0, pollMs: 100, heartbeatMs: 150,
  });
  port = Number(new URL(dash.url).port);
});

afterAll(async () => {
  if (watch && watch.proc.exitCode === null) {
    watch.proc.kill('SIGTERM');
    await watch.exit;
  }
  await dash?.close();
  await ledger?.close();
  p?.cleanup();
});

describe('dashboard live events', () => {
  it('resumes from Last-Event-ID after a dropped connection: every seq once, in order, nothing lost', async () => {
    // A: from the start; cut right after batch 4 arrives (whatever came with it is lost with the socket)
    const a = await openSse(port, '/api/events', { 'Last-Event-ID': '0' }, (ev) => ev.event === 'batch' && ev.id === '4');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(a.headers['cache-control']).toBe('no-store');
    await a.waitFor((evs) => seqs(evs).length === 3);
    await commit(2); // batches 4 and 5
    await a.waitFor((evs) => seqs(evs).includes(4));
    expect(seqs(a.events)).toEqual([1, 2, 3, 4]);

    await commit(2); // 6 and 7 while nobody listens
    const lastId = batches(a.events).at(-1)!.id!;
    const b = await openSse(port, '/api/events?after=1', { 'Last-Event-ID': lastId }); // the header wins over ?after
    await b.waitFor((evs) => seqs(evs).includes(7));
    await commit(1); // 8, live
    await b.waitFor((evs) => seqs(evs).includes(8));
    await new Promise((r) => setTimeout(r, 400)); // room for a duplicate to show up, if one were coming
    b.drop();

    const union = [...seqs(a.events), ...seqs(b.events)];
    expect(union).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // each event is the ledger's batch of that seq
    const db = new Database(p.sqlite, { readonly: true });
    const bySeq = new Map((db.prepare('SELECT rowid AS seq, batch_id, loaded FROM batches').all() as { seq: number; batch_id: string; loaded: number }[]).map((r) => [r.seq, r]));
    db.close();
    for (const e of [...batches(a.events), ...batches(b.events)]) {
      const d = JSON.parse(e.data);
      expect(d.seq).toBe(Number(e.id));
      expect(d.batchId).toBe(bySeq.get(d.seq)!.batch_id);
      expect(d.loaded).toBe(bySeq.get(d.seq)!.loaded);
      expect(Object.keys(d).sort()).toEqual(['batchId', 'clipped', 'committedAtMs', 'duplicates', 'file', 'flagged', 'loaded', 'rejected', 'rowsIn', 'seq']);
    }
    // state events are not numbered (they never move a client's Last-Event-ID); heartbeats are comments
    const states = [...a.events, ...b.events].filter((e) => e.event === 'state');
    expect(states.length).toBeGreaterThanOrEqual(2);
    for (const s of states) expect(s.id).toBeNull();
    expect(JSON.parse(states[0].data)).toMatchObject({ daemon: { running: true, pid: watch!.proc.pid }, ledger: 'ok' });
    expect(b.comments).toBeGreaterThan(0);
  });

  it('?after=N without Last-Event-ID; a fresh client with neither gets live batches only', async () => {
    const c = await openSse(port, '/api/events?after=6');
    const fresh = await openSse(port, '/api/events');
    await c.waitFor((evs) => seqs(evs).includes(8));
    await fresh.waitFor((evs) => evs.some((e) => e.event === 'state'));
    await commit(1); // 9
    await c.waitFor((evs) => seqs(evs).includes(9));
    await fresh.waitFor((evs) => seqs(evs).includes(9));
    c.drop();
    fresh.drop();
    expect(seqs(c.events)).toEqual([7, 8, 9]);
    expect(seqs(fresh.events)).toEqual([9]);
  });
});
