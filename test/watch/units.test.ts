// Unit tests of the daemon's parts: names, scan order, stability, queue, retry, console output.
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { backoffDelay, retry } from '../../src/core/retry.js';
import { batchJson, batchLine, createReporter } from '../../src/commands/console.js';
import { describeError } from '../../src/core/errors.js';
import { FileQueue } from '../../src/sources/folder/queue.js';
import { compileGlob, isTempName, nameFilter, scanIncoming } from '../../src/sources/folder/scan.js';
import { endsWithNewline, judge } from '../../src/sources/folder/stable.js';
import type { BatchResult } from '../../src/runner.js';
import { testDir } from '../helpers/test-dir.js';

const tmp = testDir('units');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('names', () => {
  it('matches * and ? only, everything else literally', () => {
    const re = compileGlob('events_*.csv', false);
    expect(re.test('events_1.csv')).toBe(true);
    expect(re.test('events_.csv')).toBe(true);
    expect(re.test('events_1.csv.tmp')).toBe(false);
    expect(re.test('xevents_1.csv')).toBe(false);
    expect(re.test('events_1Xcsv')).toBe(false); // the dot is literal
    expect(re.test('EVENTS_1.csv')).toBe(false);
    expect(compileGlob('EVENTS_*.csv', true).test('events_1.csv')).toBe(true);
    const q = compileGlob('e?.csv', false);
    expect(q.test('e1.csv')).toBe(true);
    expect(q.test('e12.csv')).toBe(false);
    expect(compileGlob('a[1](x)+.csv', false).test('a[1](x)+.csv')).toBe(true);
  });

  it('never accepts dotfiles and temp names, whatever the glob', () => {
    for (const n of ['.events_1.csv', 'events_1.csv.tmp', 'events_1.csv.part', 'events_1.csv.PART', 'events_1.csv~', 'events_1.csv.crdownload']) {
      expect(isTempName(n), n).toBe(true);
    }
    const accept = nameFilter('*');
    expect(accept('events_1.csv')).toBe(true);
    expect(accept('events_1.csv.tmp')).toBe(false);
    expect(accept('.medetl.lock')).toBe(false);
  });
});

describe('scanIncoming', () => {
  it('lists matching files oldest first (mtime, then name), without subfolders, up to a limit', async () => {
    const dir = path.join(tmp, 'scan');
    mkdirSync(path.join(dir, 'processed'), { recursive: true });
    const t = Date.now() / 1000;
    const files: [string, number][] = [['events_c.csv', t - 300], ['events_a.csv', t - 100], ['events_b.csv', t - 100], ['events_d.csv', t - 500]];
    for (const [n, m] of files) {
      writeFileSync(path.join(dir, n), 'x\n');
      utimesSync(path.join(dir, n), m, m);
    }
    writeFileSync(path.join(dir, 'events_e.csv.tmp'), 'x');
    writeFileSync(path.join(dir, 'notes.txt'), 'x');
    writeFileSync(path.join(dir, 'processed', 'events_0.csv'), 'x');
    const accept = nameFilter('events_*.csv');
    const all = await scanIncoming(dir, accept);
    expect(all.files.map((f) => f.name)).toEqual(['events_d.csv', 'events_c.csv', 'events_a.csv', 'events_b.csv']);
    expect(all.matched).toBe(4);
    const two = await scanIncoming(dir, accept, { limit: 2, skip: (f) => f.endsWith('events_d.csv') });
    expect(two.files.map((f) => f.name)).toEqual(['events_c.csv', 'events_a.csv']);
    expect(two.matched).toBe(4);
    expect((await scanIncoming(path.join(tmp, 'missing'), accept)).matched).toBe(0);
  });
});

describe('stability', () => {
  it('needs two looks stable_ms apart with the same size and mtime', () => {
    const first = judge(undefined, { size: 10, mtimeMs: 1 }, 1000, 500);
    expect(first).toMatchObject({ kind: 'settling', checkAt: 1500 });
    if (first.kind !== 'settling') throw new Error();
    expect(judge(first.state, { size: 10, mtimeMs: 1, endsWithNewline: true }, 1200, 500)).toMatchObject({ kind: 'settling', checkAt: 1500 });
    expect(judge(first.state, { size: 10, mtimeMs: 1, endsWithNewline: true }, 1500, 500)).toEqual({ kind: 'stable' });
    // grew: the clock starts again
    const grown = judge(first.state, { size: 20, mtimeMs: 2 }, 1500, 500);
    expect(grown).toMatchObject({ kind: 'settling', checkAt: 2000 });
    // same size, new mtime (rewritten in place): starts again too
    expect(judge(first.state, { size: 10, mtimeMs: 3 }, 1500, 500)).toMatchObject({ kind: 'settling', checkAt: 2000 });
  });

  it('waits four times as long for a file cut mid-line, or empty', () => {
    const first = judge(undefined, { size: 10, mtimeMs: 1 }, 0, 500);
    if (first.kind !== 'settling') throw new Error();
    expect(judge(first.state, { size: 10, mtimeMs: 1, endsWithNewline: false }, 600, 500)).toMatchObject({ kind: 'settling', checkAt: 2000 });
    expect(judge(first.state, { size: 10, mtimeMs: 1, endsWithNewline: false }, 2000, 500)).toEqual({ kind: 'stable' });
    const empty = judge(undefined, { size: 0, mtimeMs: 1 }, 0, 500);
    expect(empty).toMatchObject({ kind: 'settling', checkAt: 2000 });
  });

  it('reads the last byte', async () => {
    const f = path.join(tmp, 'tail.csv');
    writeFileSync(f, 'a,b\n1,2\n');
    expect(await endsWithNewline(f, 8)).toBe(true);
    writeFileSync(f, 'a,b\n1,');
    expect(await endsWithNewline(f, 6)).toBe(false);
    expect(await endsWithNewline(f, 0)).toBe(false);
  });
});

describe('FileQueue', () => {
  const stable = { kind: 'stable' } as const;
  const seed = (q: FileQueue, file: string, mtimeMs: number) => {
    q.offer(file, path.basename(file), 0);
    q.apply(file, judge(undefined, { size: 1, mtimeMs }, 0, 0));
    q.apply(file, stable);
  };

  it('dedupes, bounds, and hands out the oldest ready file first', () => {
    const q = new FileQueue(3);
    seed(q, '/in/events_b.csv', 200);
    seed(q, '/in/events_a.csv', 200);
    seed(q, '/in/events_c.csv', 100);
    expect(q.offer('/in/events_a.csv', 'events_a.csv', 0)).toBe(true); // already there: looked at again
    expect(q.size).toBe(3);
    expect(q.offer('/in/events_d.csv', 'events_d.csv', 0)).toBe(false);
    expect(q.overflowed).toBe(true);
    expect(q.takeReady()?.name).toBe('events_c.csv');
    // events_a is settling again after the repeated offer; events_b is next
    expect(q.takeReady()?.name).toBe('events_b.csv');
    expect(q.takeReady()).toBeUndefined();
    expect(q.due(0).map((e) => e.name)).toEqual(['events_a.csv']);
    q.apply('/in/events_a.csv', stable);
    expect(q.takeReady()?.name).toBe('events_a.csv');
    expect(q.size).toBe(0);
  });

  it('knows when the next look is due', () => {
    const q = new FileQueue(10);
    expect(q.nextCheckAt()).toBeUndefined();
    q.offer('/in/x.csv', 'x.csv', 50);
    q.apply('/in/x.csv', judge(undefined, { size: 1, mtimeMs: 1 }, 50, 500));
    expect(q.nextCheckAt()).toBe(550);
    expect(q.due(100)).toEqual([]);
    expect(q.due(550)).toHaveLength(1);
  });
});

describe('retry', () => {
  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(1, 100, 10_000, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, 10_000, () => 0.999)).toBe(100);
    expect(backoffDelay(4, 100, 10_000, () => 0)).toBe(400);
    expect(backoffDelay(30, 100, 10_000, () => 1)).toBe(10_000);
  });

  it('retries what is retryable, up to the attempts, and nothing else', async () => {
    let n = 0;
    const seen: number[] = [];
    const v = await retry(
      async () => {
        n++;
        if (n < 3) throw Object.assign(new Error('busy'), { transient: true });
        return 'ok';
      },
      { attempts: 5, baseMs: 1, onRetry: (_e, attempt) => seen.push(attempt) },
    );
    expect(v).toBe('ok');
    expect(seen).toEqual([1, 2]);

    n = 0;
    await expect(retry(async () => (n++, Promise.reject(new Error('always'))), { attempts: 3, baseMs: 1 })).rejects.toThrow('always');
    expect(n).toBe(3);

    n = 0;
    await expect(
      retry(async () => (n++, Promise.reject(new Error('permanent'))), { attempts: 5, baseMs: 1, retryable: () => false }),
    ).rejects.toThrow('permanent');
    expect(n).toBe(1);
  });

  it('stops waiting when aborted', async () => {
    const ctl = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ctl.abort(), 50);
    await expect(retry(() => Promise.reject(new Error('x')), { attempts: 5, baseMs: 10_000, signal: ctl.signal })).rejects.toThrow('x');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('console', () => {
  const r: BatchResult = {
    file: 'events_7.csv', status: 'loaded', batchId: 'b1', rowsIn: 1200, loaded: 1190, rejected: 10,
    rejectedByReason: { invalid_event_ts: 10 }, duplicates: 0, flagged: 3, clipped: 1, ms: 87.4,
  };

  it('prints one line per batch, and JSON for scripts', () => {
    expect(batchLine(r)).toMatch(/^loaded +events_7\.csv +rows 1,200 +loaded 1,190 +rejected 10 +flagged 3 +duplicates 0 +87 ms$/);
    const j = JSON.parse(batchJson(r));
    expect(j).toMatchObject({ type: 'batch', file: 'events_7.csv', status: 'loaded', rowsIn: 1200, loaded: 1190, ms: 87 });
  });

  function capture(isTTY: boolean) {
    const out = Object.assign(new PassThrough(), { isTTY, columns: 80 });
    const err = Object.assign(new PassThrough(), { isTTY, columns: 120 });
    let o = '';
    let e = '';
    out.on('data', (d) => (o += d));
    err.on('data', (d) => (e += d));
    return { streams: { out, err }, out: () => o, err: () => e };
  }

  it('quiet prints errors only; json prints only JSON on stdout', () => {
    const c = capture(false);
    const q = createReporter('quiet', c.streams);
    q.info('watching');
    q.batch(r);
    q.batch({ ...r, status: 'quarantined', reason: { code: 'missing_columns', message: 'x' } });
    q.failed({ file: '/in/events_9.csv', code: 'EBUSY', attempts: 6 });
    expect(c.out()).toBe('');
    expect(c.err()).toMatch(/quarantined +events_7\.csv.*reason missing_columns/);
    expect(c.err()).toMatch(/failed +events_9\.csv +reason EBUSY after 6 attempts/);
    expect(c.err()).not.toMatch(/watching|^loaded/m);

    const c2 = capture(false);
    const j = createReporter('json', c2.streams);
    j.info('watching');
    j.batch(r);
    j.failed({ file: '/in/events_9.csv', code: 'EBUSY', attempts: 6 });
    j.summary({ files: 1 }, 'done');
    const lines = c2.out().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => `${l.type}:${l.status ?? ''}`)).toEqual(['batch:loaded', 'batch:failed', 'summary:']);
    expect(c2.err()).toBe('');
  });

  it('shows a progress bar on stderr only on a TTY, cleared before the batch line', () => {
    const tty = capture(true);
    const h = createReporter('human', tty.streams);
    h.progress('/in/events_2024_01.csv', 5000, 50, 100, 1000);
    h.batch(r);
    expect(tty.err()).toMatch(/events_2024_01\.csv \[=+ +\] 50% \| 0 KB\/0 KB {2}5,000 rows \| [\d,]+ rows\/s \| ETA/);
    expect(tty.err()).toMatch(/\x1b\[2K/); // cleared
    expect(tty.out()).toMatch(/^loaded/);
    // not yet 300 ms into the batch: no bar (no flash on small files)
    const early = capture(true);
    createReporter('human', early.streams).progress('/in/events_small.csv', 10, 50, 100, 100);
    expect(early.err()).toBe('');
    // a pipe, or json/quiet mode on a TTY: nothing
    const pipe = capture(false);
    const h2 = createReporter('human', pipe.streams);
    h2.progress('/in/events_big.csv', 5000, 50, 100, 1000);
    h2.batch(r);
    expect(pipe.out()).toMatch(/^loaded/);
    expect(pipe.err()).toBe('');
    for (const mode of ['json', 'quiet'] as const) {
      const c = capture(true);
      createReporter(mode, c.streams).progress('/in/events_big.csv', 5000, 50, 100, 1000);
      expect(c.err()).toBe('');
    }
    // quiet with the bar asked for (what `process` does): the bar, and no batch line
    const q = capture(true);
    const hq = createReporter('quiet', q.streams, { progress: true });
    hq.progress('/in/events_2024_02.csv', 5000, 50, 100, 1000);
    hq.clearProgress();
    expect(q.err()).toMatch(/events_2024_02\.csv \[.*50%/);
  });

  it('describes errors without their message', () => {
    const e = new Error('bad value 1984-02-03 for pt-00042');
    const d = describeError(e);
    expect(d).toMatch(/^Error at /);
    expect(d).not.toMatch(/1984|pt-000/);
    expect(describeError(Object.assign(new Error('x'), { code: 'ENOSPC' }))).toMatch(/^Error ENOSPC/);
  });
});
