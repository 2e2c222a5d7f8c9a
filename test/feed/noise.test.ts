// Noise with ground truth: every manifest entry is checked against the real files of the run
// (clean Synthea CSVs, events.csv, events.clean.csv, lineage.jsonl), and every line the lineage
// calls untouched must equal its clean counterpart.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/config/load.js';
import { generateBatch } from '../../src/feed/batch.js';
import { NOISE_KINDS, type NoiseEntry } from '../../src/feed/noise.js';
import type { LineageRecord } from '../../src/feed/manifest.js';
import { configSchema } from '../../src/config/schema.js';
import { testDir } from '../helpers/test-dir.js';

const NOW = new Date('2026-11-22T08:15:00Z');
const COLS = ['patient_id', 'first_name', 'last_name', 'dob', 'zip', 'event_ts', 'systolic_bp', 'diastolic_bp', 'heart_rate'];

function project(generate: Record<string, unknown> = {}): Config {
  const root = testDir('noise');
  return parseConfig({ generate }, root, null, {});
}

function jsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);
}

/** Events file as a map line -> fields (no record spans two lines in generated data). */
function eventsByLine(file: string): Map<number, string[]> {
  const recs = parse(readFileSync(file, 'utf8'), { info: true, relax_column_count: true }) as unknown as { record: string[]; info: { lines: number } }[];
  return new Map(recs.map((r) => [r.info.lines, r.record]));
}

function srcLine(runDir: string, file: string, line: number): string[] {
  const text = readFileSync(path.join(runDir, 'csv', file), 'utf8').split('\n');
  return text[line - 1].split(',');
}

describe('noise, manifest and lineage', async () => {
  const config = project({ patients: 200, seed: 11, noise: 'heavy', noise_rates: { header_format: 0.5 } });
  const r = await generateBatch(config, { now: NOW });
  const entries = jsonl<NoiseEntry>(r.manifestFile);
  const lineage = jsonl<LineageRecord>(r.lineageFile);
  const events = eventsByLine(path.join(r.runDir, 'events.csv'));
  const clean = eventsByLine(path.join(r.runDir, 'events.clean.csv'));
  const obsHead = srcLine(r.runDir, 'observations.csv', 1);
  const patHead = srcLine(r.runDir, 'patients.csv', 1);

  it('injects every kind, and says so in the result and batch.json', () => {
    const kinds = new Set(entries.map((e) => e.kind));
    expect([...kinds].sort()).toEqual([...NOISE_KINDS].sort());
    expect(r.injected).toBe(entries.length);
    for (const k of NOISE_KINDS) expect(r.injectedByKind[k]).toBe(entries.filter((e) => e.kind === k).length);
    const batch = JSON.parse(readFileSync(path.join(r.runDir, 'batch.json'), 'utf8'));
    expect(batch).toMatchObject({ engine: 'builtin', seed: 11, noise_profile: 'heavy', injected: entries.length, rows: r.rows });
    expect(entries.map((e) => e.id)).toEqual(entries.map((_, i) => i + 1));
  });

  it('delivers the same bytes to incoming/ as run/events.csv, with no temporary file left', () => {
    expect(readFileSync(r.eventsFile).equals(readFileSync(path.join(r.runDir, 'events.csv')))).toBe(true);
    expect(readdirSync(path.dirname(r.eventsFile))).toEqual([path.basename(r.eventsFile)]);
    expect(path.basename(r.eventsFile)).toBe('events_20261122T081500Z_001.csv');
    expect(path.basename(r.runDir)).toBe('run_20261122T081500Z_001');
  });

  it('each entry names a clean source line holding `before`, and events lines holding `after`', () => {
    for (const e of entries) {
      expect(e.event_lines.length).toBeGreaterThan(0);
      if (e.file === 'patients.csv') {
        expect(srcLine(r.runDir, e.file, e.row)[patHead.indexOf(e.field)]).toBe(e.before);
        const col = COLS.indexOf(e.columns[0]);
        for (const l of e.event_lines) expect(events.get(l)![col]).toBe(e.after);
        // ... and it reaches every line of that patient.
        const mine = [...events].filter(([l, f]) => l > 1 && f[0] === e.patient).map(([l]) => l);
        expect(e.event_lines).toEqual(mine);
      } else if (e.file === 'observations.csv') {
        // The event's line, plus the lines of its duplicate copies (which carry the same noise).
        const copies = entries.filter((d) => d.kind === 'duplicate_row' && d.of_line === e.event_lines[0]).map((d) => d.row);
        expect(e.event_lines).toEqual([e.event_lines[0], ...copies].sort((a, b) => a - b));
        const at = (line: number) => srcLine(r.runDir, e.file, line)[obsHead.indexOf(e.field)];
        for (const l of e.event_lines) {
          const ev = events.get(l)!;
          if (e.kind === 'bp_swap') {
            expect(`${at(e.rows[0])}/${at(e.rows[1])}`).toBe(e.before);
            expect(`${ev[6]}/${ev[7]}`).toBe(e.after);
          } else {
            for (const line of e.rows) expect(at(line)).toBe(e.before);
            expect(ev[COLS.indexOf(e.columns[0])]).toBe(e.after);
          }
          expect(ev[0]).toBe(e.patient);
        }
      } else if (e.kind === 'duplicate_row') {
        expect(e.event_lines).toEqual([e.row]);
        expect(e.of_line).toBeLessThan(e.row);
        expect(events.get(e.row)).toEqual(events.get(e.of_line!));
      } else {
        expect(e.kind).toBe('header_format');
        expect(e.row).toBe(1);
        expect(events.get(1)![COLS.indexOf(e.field)]).toBe(e.after);
        expect(e.after!.trim().toLowerCase()).toBe(e.before);
      }
    }
  });

  it('noise looks like its kind', () => {
    const of = (k: string) => entries.filter((e) => e.kind === k);
    for (const e of of('digit_typo')) expect(e.after).toMatch(/[OlSBZ,]/);
    for (const e of of('swapped_digits')) expect([...e.after!].sort().join('')).toBe([...e.before!].sort().join(''));
    for (const e of of('spike')) expect(Number(e.after)).toBeGreaterThanOrEqual(e.columns[0] === 'diastolic_bp' ? 180 : 300);
    // Blood pressure in kPa (x 7.50062 back to mmHg), heart rate in Hz (x 60 back to /min).
    for (const e of of('unit_slip')) {
      const back = Number(e.after) * (e.columns[0] === 'heart_rate' ? 60 : 7.50062);
      expect(Math.abs(back - Number(e.before))).toBeLessThanOrEqual(e.columns[0] === 'heart_rate' ? 0.31 : 0.38);
    }
    for (const e of of('missing_value')) expect(e.after).toBe('');
    for (const e of of('zip_leading_zero')) expect(`0${e.after}`.padStart(5, '0')).toBe(e.before);
    for (const e of of('dob_format')) expect(e.after).toMatch(/^\d\d\/\d\d\/\d{4}$/);
    for (const e of of('ts_format')) expect(e.after).toBe(e.before!.replace('T', ' ').replace('Z', ''));
    for (const e of of('skewed_ts')) {
      const d = Math.abs(Date.parse(e.after!) - Date.parse(e.before!)) / 60_000;
      expect(d).toBeGreaterThanOrEqual(1);
      expect(d).toBeLessThanOrEqual(120);
    }
    for (const e of of('late_ts')) {
      const d = (Date.parse(e.before!) - Date.parse(e.after!)) / 3_600_000;
      expect(d).toBeGreaterThanOrEqual(1);
      expect(d).toBeLessThanOrEqual(48);
    }
  });

  it('late events arrive at the end of the file', () => {
    const late = entries.filter((e) => e.kind === 'late_ts').flatMap((e) => e.event_lines);
    const lastLines = [...events.keys()].slice(-(late.length + entries.filter((e) => e.kind === 'duplicate_row').length));
    for (const l of late) expect(lastLines).toContain(l);
  });

  it('lineage: one record per events line; untouched lines equal their clean line; touched lines differ only in noisy columns', () => {
    expect(lineage.map((x) => x.line)).toEqual([...events.keys()]);
    expect(lineage.length).toBe(r.rows + 1);
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (const rec of lineage) {
      for (const id of rec.entries) expect(byId.get(id)!.event_lines).toContain(rec.line);
      expect(rec.kinds).toEqual(rec.entries.map((id) => byId.get(id)!.kind));
      const got = events.get(rec.line)!;
      const want = clean.get(rec.clean_line!)!;
      expect(want).toBeDefined();
      const changed = new Set(rec.entries.flatMap((id) => byId.get(id)!.columns));
      for (let c = 0; c < COLS.length; c++) {
        if (changed.has('*') || changed.has(COLS[c])) continue;
        expect(got[c]).toBe(want[c]);
      }
      if (rec.entries.length === 0) expect(got).toEqual(want);
    }
    // Each manifest entry's event_lines are exactly the lineage lines that cite it.
    for (const e of entries) expect(lineage.filter((x) => x.entries.includes(e.id)).map((x) => x.line)).toEqual(e.event_lines);
    // Clean lines are all reached, and only duplicates share one.
    const cleanUse = lineage.slice(1).map((x) => x.clean_line);
    expect(new Set(cleanUse).size).toBe(clean.size - 1);
    expect(cleanUse.length - new Set(cleanUse).size).toBe(entries.filter((e) => e.kind === 'duplicate_row').length);
  });
});

describe('noise profiles and settings', () => {
  it('off: no manifest entries, events.csv equals events.clean.csv, lineage all empty', async () => {
    const r = await generateBatch(project({ patients: 20, noise: 'off', noise_rates: { spike: 1 } }), { now: NOW });
    expect(readFileSync(r.manifestFile, 'utf8')).toBe('');
    expect(r.injected).toBe(0);
    expect(readFileSync(path.join(r.runDir, 'events.csv'), 'utf8')).toBe(readFileSync(path.join(r.runDir, 'events.clean.csv'), 'utf8'));
    const lineage = jsonl<LineageRecord>(r.lineageFile);
    expect(lineage.every((x, i) => x.entries.length === 0 && x.line === i + 1 && x.clean_line === i + 1)).toBe(true);
  });

  it('per-kind overrides: only spikes, on every event', async () => {
    const zero = Object.fromEntries(NOISE_KINDS.map((k) => [k, 0]));
    const r = await generateBatch(project({ patients: 10, noise_rates: { ...zero, spike: 1 } }), { now: NOW });
    expect(r.injectedByKind.spike).toBe(r.rows);
    expect(r.injected).toBe(r.rows);
  });

  it('same seed and time, same bytes: events, clean events, manifest, lineage', async () => {
    const a = await generateBatch(project({ patients: 30, noise: 'heavy' }), { now: NOW, seed: 5 });
    const b = await generateBatch(project({ patients: 30, noise: 'heavy' }), { now: NOW, seed: 5 });
    for (const f of ['events.csv', 'events.clean.csv', 'noise_manifest.jsonl', 'lineage.jsonl', 'csv/observations.csv']) {
      expect(readFileSync(path.join(b.runDir, f)).equals(readFileSync(path.join(a.runDir, f)))).toBe(true);
    }
    const c = await generateBatch(project({ patients: 30, noise: 'heavy' }), { now: NOW, seed: 6 });
    expect(readFileSync(path.join(c.runDir, 'events.csv'), 'utf8')).not.toBe(readFileSync(path.join(a.runDir, 'events.csv'), 'utf8'));
  });

  it('a second batch in the same second gets the next sequence number', async () => {
    const config = project({ patients: 3 });
    const a = await generateBatch(config, { now: NOW });
    const b = await generateBatch(config, { now: NOW });
    expect(path.basename(a.eventsFile)).toBe('events_20261122T081500Z_001.csv');
    expect(path.basename(b.eventsFile)).toBe('events_20261122T081500Z_002.csv');
    expect(existsSync(path.join(config.resolved.syntheaStream, 'run_20261122T081500Z_002', 'lineage.jsonl'))).toBe(true);
  });

  it('refuses to put raw data or the manifest under masked_out', async () => {
    const root = testDir('noise');
    // The config guard refuses it before anything runs (config/guards.ts).
    expect(() => parseConfig({ paths: { synthea_stream: 'masked_out/stream' } }, root, null, {})).toThrow(/paths.synthea_stream .* is inside paths.masked_out/);
    const ok = parseConfig({}, root, null, {});
    await expect(generateBatch(ok, { now: NOW, out: path.join(root, 'masked_out', 'x') })).rejects.toThrow(/must not be under/);
  });

  it('config: noise and noise_rates are validated; the schema knows every kind', () => {
    const root = testDir('noise');
    expect(() => parseConfig({ generate: { noise: 'loud' } }, root, null, {})).toThrow(/generate\.noise must be one of "default", "heavy", "off", got "loud"/);
    expect(() => parseConfig({ generate: { noise_rates: { typo: 0.1 } } }, root, null, {})).toThrow(/generate\.noise_rates: unknown key "typo"/);
    expect(() => parseConfig({ generate: { noise_rates: { spike: 2 } } }, root, null, {})).toThrow(/generate\.noise_rates\.spike/);
    const parsed = configSchema.parse({ generate: { noise_rates: Object.fromEntries(NOISE_KINDS.map((k) => [k, 0.5])) } });
    expect(Object.keys(parsed.generate.noise_rates).sort()).toEqual([...NOISE_KINDS].sort());
  });
});
