// Drift across batches: the rule on hand-made profiles, then on a generated stream driven through the stages
// in-process with the baseline and history carried from batch to batch as the store will hand them over.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { generateBatches } from '../../src/commands/generate.js';
import { lineOutcomes, ReplayState } from '../../src/feed/score.js';
import { detectDrift, type BatchProfile, type DriftRow as PipelineDriftRow } from '../../src/pipeline/drift.js';
import type { ColumnMetrics } from '../../src/pipeline/types.js';
import type { DriftRow as StoreDriftRow } from '../../src/stores/store.js';

// The pipeline's DriftRow is the store's DriftRow (both directions), so drift rows go to qc_drift as they are.
const toStore = (r: PipelineDriftRow): StoreDriftRow => r;
const fromStore = (r: StoreDriftRow): PipelineDriftRow => r;
void toStore;
void fromStore;

const CFG = parseConfig({}, '/tmp', null, {}).drift;

function metrics(column: string, median: number, iqr: number, n: number, nulls: number, flagged: number): ColumnMetrics {
  return { column, n, nulls, min: median - 3 * iqr, q1: median - iqr / 2, median, q3: median + iqr / 2, max: median + 3 * iqr, flagged, clipped: 0 };
}
/** A batch of ~200 rows whose statistics wobble a little, as sampling makes them. */
function profile(k: number, over: { sys?: number; rows?: number; nulls?: number } = {}): BatchProfile {
  const w = (a: number) => Math.sin(k * 1.7 + a);
  const rows = over.rows ?? Math.round(200 + 15 * w(1));
  return {
    rows,
    flaggedRows: Math.round(4 + 2 * w(2)),
    metrics: [
      metrics('systolic_bp', (over.sys ?? 124) + 1.5 * w(3), 22 + 2 * w(4), rows - 6, over.nulls ?? 6, 2),
      metrics('diastolic_bp', 77 + w(5), 13 + w(6), rows - 6, 6, 1),
      metrics('heart_rate', 74 + 1.5 * w(7), 16 + 1.5 * w(8), rows - 8, 8, 1),
    ],
  };
}

describe('drift: the rule', () => {
  const earlier = Array.from({ length: 20 }, (_, k) => profile(k));

  it('no row for ordinary batches, and none before min_batches earlier batches', () => {
    for (let k = 5; k < 20; k++) expect(detectDrift(profile(k), { batches: earlier.slice(0, k) }, CFG)).toEqual([]);
    expect(detectDrift(profile(30, { sys: 160 }), { batches: earlier.slice(0, 4) }, CFG)).toEqual([]);
  });

  it('a +15 mmHg systolic shift is an alert on the systolic median; a lost share of rows and a null surge too', () => {
    const shifted = detectDrift(profile(21, { sys: 139 }), { batches: earlier }, CFG);
    expect(shifted).toHaveLength(1);
    expect(shifted[0]).toMatchObject({ column: 'systolic_bp', statistic: 'median', severity: 'alert' });
    expect(shifted[0].observed - shifted[0].baseline).toBeGreaterThan(13);
    const few = detectDrift(profile(21, { rows: 60 }), { batches: earlier }, CFG);
    expect(few.map((d) => `${d.column}:${d.statistic}`)).toContain('*:row_count');
    const nulls = detectDrift(profile(21, { nulls: 60 }), { batches: earlier }, CFG);
    expect(nulls.map((d) => `${d.column}:${d.statistic}`)).toContain('systolic_bp:null_rate');
  });

  it('the baseline is the last drift.window batches, and a small batch is judged with its own sampling error', () => {
    const old = Array.from({ length: 10 }, (_, k) => profile(k, { sys: 150 }));
    // With window 20 the ten old batches at 150 are out of sight; a baseline of only those makes today's 124 a departure.
    expect(detectDrift(profile(40), { batches: [...old, ...earlier] }, CFG)).toEqual([]);
    expect(detectDrift(profile(40), { batches: old }, CFG).map((d) => d.statistic)).toContain('median');
    // 6 mmHg off in a batch of 20 rows is sampling noise (sd of a median ~ 1.25 * 16 / sqrt(20) = 4.5).
    const tiny = profile(40, { sys: 130, rows: 20 });
    expect(detectDrift(tiny, { batches: earlier }, CFG).filter((d) => d.statistic === 'median')).toEqual([]);
    expect(detectDrift(profile(40), { batches: earlier }, { ...CFG, enabled: false })).toEqual([]);
  });
});

describe('drift on a generated stream (stages in-process, baseline and history carried as the store will)', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'medetl-drift-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const NOW = '2026-11-22T08:15:00Z';
  const config = parseConfig({ generate: { patients: 400, days_per_batch: 60, start_days_ago: 1600 } }, root, null, { MEDETL_NOW: NOW });

  it('22 ordinary batches record no drift row; the next batch shifted by +15 mmHg systolic records one', async () => {
    const runs = await generateBatches(config, { batches: 23, jar: null });
    const state = new ReplayState(config);
    const nowMs = Date.parse(NOW);
    const drift: DriftRow[][] = [];
    for (const r of runs.slice(0, 22)) drift.push((await lineOutcomes(path.join(r.runDir, 'events.csv'), config, state, nowMs)).checked.drift);
    expect(runs.slice(1, 22).every((r) => r.rows >= 80)).toBe(true);
    expect(drift.flat()).toEqual([]);
    // Batch 23 with every systolic value 15 mmHg higher (column 7 of the events file).
    const file = path.join(root, 'shifted.csv');
    const lines = readFileSync(path.join(runs[22].runDir, 'events.csv'), 'utf8').split('\n');
    writeFileSync(file, lines.map((l, i) => {
      if (i === 0 || l === '') return l;
      const f = l.split(',');
      if (/^\d+(\.\d+)?$/.test(f[6])) f[6] = (Number(f[6]) + 15).toFixed(1);
      return f.join(',');
    }).join('\n'));
    const shifted = (await lineOutcomes(file, config, state, nowMs)).checked.drift;
    expect(shifted.filter((d) => d.column === 'systolic_bp' && d.statistic === 'median')).toHaveLength(1);
    expect(shifted.every((d) => d.column === 'systolic_bp' || d.statistic === 'flag_rate')).toBe(true);
  }, 120_000);
});

type DriftRow = PipelineDriftRow;
