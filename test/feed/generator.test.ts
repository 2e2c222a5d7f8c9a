// The built-in generator: Synthea v3.4 format (compared with the real v3.4 fixture), determinism,
// and plausible populations.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { generateSynthea, writeSyntheaCsv, type GeneratorOptions } from '../../src/feed/generator.js';
import { mapSynthea } from '../../src/feed/mapper.js';
import { itWithShared } from '../helpers/shared.js';
import { testDir } from '../helpers/test-dir.js';

/** Real Synthea v3.4 output (../shared), to compare the format with. */
const V34 = 'fixtures/synthea/krvenkat12-hl7v2-to-fhir-streaming-pipeline';
const REF = new Date('2026-11-22T08:15:00Z');
const BASE: GeneratorOptions = {
  patients: 50, seed: 42, state: 'Massachusetts', city: null, minAge: 0, maxAge: 100, yearsOfHistory: 5, referenceTime: REF,
};
const YEAR = 365.2425 * 86_400_000;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const DATE = /^\d{4}-\d\d-\d\d$/;

type Row = Record<string, string>;
const rowsOf = (text: string): Row[] => parse(text, { columns: true, bom: true }) as Row[];
const headerOf = (text: string) => text.slice(0, text.indexOf('\n'));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

describe('built-in generator: Synthea v3.4 format', () => {
  const g = generateSynthea(BASE);

  itWithShared(V34, 'writes exactly the v3.4 headers of real Synthea output', (v34) => {
    for (const f of ['patients', 'encounters', 'observations'] as const) {
      expect(headerOf(g[f])).toBe(headerOf(readFileSync(path.join(v34, `${f}.csv`), 'utf8')));
    }
  });

  it('uses Synthea id shapes, timestamps and dates; encounter ids share the patient prefix', () => {
    const patients = rowsOf(g.patients);
    const encounters = rowsOf(g.encounters);
    const obs = rowsOf(g.observations);
    expect(patients.length).toBe(50);
    for (const p of patients) {
      expect(p.Id).toMatch(ID);
      expect(p.BIRTHDATE).toMatch(DATE);
      expect(p.DEATHDATE === '' || DATE.test(p.DEATHDATE)).toBe(true);
      expect(p.ZIP).toMatch(/^\d{5}$/);
      expect(p.SSN).toMatch(/^999-\d\d-\d{4}$/);
      expect(p.FIRST).toMatch(/\D\d{1,3}$/);
    }
    const byId = new Map(patients.map((p) => [p.Id, p]));
    for (const e of encounters) {
      expect(e.Id).toMatch(ID);
      expect(e.START).toMatch(TS);
      expect(e.STOP).toMatch(TS);
      expect(byId.has(e.PATIENT)).toBe(true);
      expect(e.Id.slice(0, 18)).toBe(e.PATIENT.slice(0, 18));
    }
    for (const o of obs) expect(o.DATE).toMatch(TS);
  });

  itWithShared(V34, 'writes vitals with the codes, descriptions, units and CATEGORY of the real files, and other observations to skip', (v34) => {
    const ours = rowsOf(g.observations);
    const real = rowsOf(readFileSync(path.join(v34, 'observations.csv'), 'utf8'));
    const shape = (o: Row) => [o.CATEGORY, o.CODE, o.DESCRIPTION, o.UNITS, o.TYPE].join('|');
    const realShapes = new Map(real.map((o) => [o.CODE, shape(o)]));
    for (const code of ['8480-6', '8462-4', '8867-4']) {
      const mine = new Set(ours.filter((o) => o.CODE === code).map(shape));
      expect([...mine]).toEqual([realShapes.get(code)]);
    }
    // Every code we share with the real file is written the same way.
    for (const o of ours) if (realShapes.has(o.CODE) && o.TYPE === 'numeric') expect(shape(o)).toBe(realShapes.get(o.CODE));
    const codes = new Set(ours.map((o) => o.CODE));
    for (const c of ['8302-2', '29463-7', '39156-5', '72514-3', '9279-1', '72166-2', 'QALY', 'DALY', 'QOLS']) expect(codes.has(c)).toBe(true);
    const qaly = ours.filter((o) => o.CODE === 'QALY');
    expect(qaly.every((o) => o.ENCOUNTER === '' && o.CATEGORY === '')).toBe(true);
    const tobacco = ours.filter((o) => o.CODE === '72166-2');
    expect(tobacco.every((o) => o.TYPE === 'text' && o.CATEGORY === 'social-history' && / \(finding\)$/.test(o.VALUE))).toBe(true);
    // BP and heart rate share DATE and ENCOUNTER, as in Synthea.
    const sys = ours.filter((o) => o.CODE === '8480-6');
    const dia = new Set(ours.filter((o) => o.CODE === '8462-4').map((o) => `${o.PATIENT}|${o.DATE}|${o.ENCOUNTER}`));
    expect(sys.every((o) => dia.has(`${o.PATIENT}|${o.DATE}|${o.ENCOUNTER}`))).toBe(true);
  });

  it('interleaves patients in observations.csv, as Synthea threads do', () => {
    const ids = rowsOf(g.observations).map((o) => o.PATIENT);
    let runs = 1;
    for (let i = 1; i < ids.length; i++) if (ids[i] !== ids[i - 1]) runs++;
    expect(runs).toBeGreaterThan(50 * 2);
  });
});

describe('built-in generator: determinism', () => {
  it('same options, same bytes (on disk too); another seed or reference time, other bytes', async () => {
    const a = generateSynthea(BASE);
    const b = generateSynthea({ ...BASE });
    expect(b.patients).toBe(a.patients);
    expect(b.encounters).toBe(a.encounters);
    expect(b.observations).toBe(a.observations);
    const d1 = testDir('gen');
    const d2 = testDir('gen');
    await writeSyntheaCsv(d1, a);
    await writeSyntheaCsv(d2, b);
    for (const f of ['patients.csv', 'encounters.csv', 'observations.csv']) {
      expect(readFileSync(path.join(d2, f)).equals(readFileSync(path.join(d1, f)))).toBe(true);
    }
    expect(generateSynthea({ ...BASE, seed: 43 }).observations).not.toBe(a.observations);
    expect(generateSynthea({ ...BASE, referenceTime: new Date('2026-11-23T08:15:00Z') }).observations).not.toBe(a.observations);
  });
});

describe('built-in generator: a plausible population', () => {
  const opts = { ...BASE, patients: 400, seed: 7 };
  const g = generateSynthea(opts);
  const patients = rowsOf(g.patients);
  const encounters = rowsOf(g.encounters);

  it('hypertension in ~30% of adults, some deaths and some people aged 90+', () => {
    const s = g.stats;
    expect(s.hypertensiveAdults / s.adults).toBeGreaterThan(0.2);
    expect(s.hypertensiveAdults / s.adults).toBeLessThan(0.42);
    expect(s.deceased).toBeGreaterThan(0);
    expect(s.deceased / s.patients).toBeLessThan(0.15);
    const ages = patients.map((p) => (Date.parse(p.DEATHDATE || REF.toISOString()) - Date.parse(p.BIRTHDATE)) / YEAR);
    expect(ages.filter((a) => a >= 90).length).toBeGreaterThan(0);
    expect(ages.filter((a) => a < 18).length / ages.length).toBeGreaterThan(0.12);
    expect(Math.max(...ages)).toBeLessThan(106);
  });

  it('nothing after a death; encounters within years_of_history before the reference time', () => {
    const death = new Map(patients.filter((p) => p.DEATHDATE).map((p) => [p.Id, p.DEATHDATE]));
    expect(death.size).toBeGreaterThan(0);
    for (const e of encounters) {
      const d = death.get(e.PATIENT);
      if (d) expect(e.START.slice(0, 10) <= d).toBe(true);
      expect(Date.parse(e.START)).toBeLessThanOrEqual(REF.getTime());
      expect(Date.parse(e.START)).toBeGreaterThanOrEqual(REF.getTime() - 5 * YEAR - 86_400_000);
    }
    for (const o of rowsOf(g.observations)) {
      const d = death.get(o.PATIENT);
      if (d && o.CODE !== '69453-9') expect(o.DATE.slice(0, 10) <= d).toBe(true);
    }
  });

  it('Massachusetts ZIPs: leading zeros, a few 00000 placeholders and a small share in restricted ZIP3s', () => {
    const zips = patients.map((p) => p.ZIP);
    expect(zips.filter((z) => z.startsWith('0')).length / zips.length).toBeGreaterThan(0.9);
    expect(zips.some((z) => /^01\d{3}$/.test(z))).toBe(true);
    const restricted = zips.filter((z) => ['036', '059', '063', '102'].includes(z.slice(0, 3)));
    expect(restricted.length).toBeGreaterThan(0);
    expect(restricted.length / zips.length).toBeLessThan(0.08);
    const ma = patients.filter((p) => p.STATE === 'Massachusetts');
    expect(ma.length / patients.length).toBeGreaterThan(0.9);
    expect(ma.every((p) => p.ZIP === '00000' ? p.FIPS === '' : /^25\d{3}$/.test(p.FIPS) && /^0[12]\d{3}$/.test(p.ZIP))).toBe(true);
  });

  it('vitals depend on age: infants have a faster heart and lower pressure; adults plausible; some tachycardia', async () => {
    const d = testDir('gen');
    await writeSyntheaCsv(d, g);
    const r = await mapSynthea(d);
    const by = (lo: number, hi: number) =>
      r.rows.filter((row) => {
        const a = (Date.parse(row[5]) - Date.parse(row[3])) / YEAR;
        return a >= lo && a < hi;
      });
    const num = (rows: string[][], i: number) => rows.map((row) => row[i]).filter((v) => v !== '').map(Number);
    const infants = by(0, 1);
    const adults = by(18, 65);
    const old = by(65, 120);
    expect(infants.length).toBeGreaterThan(10);
    expect(median(num(infants, 8))).toBeGreaterThan(120);
    expect(median(num(infants, 6))).toBeLessThan(95);
    expect(median(num(adults, 8))).toBeGreaterThan(62);
    expect(median(num(adults, 8))).toBeLessThan(82);
    expect(median(num(adults, 6))).toBeGreaterThan(110);
    expect(median(num(adults, 6))).toBeLessThan(135);
    expect(median(num(old, 6))).toBeGreaterThan(median(num(adults, 6)));
    const hr = num(adults, 8);
    const fast = hr.filter((v) => v > 100).length / hr.length;
    expect(fast).toBeGreaterThan(0);
    expect(fast).toBeLessThan(0.1);
    // Clean values stay within the default physiologic ranges and pulse-pressure rules.
    for (const row of r.rows) {
      const [s, dd, h] = [row[6], row[7], row[8]].map((v) => (v === '' ? null : Number(v)));
      if (s !== null) expect(s >= 50 && s <= 260).toBe(true);
      if (dd !== null) expect(dd >= 25 && dd <= 160).toBe(true);
      if (h !== null) expect(h >= 20 && h <= 250).toBe(true);
      if (s !== null && dd !== null) expect(s - dd >= 10 && s - dd <= 120).toBe(true);
    }
    // Mostly all three vitals; a few events with blood pressure only or heart rate only.
    const shapes = new Set(r.rows.map((row) => [6, 7, 8].map((i) => (row[i] ? 1 : 0)).join('')));
    expect(shapes).toEqual(new Set(['111', '110', '001']));
    expect(r.rows.filter((row) => row[6] && row[7] && row[8]).length / r.rows.length).toBeGreaterThan(0.8);
  });

  it('--city keeps everyone in the city; an unknown state or city is a clear error', () => {
    const lowell = rowsOf(generateSynthea({ ...BASE, patients: 30, city: 'Lowell' }).patients);
    expect(new Set(lowell.map((p) => p.CITY))).toEqual(new Set(['Lowell']));
    expect(lowell.every((p) => ['01850', '01851', '01852', '01854', '00000'].includes(p.ZIP))).toBe(true);
    expect(() => generateSynthea({ ...BASE, state: 'Atlantis' })).toThrow(/no data for state "Atlantis"/);
    expect(() => generateSynthea({ ...BASE, city: 'Gotham' })).toThrow(/no city "Gotham" in Massachusetts/);
    const ca = rowsOf(generateSynthea({ ...BASE, patients: 20, state: 'CA' }).patients);
    expect(ca.filter((p) => p.STATE === 'California').length).toBeGreaterThan(15);
  });

  it('honours the age range', () => {
    const r = generateSynthea({ ...BASE, patients: 60, minAge: 30, maxAge: 40 });
    for (const p of rowsOf(r.patients)) {
      const age = (REF.getTime() - Date.parse(p.BIRTHDATE)) / YEAR;
      expect(age).toBeGreaterThanOrEqual(30);
      expect(age).toBeLessThan(41.01);
    }
  });
});
