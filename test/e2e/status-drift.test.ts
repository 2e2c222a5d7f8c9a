// `medetl status` shows QC drift: the departures the store recorded in qc_drift (built CLI, real SQLite store).
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventsCsv, makeProject, plausibleRows } from '../helpers/project.js';

describe('medetl status: QC drift', () => {
  it('says none on ordinary batches, and names the vital and statistic after a +15 mmHg systolic shift', () => {
    const p = makeProject('drift:\n  min_batches: 5\nhistory:\n  enabled: false\n');
    const files: string[] = [];
    for (let i = 0; i < 6; i++) {
      const name = `events_${i}.csv`;
      writeFileSync(p.file(name), eventsCsv(plausibleRows(400, { seed: 11 + i, patients: 40, startMs: Date.UTC(2023, 0, 1) + i * 400 * 61_000 })));
      files.push(name);
    }
    expect(p.run(['process', ...files]).status).toBe(0);
    const calm = JSON.parse(p.run(['status', '--json']).stdout);
    expect(calm.drift).toEqual({ rows: 0, alerts: 0, latest: [] });
    expect(p.run(['status']).stdout).toMatch(/QC drift: +none/);

    const shifted = plausibleRows(400, { seed: 99, patients: 40, startMs: Date.UTC(2024, 0, 1) }).map((r) => ({ ...r, systolic_bp: (Number(r.systolic_bp) + 15).toFixed(1) }));
    writeFileSync(p.file('events_9.csv'), eventsCsv(shifted));
    expect(p.run(['process', 'events_9.csv']).status).toBe(0);
    const r = JSON.parse(p.run(['status', '--json']).stdout);
    expect(r.drift.rows).toBeGreaterThanOrEqual(1);
    expect(r.drift.latest).toContainEqual(expect.objectContaining({ column: 'systolic_bp', statistic: 'median' }));
    expect(p.run(['status']).stdout).toMatch(/QC drift: +\d+ departure\(s\), \d+ alert\(s\); latest: .*systolic_bp median/);
  }, 120_000);
});
