// The watch loop in-process with real chokidar, real files, a real store and lock, and a stand-in runner that can
// fail on demand (transient errors, crashes, slow batches), which the real runner cannot be made to do at will.
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchRunner } from '../../src/drive.js';
import type { AlertMessage, AlertTransport } from '../../src/ops/alerts.js';
import { runWatch, startWatch } from '../../src/run.js';
import type { BatchResult, RunOptions } from '../../src/runner.js';
import type { Delivery } from '../../src/sources/source.js';
import { eventsCsv, incomingFiles, listDir, makeProject, waitFor, type Project } from '../helpers/watch-project.js';

const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

type Behaviour = (d: Delivery, opts: RunOptions, attempt: number) => Promise<BatchResult | void> | BatchResult | void;

/**
 * A runner that counts lines and settles the delivery through the real folder source (archive), and lets a test
 * decide per file name what goes wrong. The source, the store and the lock stay real.
 */
function fakeRunner(behaviours: Record<string, Behaviour> = {}) {
  const calls: string[] = [];
  const attempts = new Map<string, number>();
  const runner: BatchRunner = {
    async run(d, opts = {}) {
      const attempt = (attempts.get(d.name) ?? 0) + 1;
      attempts.set(d.name, attempt);
      calls.push(d.name);
      const custom = await behaviours[d.name]?.(d, opts, attempt);
      if (custom) return custom;
      const rows = readFileSync(d.path, 'utf8').trim().split('\n').length - 1;
      const movedTo = await d.done();
      return { file: d.name, status: 'loaded', batchId: `b-${d.name}`, rowsIn: rows, loaded: rows, rejected: 0, rejectedByReason: {}, duplicates: 0, flagged: 0, clipped: 0, ms: 1, movedTo };
    },
  };
  return { runner: () => runner, calls, attempts };
}

/** The reason files in quarantine/, parsed. */
function reasons(p: Project): { file: string; reason: string; message: string }[] {
  return listDir(p.quarantine)
    .filter((n) => n.endsWith('.reason.json'))
    .map((n) => JSON.parse(readFileSync(path.join(p.quarantine, n), 'utf8')));
}

function project(watch: Record<string, unknown> = {}): Project {
  const p = makeProject({ watch: { stable_ms: 50, rescan_ms: 200, ...watch } });
  projects.push(p);
  return p;
}

const transient = (code = 'SQLITE_BUSY') => Object.assign(new Error('database is locked'), { code, transient: true });

function recorder(): AlertTransport & { messages: AlertMessage[] } {
  const messages: AlertMessage[] = [];
  return { name: 'test', messages, send: async (m) => void messages.push(m) };
}

describe('watch loop (stand-in runner; real source, store and lock)', () => {
  it('drains a backlog larger than the queue, oldest first, refilling from disk', async () => {
    const p = project({ queue_limit: 4 });
    const t = Date.now() / 1000 - 1000;
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const name = `events_${String(29 - i).padStart(2, '0')}.csv`; // names run against age
      p.drop(name, eventsCsv(i * 2, 2));
      utimesSync(path.join(p.incoming, name), t + i, t + i);
      names.push(name);
    }
    const f = fakeRunner();
    const s = await runWatch(p.config(), { drain: true, runner: f.runner });
    expect(f.calls).toEqual(names);
    expect(s).toMatchObject({ stoppedBy: 'drained', files: 30, loaded: 30, rowsIn: 60, failed: 0 });
    expect(incomingFiles(p)).toEqual([]);
  });

  it('retries a transient error with backoff, then loads', async () => {
    const p = project();
    p.drop('events_1.csv', eventsCsv(0, 3));
    const f = fakeRunner({
      'events_1.csv': (_d, _o, attempt) => {
        if (attempt < 3) throw transient();
      },
    });
    const s = await runWatch(p.config(), { drain: true, runner: f.runner, retryBaseMs: 10 });
    expect(f.calls).toEqual(['events_1.csv', 'events_1.csv', 'events_1.csv']);
    expect(s).toMatchObject({ loaded: 1, failed: 0 });
  });

  it('leaves a file that keeps failing transiently in incoming/, alerts, and goes on with the others', async () => {
    const p = project();
    p.drop('events_1.csv', eventsCsv(0, 3));
    p.drop('events_2.csv', eventsCsv(3, 3));
    const f = fakeRunner({
      'events_1.csv': () => {
        throw transient('EBUSY');
      },
    });
    const alerts = recorder();
    const cfg = p.config();
    cfg.alerts.enabled = true;
    const s = await runWatch(cfg, { drain: true, runner: f.runner, retryAttempts: 3, retryBaseMs: 5, alertTransports: [alerts] });
    expect(f.attempts.get('events_1.csv')).toBe(3);
    expect(s).toMatchObject({ loaded: 1, failed: 1, stoppedBy: 'drained' });
    expect(incomingFiles(p)).toEqual(['events_1.csv']);
    expect(alerts.messages.map((m) => m.subject)).toEqual([expect.stringContaining('file failed: events_1.csv (EBUSY)')]);
  });

  it('quarantines a file the pipeline crashed on (internal_error, no error text) and keeps going', async () => {
    const p = project();
    p.drop('events_1.csv', eventsCsv(0, 3));
    p.drop('events_2.csv', eventsCsv(3, 3));
    p.drop('events_3.csv', eventsCsv(6, 3));
    const f = fakeRunner({
      'events_2.csv': () => {
        throw new TypeError('cannot parse pt-00042 born 1961-04-03');
      },
    });
    const alerts = recorder();
    const results: BatchResult[] = [];
    const cfg = p.config();
    cfg.alerts.enabled = true;
    const s = await runWatch(cfg, { drain: true, runner: f.runner, alertTransports: [alerts], onBatch: (r) => results.push(r) });
    expect(s).toMatchObject({ files: 3, loaded: 2, quarantined: 1 });
    const q = reasons(p);
    expect(q).toHaveLength(1);
    expect(q[0]).toMatchObject({ file: 'events_2.csv', reason: 'internal_error' });
    expect(q[0].message).toMatch(/^TypeError at /);
    expect(q[0].message).not.toMatch(/pt-000|1961/);
    expect(results.map((r) => `${r.file}:${r.status}`)).toEqual(['events_1.csv:loaded', 'events_2.csv:quarantined', 'events_3.csv:loaded']);
    expect(alerts.messages).toHaveLength(1);
    expect(alerts.messages[0].text).toContain('reason: internal_error');
    expect(alerts.messages[0].text).not.toMatch(/pt-000|1961/);
  });

  it('on stop lets the batch in flight finish; stop({force}) rolls it back and the file stays', async () => {
    const p = project();
    p.drop('events_1.csv', eventsCsv(0, 3));
    p.drop('events_2.csv', eventsCsv(3, 3));
    let entered!: () => void;
    const inBatch = new Promise<void>((r) => (entered = r));
    const slow: Behaviour = (_d, opts) =>
      new Promise((resolve, reject) => {
        entered();
        const t = setTimeout(resolve, 400);
        opts.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        });
      });
    // graceful: the batch finishes (and is archived); the second file is not started
    const f = fakeRunner({ 'events_1.csv': slow });
    const h = await startWatch(p.config(), { runner: f.runner });
    await inBatch;
    h.stop();
    const s = await h.done;
    expect(s).toMatchObject({ stoppedBy: 'stopped', loaded: 1, rolledBack: 0 });
    expect(f.calls).toEqual(['events_1.csv']);
    expect(incomingFiles(p)).toEqual(['events_2.csv']);
    expect(existsSync(p.config().resolved.lock)).toBe(false);

    // forced: rolled back, the file stays in incoming/
    const again = new Promise<void>((r) => (entered = r));
    const f2 = fakeRunner({ 'events_2.csv': slow });
    const h2 = await startWatch(p.config(), { runner: f2.runner });
    await again;
    h2.stop({ force: true });
    expect(await h2.done).toMatchObject({ rolledBack: 1, loaded: 0 });
    expect(incomingFiles(p)).toEqual(['events_2.csv']);
  });

  it('rolls the batch back when the stop grace period runs out; an AbortSignal stops it too', async () => {
    const p = project({ stop_grace_ms: 100 });
    p.drop('events_1.csv', eventsCsv(0, 3));
    let entered!: () => void;
    const inBatch = new Promise<void>((r) => (entered = r));
    const f = fakeRunner({
      'events_1.csv': (_d, opts) =>
        new Promise((_resolve, reject) => {
          entered();
          opts.signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
        }),
    });
    const ctl = new AbortController();
    const done = runWatch(p.config(), { runner: f.runner, signal: ctl.signal });
    await inBatch;
    const t0 = Date.now();
    ctl.abort();
    expect(await done).toMatchObject({ stoppedBy: 'stopped', rolledBack: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(incomingFiles(p)).toEqual(['events_1.csv']);
  });

  it('picks up files that arrive while it runs, and holds back an in-place write cut mid-line', async () => {
    const p = project({ stable_ms: 100 });
    const f = fakeRunner();
    const h = await startWatch(p.config(), { runner: f.runner });
    p.drop('events_a.csv', eventsCsv(0, 2));
    await waitFor(() => f.calls.includes('events_a.csv'), 5_000, 'watcher pickup');
    // paused longer than stable_ms, but cut mid-line: it must hold still 4 x stable_ms
    const file = path.join(p.incoming, 'events_b.csv');
    const body = eventsCsv(2, 4);
    writeFileSync(file, body.slice(0, 60));
    await new Promise((r) => setTimeout(r, 250));
    expect(f.calls).not.toContain('events_b.csv');
    writeFileSync(file, body);
    await waitFor(() => f.calls.includes('events_b.csv'), 5_000, 'in-place pickup');
    h.stop();
    const s = await h.done;
    expect(s.rowsIn).toBe(6);
    expect(listDir(p.archive)).toEqual(['events_a.csv', 'events_b.csv']);
  });

  it('with a full queue, leaves the rest on disk and fetches it as room frees up', async () => {
    const p = project({ queue_limit: 1 });
    const f = fakeRunner({ 'events_0.csv': () => new Promise((r) => setTimeout(r, 200)).then(() => undefined) });
    const h = await startWatch(p.config(), { runner: f.runner });
    for (let i = 0; i < 6; i++) p.drop(`events_${i}.csv`, eventsCsv(i, 1));
    await waitFor(() => incomingFiles(p).length === 0, 10_000, 'all six');
    h.stop();
    expect((await h.done).files).toBe(6);
    expect([...f.calls].sort()).toEqual(['events_0.csv', 'events_1.csv', 'events_2.csv', 'events_3.csv', 'events_4.csv', 'events_5.csv']);
  });
});
