// The dashboard's numbers against a second implementation: events loaded with the real CLI, the rows read back from
// cleaned_events, and every BI cell, the small-cell rule and the two headline ratios recomputed here in plain code
// (not SQL) from the definitions. The adapter is a stand-in for the stores' readers; this pins what they must match.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchLog } from '../../src/serve/batch-log.js';
import { LegacySqliteLedger } from '../../src/serve/legacy-sqlite-ledger.js';
import { buildSnapshot } from '../../src/serve/snapshot.js';
import { CLI, makeProject, runCli, type Project } from '../helpers/watch-project.js';
import { EVENTS_HEADER } from '../helpers/project.js';

let p: Project;
let ledger: LegacySqliteLedger;

interface Row { pk: string; age: number | null; year: number; sys: number | null; dia: number | null; hr: number | null; flags: string[] }

const BP = [[110, 70], [125, 75], [135, 85], [150, 95], [185, 118]] as const;

/** 2023 and 2024: 70 patients (every tenth a child), 3 readings a year; 2022: six patients (every cell small). */
function csv(): string {
  const out = [EVENTS_HEADER];
  let minute = 0;
  const add = (p: number, year: number, r: number, sys: number, dia: number, hr: number) => {
    const dob = p % 10 === 0 ? `${2012 + (p % 3)}-03-04` : `${1930 + ((p * 7) % 75)}-06-15`;
    const ts = new Date(Date.UTC(year, 1 + r * 3, 1) + minute++ * 60_000).toISOString();
    out.push(`id-${p},Given,Family,${dob},0${2100 + (p % 40)},${ts},${sys},${dia},${hr}`);
  };
  for (const year of [2023, 2024]) {
    for (let p = 0; p < 70; p++) {
      for (let r = 0; r < 3; r++) {
        const [s, d] = BP[(p + r * (year - 2021)) % 5];
        const bad = r === 2 && p % 13 === 0; // diastolic above systolic: flag_bp_order, not counted
        add(p, year, r, bad ? 70 : s + (p % 4), bad ? 90 : d + (p % 3), 55 + ((p * 11 + r * 17) % 80));
      }
    }
  }
  for (let p = 100; p < 106; p++) add(p, 2022, 0, 140, 90, 90);
  return `${out.join('\n')}\n`;
}

function rows(): Row[] {
  const db = new Database(p.sqlite, { readonly: true });
  try {
    return (db.prepare('SELECT patient_key AS pk, age_years AS age, event_year AS year, systolic_bp AS sys, diastolic_bp AS dia, heart_rate AS hr, outlier_flags AS f FROM cleaned_events').all() as (Omit<Row, 'flags'> & { f: string })[]).map(
      (r) => ({ ...r, flags: r.f ? r.f.split(';') : [] }),
    );
  } finally {
    db.close();
  }
}

const names = (r: Row, col: string) => r.flags.some((f) => f.endsWith(`_${col}`));
const bpCounted = (r: Row) => r.sys !== null && r.dia !== null && !names(r, 'systolic_bp') && !names(r, 'diastolic_bp') && !r.flags.includes('flag_bp_order') && !r.flags.includes('flag_pulse_pressure');
function category(s: number, d: number): number {
  if (s > 180 || d > 120) return 4;
  if (s >= 140 || d >= 90) return 3;
  if ((s >= 130 && s < 140) || (d >= 80 && d < 90)) return 2;
  if (s >= 120 && s < 130 && d < 80) return 1;
  return 0;
}
const CATS = ['normal', 'elevated', 'stage_1', 'stage_2', 'crisis'];
function band(a: number): string {
  return a < 2 ? '0-1' : a < 13 ? '2-12' : a < 18 ? '13-17' : a < 40 ? '18-39' : a < 65 ? '40-64' : a < 90 ? '65-89' : '90+';
}
const pub = <T>(patients: number, v: T): T | null => (patients < 11 ? null : v);
const key = (o: Record<string, unknown>) => JSON.stringify(Object.keys(o).sort().map((k) => [k, typeof o[k] === 'number' ? Number((o[k] as number).toFixed(9)) : o[k]]));
const sorted = (xs: Record<string, unknown>[]) => xs.map(key).sort();

function expectedBp(all: Row[], byBand: boolean): Record<string, unknown>[] {
  const cells = new Map<string, { year: number; band?: string; c: number; readings: number; top: Map<string, number> }>();
  const highest = new Map<string, number>(); // patient|year(|band) -> highest category
  for (const r of all.filter((r) => r.age !== null && r.age >= 18 && bpCounted(r))) {
    const c = category(r.sys!, r.dia!);
    const cellKey = [r.year, byBand ? band(r.age!) : '', c].join('|');
    const cell = cells.get(cellKey) ?? { year: r.year, band: byBand ? band(r.age!) : undefined, c, readings: 0, top: new Map() };
    cell.readings++;
    cells.set(cellKey, cell);
    const pk = [r.pk, r.year, byBand ? band(r.age!) : ''].join('|');
    highest.set(pk, Math.max(highest.get(pk) ?? -1, c));
  }
  const patients = new Map<string, number>();
  for (const [pk, c] of highest) {
    const [, year, b] = pk.split('|');
    const k = [year, b, c].join('|');
    patients.set(k, (patients.get(k) ?? 0) + 1);
  }
  return [...cells.entries()].map(([k, cell]) => {
    const n = patients.get(k) ?? 0;
    return { event_year: cell.year, ...(byBand ? { age_band: cell.band } : {}), bp_category: CATS[cell.c], patients: pub(n, n), readings: pub(n, cell.readings) };
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  p = makeProject({ thresholds: { max_flagged_rate: 1 } });
  writeFileSync(path.join(p.root, 'events_1.csv'), csv());
  const c = runCli(p, ['process', 'events_1.csv']);
  expect((await c.exit).code, c.stderr()).toBe(0);
  ledger = new LegacySqliteLedger(p.sqlite);
});

afterAll(async () => {
  await ledger?.close();
  p?.cleanup();
});

describe('dashboard numbers', () => {
  it('blood-pressure cells (by year, and by year and age band) match a recomputation, small cells NULL', async () => {
    const all = rows();
    expect(all.length).toBe(70 * 3 * 2 + 6);
    expect(all.some((r) => r.flags.includes('flag_bp_order'))).toBe(true); // the exclusion is exercised
    const byYear = await ledger.bi('kpi_bp_by_year');
    expect(sorted(byYear)).toEqual(sorted(expectedBp(all, false)));
    expect(sorted(await ledger.bi('kpi_bp_by_year_age_band'))).toEqual(sorted(expectedBp(all, true)));
    // both published and suppressed cells exist, and 2022 (six patients) publishes nothing
    expect(byYear.some((r) => r.patients !== null)).toBe(true);
    expect(byYear.filter((r) => r.event_year === 2022).every((r) => r.patients === null && r.readings === null)).toBe(true);
  });

  it('heart rate by age band and vitals by year match a recomputation', async () => {
    const all = rows();
    const hrCells = new Map<string, { pks: Set<string>; n: number; tachy: number; sum: number; year: number; band: string }>();
    for (const r of all.filter((r) => r.hr !== null && r.age !== null && !names(r, 'heart_rate'))) {
      const k = `${r.year}|${band(r.age!)}`;
      const c = hrCells.get(k) ?? { pks: new Set(), n: 0, tachy: 0, sum: 0, year: r.year, band: band(r.age!) };
      c.pks.add(r.pk);
      c.n++;
      c.sum += r.hr!;
      if (r.hr! > (r.age! < 2 ? 160 : r.age! <= 12 ? 120 : 100)) c.tachy++;
      hrCells.set(k, c);
    }
    const hrWant = [...hrCells.values()].map((c) => ({
      event_year: c.year, age_band: c.band, patients: pub(c.pks.size, c.pks.size), readings: pub(c.pks.size, c.n),
      tachycardia_readings: pub(c.pks.size, c.tachy), mean_heart_rate: pub(c.pks.size, c.sum / c.n),
    }));
    expect(sorted(await ledger.bi('kpi_heart_rate_by_age_band'))).toEqual(sorted(hrWant));

    const q = (xs: number[], f: number) => {
      const h = (xs.length - 1) * f;
      const lo = Math.floor(h);
      return xs[lo] + (h - lo) * ((xs[lo + 1] ?? xs[lo]) - xs[lo]);
    };
    const vitalsWant: Record<string, unknown>[] = [];
    for (const v of ['systolic_bp', 'diastolic_bp', 'heart_rate'] as const) {
      const col = { systolic_bp: 'sys', diastolic_bp: 'dia', heart_rate: 'hr' }[v] as 'sys' | 'dia' | 'hr';
      for (const year of [...new Set(all.map((r) => r.year))]) {
        const counted = all.filter((r) => r.year === year && r[col] !== null && !names(r, v));
        if (!counted.length) continue;
        const xs = counted.map((r) => r[col]!).sort((a, b) => a - b);
        const n = new Set(counted.map((r) => r.pk)).size;
        vitalsWant.push({
          event_year: year, vital: v, patients: pub(n, n), n: pub(n, xs.length), mean: pub(n, xs.reduce((a, b) => a + b, 0) / xs.length),
          p10: pub(n, q(xs, 0.1)), median: pub(n, q(xs, 0.5)), p90: pub(n, q(xs, 0.9)),
        });
      }
    }
    expect(sorted(await ledger.bi('kpi_vitals_by_year'))).toEqual(sorted(vitalsWant));
  });

  it('the snapshot: tiles from the ledger, prevalence and tachycardia share of the newest published year', async () => {
    const all = rows();
    const log = new BatchLog();
    await log.grow(ledger);
    const snap = await buildSnapshot(ledger, log);
    expect(snap.tiles).toMatchObject({ rows_loaded: all.length, patients: new Set(all.map((r) => r.pk)).size, batches: 1, quarantined: 0 });
    // prevalence from the published 2024 cells, recomputed
    const cells2024 = expectedBp(all, false).filter((c) => c.event_year === 2024 && c.patients !== null) as { bp_category: string; patients: number }[];
    const den = cells2024.reduce((s, c) => s + c.patients, 0);
    const num = cells2024.filter((c) => ['stage_1', 'stage_2', 'crisis'].includes(c.bp_category)).reduce((s, c) => s + c.patients, 0);
    expect(den).toBeGreaterThanOrEqual(11);
    expect(snap.tiles.hypertension_prevalence).toMatchObject({ year: 2024, numerator: num, denominator: den });
    expect(snap.tiles.hypertension_prevalence.share).toBeCloseTo(num / den, 12);
    const hr2024 = all.filter((r) => r.year === 2024 && r.hr !== null && r.age !== null && !names(r, 'heart_rate'));
    const tachy = hr2024.filter((r) => r.hr! > (r.age! < 2 ? 160 : r.age! <= 12 ? 120 : 100)).length;
    // every 2024 band here has 11+ patients except possibly the children's: compare with the published bands only
    const published = (await ledger.bi('kpi_heart_rate_by_age_band')).filter((c) => c.event_year === 2024 && c.readings !== null);
    const pubReadings = published.reduce((s, c) => s + (c.readings as number), 0);
    const pubTachy = published.reduce((s, c) => s + (c.tachycardia_readings as number), 0);
    expect(pubReadings).toBeLessThanOrEqual(hr2024.length);
    expect(pubTachy).toBeLessThanOrEqual(tachy);
    expect(snap.tiles.tachycardia_share).toMatchObject({ year: 2024, numerator: pubTachy, denominator: pubReadings });
    // suppressed cells stay null all the way to the page's data
    expect(snap.bpByYear.filter((c) => c.year === 2022).every((c) => c.patients === null && c.readings === null)).toBe(true);
    expect(JSON.stringify(snap)).not.toMatch(/[0-9a-f]{64}/); // no patient_key, no content hash
  });
});
