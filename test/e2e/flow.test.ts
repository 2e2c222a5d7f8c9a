// The whole flow on real components: Synthea CSVs (real fixtures, or the built-in generator with
// noise) -> map -> process -> masked sinks -> score.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { duckQuery, globOf } from '../helpers/duck.js';
import { makeProject, scanFor } from '../helpers/project.js';
import { describeWithShared } from '../helpers/shared.js';

describeWithShared('fixtures/synthea', 'whole flow on real Synthea output', (synthea) => {
  it.each([
    // Expected rows: distinct (PATIENT, DATE) with a vital code, per each fixture's README.
    ['invitae-emr-exercise-java', 126],
    ['krvenkat12-hl7v2-to-fhir-streaming-pipeline', 104],
  ])('real Synthea output (%s) maps and loads with no identifier in the outputs', async (name, expectedRows) => {
    const p = makeProject();
    const fixture = path.join(synthea, name);
    const m = p.run(['map', fixture, '--out', p.file('incoming')]);
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    const [events] = readdirSync(p.file('incoming')).filter((n) => n.startsWith('events_'));
    const r = p.run(['process', path.join('incoming', events), '--json']);
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ status: 'loaded', rowsIn: expectedRows, loaded: expectedRows, rejected: 0, duplicates: 0 });

    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    const rows = db.prepare('SELECT * FROM cleaned_events').all() as Record<string, unknown>[];
    db.close();
    expect(rows).toHaveLength(expectedRows);
    const patients = readFileSync(path.join(fixture, 'patients.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const header = readFileSync(path.join(fixture, 'patients.csv'), 'utf8').split('\n')[0].split(',');
    const col = (n: string) => header.indexOf(n);
    expect(new Set(rows.map((x) => x.patient_key)).size).toBe(patients.length);
    // ZIP3s are the fixture ZIPs' first three digits (00000 placeholders -> 000), restricted ones -> 000.
    const zip3s = new Set(patients.map((pt) => pt[col('ZIP')].padStart(5, '0').slice(0, 3)));
    for (const z of new Set(rows.map((x) => x.zip3))) expect(zip3s.has(String(z)) || z === '000').toBe(true);
    expect(Object.keys(rows[0])).not.toContain('first_name');
    const pq = await duckQuery(`SELECT count(*)::INT AS n FROM read_parquet('${globOf(p.file('masked_out/parts'))}')`);
    expect(pq[0].n).toBe(expectedRows);
    // No Synthea Id, name, full birth date or full ZIP of any patient reaches masked_out/ or logs/.
    const needles = patients.flatMap((pt) => [pt[col('Id')], pt[col('FIRST')], pt[col('LAST')], pt[col('BIRTHDATE')]]);
    const zips = patients.map((pt) => pt[col('ZIP')]).filter((z) => z !== '00000');
    expect(scanFor([p.file('masked_out'), p.file('logs')], [...needles, ...zips])).toEqual([]);
  });
});

describe('whole flow', () => {
  it('generate -> process -> score: QC catches >= 99% of spikes, bp swaps, typos and duplicates and flags <= 1% of clean rows', () => {
    // 300 people (was 60 x 3 independent batches): since issue 13 the three batches follow one population, so
    // batches 2 and 3 carry only the next 30 days each, and the first batch carries most of the clean rows. The
    // clock is pinned (MEDETL_NOW): the feed dates its events from it, so the same seed gives the same rows.
    const p = makeProject('generate:\n  patients: 300\n  noise: heavy\n');
    const env = { MEDETL_NOW: '2026-06-01T10:00:00Z' };
    const g = p.run(['generate', '--batches', '3', '--seed', '7'], { env });
    expect(g.status).toBe(0);
    const files = readdirSync(p.file('incoming')).filter((n) => n.startsWith('events_')).map((n) => path.join('incoming', n));
    expect(files).toHaveLength(3);
    expect(p.run(['process', ...files], { env }).status).toBe(0);
    const runs = readdirSync(p.file('synthea_stream')).filter((n) => n.startsWith('run_'));
    const s = p.run(['score', ...runs, '--json'], { env });
    expect(s.stderr).toBe('');
    const card = JSON.parse(s.stdout);
    const kind = (k: string) => card.kinds.find((x: { kind: string }) => x.kind === k);
    for (const k of ['spike', 'bp_swap', 'digit_typo', 'duplicate_row']) {
      expect(kind(k).injected, k).toBeGreaterThan(5);
      expect(kind(k).caught / kind(k).injected, k).toBeGreaterThanOrEqual(0.99);
    }
    expect(card.cleanRows).toBeGreaterThan(500);
    expect(card.cleanFlaggedShare).toBeLessThanOrEqual(0.01);
    // The manifest (raw values) stays in synthea_stream/, never in masked_out/.
    const manifest = readFileSync(p.file(path.join('synthea_stream', runs[0], 'noise_manifest.jsonl')), 'utf8');
    const patientIds = [...manifest.matchAll(/"patient":"([^"]+)"/g)].map((m) => m[1]).slice(0, 20);
    expect(patientIds.length).toBeGreaterThan(0);
    expect(scanFor([p.file('masked_out'), p.file('logs')], patientIds)).toEqual([]);
  });

  it('score refuses a run whose events were not loaded yet', () => {
    const p = makeProject('generate:\n  patients: 5\n');
    expect(p.run(['generate']).status).toBe(0);
    const [run] = readdirSync(p.file('synthea_stream')).filter((n) => n.startsWith('run_'));
    const s = p.run(['score', run]);
    expect(s.status).toBe(2);
    expect(s.stderr).toMatch(/have not been loaded yet/);
  });
});
