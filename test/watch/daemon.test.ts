// The daemon in-process with real chokidar and real files, and a stand-in pipeline that can fail on demand
// (transient errors, crashes, slow batches), which the real pipeline cannot be made to do at will.
import { existsSync, promises as fs, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertMessage, AlertTransport } from '../../src/ops/alerts.js';
import { silentLogger } from '../../src/ops/log.js';
import type { BatchResult, ProcessOptions, RunContext } from '../../src/pipeline/run.js';
import { runDaemon, startDaemon, type Pipeline } from '../../src/watch/daemon.js';
import { eventsCsv, incomingFiles, listDir, makeProject, waitFor, type Project } from '../helpers/watch-project.js';

const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

type Behaviour = (file: string, opts: ProcessOptions, attempt: number) => Promise<BatchResult | void> | BatchResult | void;

/** A pipeline that counts lines, archives the file, and lets a test decide per file name what goes wrong. */
function fakePipeline(p: Project, behaviours: Record<string, Behaviour> = {}) {
  const calls: string[] = [];
  const quarantined: { file: string; code: string; message: string }[] = [];
  const attempts = new Map<string, number>();
  const pipeline: Pipeline = {
    openContext: (config) => ({ config, log: silentLogger() }) as unknown as RunContext,
    closeContext: () => undefined,
    async processFile(file, _ctx, opts) {
      const name = path.basename(file);
      const attempt = (attempts.get(name) ?? 0) + 1;
      attempts.set(name, attempt);
      calls.push(name);
      const custom = await behaviours[name]?.(file, opts, attempt);
      if (custom) return custom;
      const rows = readFileSync(file, 'utf8').trim().split('\n').length - 1;
      const dest = path.join(p.archive, name);
      await fs.mkdir(p.archive, { recursive: true });
      await fs.rename(file, dest);
      return { file: name, status: 'loaded', batchId: `b-${name}`, rowsIn: rows, loaded: rows, rejected: 0, rejectedByReason: {}, duplicates: 0, flagged: 0, clipped: 0, ms: 1, movedTo: dest };
    },
    async quarantineFile(file, config, reason) {
      quarantined.push({ file: path.basename(file), code: reason.code, message: reason.message });
      const dest = path.join(config.resolved.quarantine, path.basename(file));
      await fs.mkdir(config.resolved.quarantine, { recursive: true });
      await fs.rename(file, dest);
      return dest;
    },
  };
  return { pipeline, calls, quarantined, attempts };
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

describe('daemon (stand-in pipeline)', () => {
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
    const f = fakePipeline(p);
    const s = await runDaemon(p.config(), { drain: true, pipeline: f.pipeline });
    expect(f.calls).toEqual(names);
    expect(s).toMatchObject({ stoppedBy: 'drained', files: 30, loaded: 30, rowsIn: 60, failed: 0 });
    expect(incomingFiles(p)).toEqual([]);
  });

  it('retries a transient error with backoff, then loads', async () => {
    const p = project();
    p.drop('events_1.csv', eventsCsv(0, 3));
    const f = fakePipeline(p, {
      'events_1.csv': (_f, _o, attempt) => {
        if (attempt < 3) throw transient();
      },
    });
    const s = await runDaemon(p.config(), { drain: true, pipeline: f.pipeline, retryBaseMs: 10 });
    expect(f.calls).toEqual(['events_1.csv', 'events_1.csv', 'events_1.csv']);
    expect(s).toMatchObject({ loaded: 1, failed: 0 });
  });

  it('leaves a file that keeps failing transiently in incoming/, alerts, and goes on with the others', async () => {
    const p = project();
    p.drop('events_1.csv', eventsCsv(0, 3));
    p.drop('events_2.csv', eventsCsv(3, 3));
    const f = fakePipeline(p, {
      'events_1.csv': () => {
        throw transient('EBUSY');
      },
    });
    const alerts = recorder();
    const cfg = p.config();
    cfg.alerts.enabled = true;
    const s = await runDaemon(cfg, { drain: true, pipeline: f.pipeline, retryAttempts: 3, retryBaseMs: 5, alertTransports: [alerts] });
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
    const f = fakePipeline(p, {
      'events_2.csv': () => {
        throw new TypeError('cannot parse pt-00042 born 1961-04-03');
      },
    });
    const alerts = recorder();
    const results: BatchResult[] = [];
    const cfg = p.config();
    cfg.alerts.enabled = true;
    const s = await runDaemon(cfg, { drain: true, pipeline: f.pipeline, alertTransports: [alerts], onBatch: (r) => results.push(r) });
    expect(s).toMatchObject({ files: 3, loaded: 2, quarantined: 1 });
    expect(f.quarantined).toHaveLength(1);
    expect(f.quarantined[0]).toMatchObject({ file: 'events_2.csv', code: 'internal_error' });
    expect(f.quarantined[0].message).toMatch(/^TypeError at /);
    expect(f.quarantined[0].message).not.toMatch(/pt-000|1961/);
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
    const slow: Behaviour = (_file, opts) =>
      new Promise((resolve, reject) => {
        entered();
        const t = setTimeout(resolve, 400);
        opts.signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        });
      });
    // graceful: the batch finishes (and is archived); the second file is not started
    const f = fakePipeline(p, { 'events_1.csv': slow });
    const h = await startDaemon(p.config(), { pipeline: f.pipeline });
    await inBatch;
    h.stop();
    const s = await h.done;
    expect(s).toMatchObject({ stoppedBy: 'stopped', loaded: 1, rolledBack: 0 });
    expect(f.calls).toEqual(['events_1.csv']);
    expect(incomingFiles(p)).toEqual(['events_2.csv']);
    expect(existsSync(p.config().resolved.lock)).toBe(false);

    // forced: rolled back, the file stays in incoming/
    const again = new Promise<void>((r) => (entered = r));
    const f2 = fakePipeline(p, { 'events_2.csv': slow });
    const h2 = await startDaemon(p.config(), { pipeline: f2.pipeline });
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
    const f = fakePipeline(p, {
      'events_1.csv': (_file, opts) =>
        new Promise((_resolve, reject) => {
          entered();
          opts.signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
        }),
    });
    const ctl = new AbortController();
    const done = runDaemon(p.config(), { pipeline: f.pipeline, signal: ctl.signal });
    await inBatch;
    const t0 = Date.now();
    ctl.abort();
    expect(await done).toMatchObject({ stoppedBy: 'stopped', rolledBack: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(incomingFiles(p)).toEqual(['events_1.csv']);
  });

  it('picks up files that arrive while it runs, and holds back an in-place write cut mid-line', async () => {
    const p = project({ stable_ms: 100 });
    const f = fakePipeline(p);
    const h = await startDaemon(p.config(), { pipeline: f.pipeline });
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
    const f = fakePipeline(p, { 'events_0.csv': () => new Promise((r) => setTimeout(r, 200)).then(() => undefined) });
    const h = await startDaemon(p.config(), { pipeline: f.pipeline });
    for (let i = 0; i < 6; i++) p.drop(`events_${i}.csv`, eventsCsv(i, 1));
    await waitFor(() => incomingFiles(p).length === 0, 10_000, 'all six');
    h.stop();
    expect((await h.done).files).toBe(6);
    expect([...f.calls].sort()).toEqual(['events_0.csv', 'events_1.csv', 'events_2.csv', 'events_3.csv', 'events_4.csv', 'events_5.csv']);
  });
});
