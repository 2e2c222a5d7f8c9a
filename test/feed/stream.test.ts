// The feed follows one population over time and continues where the last run stopped (synthea_stream/stream.json).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { generateBatches } from '../../src/commands/generate.js';
import { followPopulation, generateSynthea, type GeneratorOptions } from '../../src/feed/generator.js';
import { describePlan, planBatch, readStream, type StreamState } from '../../src/feed/stream.js';
import { makeProject } from '../helpers/project.js';

const DAY = 86_400_000;
const NOW = '2026-11-22T08:15:00Z';
const created: string[] = [];
afterAll(() => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

function project(generate: Record<string, unknown> = {}, now = NOW): Config {
  const root = mkdtempSync(path.join(tmpdir(), 'medetl-stream-'));
  created.push(root);
  return parseConfig({ generate: { patients: 60, ...generate } }, root, null, { MEDETL_NOW: now });
}
type Row = Record<string, string>;
const csvRows = (file: string): Row[] => parse(readFileSync(file, 'utf8'), { columns: true }) as Row[];
const events = (runDir: string) => csvRows(path.join(runDir, 'events.clean.csv'));
const batchJson = (runDir: string) => JSON.parse(readFileSync(path.join(runDir, 'batch.json'), 'utf8'));

describe('planBatch', () => {
  const pop = { patients: 50, state: 'Massachusetts', city: null, min_age: 0, max_age: 100, years_of_history: 5 };
  const g = { days_per_batch: 30, start_days_ago: 365 };
  const now = Date.parse(NOW);
  const want = { engine: 'builtin' as const, population: pop, defaultSeed: 42 };
  const state = (over: Partial<StreamState> = {}): StreamState => ({
    version: 1, engine: 'builtin', population: { ...pop, seed: 42 }, reference_time: '2025-11-22T08:15:00.000Z',
    clock: '2026-01-21T08:15:00.000Z', batches: 3, next_seed: 45, ...over,
  });

  it('a new stream starts start_days_ago before the clock; a known one continues with the next seed and window', () => {
    const first = planBatch(null, want, now, g);
    expect(first).toMatchObject({ continuing: false, batch: 1, seed: 42, populationSeed: 42, window: null, referenceMs: now - 365 * DAY });
    expect(describePlan(first)).toBe('starting a new stream at batch 1 (seed 42)');
    const next = planBatch(state(), want, now, g);
    const clock = Date.parse('2026-01-21T08:15:00Z');
    expect(next).toMatchObject({ continuing: true, batch: 4, seed: 45, populationSeed: 42, window: { fromMs: clock, toMs: clock + 30 * DAY } });
    expect(describePlan(next)).toBe('continuing from batch 4 (seed 45)');
    // The stream never runs ahead of the clock: a caught-up stream moves in real time.
    expect(planBatch(state({ clock: '2026-11-10T08:15:00.000Z' }), want, now, g).window).toEqual({ fromMs: Date.parse('2026-11-10T08:15:00Z'), toMs: now });
  });

  it('other options or another --seed start a new stream, at the next unused seed unless one is given', () => {
    const p = planBatch(state(), { ...want, population: { ...pop, patients: 80 } }, now, g);
    expect(p).toMatchObject({ continuing: false, seed: 45, batch: 1 });
    expect(describePlan(p)).toBe('starting a new stream at batch 1 (seed 45): patients 50 -> 80');
    expect(planBatch(state(), { ...want, seed: 7 }, now, g)).toMatchObject({ continuing: false, seed: 7, reason: '--seed 7 (the stream was at seed 45)' });
    expect(planBatch(state(), { ...want, seed: 45 }, now, g)).toMatchObject({ continuing: true, seed: 45 });
    expect(planBatch(state(), { ...want, engine: 'synthea' }, now, g)).toMatchObject({ continuing: false, reason: 'engine builtin -> synthea' });
  });
});

describe('the built-in generator follows one population', () => {
  const opts: GeneratorOptions = {
    patients: 150, seed: 9, state: 'Massachusetts', city: null, minAge: 0, maxAge: 100, yearsOfHistory: 5, referenceTime: new Date('2025-01-01T00:00:00Z'),
  };
  const ref = opts.referenceTime.getTime();
  const windows = Array.from({ length: 12 }, (_, k) => ({ fromMs: ref + k * 90 * DAY, toMs: ref + (k + 1) * 90 * DAY }));

  it('a window exported from a kept population equals one exported from scratch', () => {
    const pop = followPopulation(opts);
    const later = pop.export(windows[5]);
    expect(pop.export(windows[1]).observations).toBe(generateSynthea({ ...opts, window: windows[1] }).observations);
    expect(later.observations).toBe(generateSynthea({ ...opts, window: windows[5] }).observations);
    expect(pop.export().patients).toBe(generateSynthea(opts).patients);
  });

  it('later windows carry the same people\'s new encounters, plus births, deaths, moves and hospital stays; never an earlier window\'s', () => {
    const pop = followPopulation(opts);
    const first = pop.export();
    const firstIds = new Set((parse(first.patients, { columns: true }) as Row[]).map((p) => p.Id));
    const totals = { births: 0, movedIn: 0, movedOut: 0, movedLocally: 0, deceased: 0, inpatientStays: 0 };
    let known = 0;
    let all = 0;
    for (const w of windows) {
      const g = pop.export(w);
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += g.stats[k];
      for (const e of parse(g.encounters, { columns: true }) as Row[]) {
        const t = Date.parse(e.START);
        expect(t).toBeGreaterThan(w.fromMs);
        expect(t).toBeLessThanOrEqual(w.toMs);
        all++;
        if (firstIds.has(e.PATIENT)) known++;
      }
    }
    expect(all).toBeGreaterThan(300);
    expect(known / all).toBeGreaterThan(0.8); // mostly the first batch's people
    for (const [k, v] of Object.entries(totals)) expect(v, k).toBeGreaterThan(0);
  });
});

describe('generate continues where the last run stopped', () => {
  it('runs of 1 + 2 batches write the same bytes as one run of 3; later batches hold no earlier event', async () => {
    const a = project();
    const one = await generateBatches(a, { batches: 1, jar: null });
    const two = await generateBatches(a, { batches: 2, jar: null });
    const b = project();
    const three = await generateBatches(b, { batches: 3, jar: null });
    expect([...one, ...two].map((r) => r.seed)).toEqual([42, 43, 44]);
    expect(two[0].streamMessage).toBe('continuing from batch 2 (seed 43)');
    for (let k = 0; k < 3; k++) {
      const x = [...one, ...two][k];
      expect(readFileSync(path.join(x.runDir, 'events.csv')).equals(readFileSync(path.join(three[k].runDir, 'events.csv'))), `batch ${k + 1}`).toBe(true);
    }
    // Windows follow one another; each batch's events lie in its own window.
    const meta = three.map((r) => batchJson(r.runDir));
    expect(meta.map((m) => m.stream_batch)).toEqual([1, 2, 3]);
    expect(meta[0].reference_time).toBe('2025-11-22T08:15:00.000Z'); // start_days_ago (365) before the pinned clock
    expect(meta[1].window.from).toBe(meta[0].window.to);
    expect(meta[2].window.from).toBe(meta[1].window.to);
    const key = (e: Row) => `${e.patient_id}|${e.event_ts}`;
    const seen = new Set(events(three[0].runDir).map(key));
    for (const r of three.slice(1)) {
      const m = batchJson(r.runDir);
      for (const e of events(r.runDir)) {
        expect(seen.has(key(e))).toBe(false);
        const t = Date.parse(e.event_ts);
        expect(t > Date.parse(m.window.from) && t <= Date.parse(m.window.to)).toBe(true);
        seen.add(key(e));
      }
    }
    const state = readStream(a.resolved.syntheaStream)!;
    expect(state).toMatchObject({ engine: 'builtin', batches: 3, next_seed: 45, reference_time: '2025-11-22T08:15:00.000Z' });
    expect(readdirSync(a.resolved.syntheaStream).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('the same seed and clock give the same stream whatever the wall clock; another clock, another reference time', async () => {
    const a = await generateBatches(project({}, NOW), { batches: 2, jar: null });
    const b = await generateBatches(project({}, '2026-12-24T00:00:00Z'), { batches: 2, jar: null });
    expect(batchJson(b[0].runDir).reference_time).toBe('2025-12-24T00:00:00.000Z');
    expect(readFileSync(path.join(a[1].runDir, 'events.csv'), 'utf8')).not.toBe(readFileSync(path.join(b[1].runDir, 'events.csv'), 'utf8'));
  });

  it('the CLI says so when it starts', () => {
    const p = makeProject('generate:\n  patients: 5\n');
    created.push(p.dir);
    const env = { MEDETL_NOW: NOW, SYNTHEA_JAR: '' };
    const first = p.run(['generate', '--batches', '2'], { env });
    expect(first.stdout.split('\n')[0]).toBe('starting a new stream at batch 1 (seed 42)');
    const again = p.run(['generate'], { env });
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(/^continuing from batch 3 \(seed 44\)\nbatch 1\/1 \(builtin, seed 44\)/);
    const other = p.run(['generate', '--patients', '6'], { env });
    expect(other.stdout.split('\n')[0]).toBe('starting a new stream at batch 1 (seed 45): patients 5 -> 6');
  });
});
