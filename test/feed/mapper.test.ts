// The mapper on real Synthea output (../shared/fixtures/synthea) and on header variants written to
// temporary folders. Expected counts are worked out independently of the mapper: a plain line
// split of the raw observations.csv (the fixtures have no quoted fields, see their READMEs).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatEvents, writeEventsFile } from '../../src/feed/events.js';
import { EVENTS_HEADER, mapSynthea, type MapResult } from '../../src/feed/mapper.js';
import { describeWithShared, itWithShared } from '../helpers/shared.js';
import { testDir } from '../helpers/test-dir.js';

const SYNTHEA = 'fixtures/synthea';
const KRVENKAT12 = 'krvenkat12-hl7v2-to-fhir-streaming-pipeline';
const VITALS = new Set(['8480-6', '8462-4', '8867-4']);

/** Distinct (PATIENT, DATE) pairs among vital rows, per patient: a line split, no CSV parser. */
function independentCounts(dir: string): Map<string, number> {
  const lines = readFileSync(path.join(dir, 'observations.csv'), 'utf8').split('\n').filter((l) => l !== '');
  const head = lines[0].split(',');
  const [iDate, iPatient, iCode] = ['DATE', 'PATIENT', 'CODE'].map((h) => head.indexOf(h));
  const pairs = new Set<string>();
  for (const l of lines.slice(1)) {
    const f = l.split(',');
    if (VITALS.has(f[iCode])) pairs.add(`${f[iPatient]} ${f[iDate]}`);
  }
  const perPatient = new Map<string, number>();
  for (const p of pairs) {
    const id = p.split(' ')[0];
    perPatient.set(id, (perPatient.get(id) ?? 0) + 1);
  }
  return perPatient;
}

function perPatient(r: MapResult): Map<string, number> {
  const m = new Map<string, number>();
  for (const row of r.rows) m.set(row[0], (m.get(row[0]) ?? 0) + 1);
  return m;
}

function tmp(): string {
  return testDir('feed-map');
}

function find(r: MapResult, patient: string, ts: string): string[] | undefined {
  return r.rows.find((row) => row[0] === patient && row[5] === ts);
}

describeWithShared(SYNTHEA, 'mapSynthea on real Synthea fixtures', (fixtures) => {
  const INVITAE = path.join(fixtures, 'invitae-emr-exercise-java');
  const KRVENKAT = path.join(fixtures, KRVENKAT12);

  it('finds both fixture folders', () => {
    expect(readdirSync(fixtures).sort()).toEqual(expect.arrayContaining(['invitae-emr-exercise-java', 'krvenkat12-hl7v2-to-fhir-streaming-pipeline']));
  });

  for (const name of readdirSync(fixtures).filter((d) => existsSync(path.join(fixtures, d, 'observations.csv')))) {
    it(`${name}: one row per distinct (patient, DATE) with a vital, per patient as counted by a line split`, async () => {
      const dir = path.join(fixtures, name);
      const expected = independentCounts(dir);
      const r = await mapSynthea(dir);
      expect(r.header).toEqual([...EVENTS_HEADER]);
      expect(r.rows.length).toBe([...expected.values()].reduce((a, b) => a + b, 0));
      expect(perPatient(r)).toEqual(expected);
      expect(r.stats.unknownPatientRows).toBe(0);
      expect(r.sources.length).toBe(r.rows.length);
    });
  }

  // Hard-coded, verified by hand with: awk -F, 'NR>1 && ($c=="8480-6"||$c=="8462-4"||$c=="8867-4")
  // {k[$p","$d]} END{print length(k)}' observations.csv (c/p/d = the CODE/PATIENT/DATE column
  // numbers from the header), per patient likewise; both agree with the READMEs
  // (invitae: 126 timestamps, 378 vital rows; krvenkat12: 104 timestamps, 312 vital rows).
  it('invitae (v2.x header, no CATEGORY): 126 rows, 378 vital rows, 2791 observation rows', async () => {
    const r = await mapSynthea(INVITAE);
    expect(r.rows.length).toBe(126);
    expect(r.stats).toMatchObject({ patients: 10, observationRows: 2791, vitalObservations: 378, events: 126, nonNumericValues: 0, emptyValues: 0 });
    expect(Object.fromEntries(perPatient(r))).toEqual({
      '188801ce-955f-dfbb-84a5-eaaa5be72646': 11,
      '2ca1ca9c-0f8d-6b1e-8b5d-657beb10c8f0': 11,
      '442cc0a4-b1c1-c76f-f9a6-a987906be00b': 12,
      '8a1a7102-02d2-32f5-3d97-9632066df900': 13,
      '9f09c08f-fce7-23dd-f8f9-21d9663ce1b2': 12,
      'a17819aa-955a-bd0f-7567-6b590e00b6d6': 15,
      'ab8caa40-bf9b-9e44-0e96-b0709ba89dde': 21,
      'ac175238-43d9-2ca5-07e9-4a6752bf7cf5': 11,
      'dc6a47da-190d-9201-4d93-70effe956db9': 9,
      'fdaceb27-50de-ae88-3251-2522198a2a6a': 11,
    });
    expect(find(r, '2ca1ca9c-0f8d-6b1e-8b5d-657beb10c8f0', '2011-12-09T18:46:54Z')).toEqual([
      '2ca1ca9c-0f8d-6b1e-8b5d-657beb10c8f0', 'Randee35', 'Parisian75', '2004-12-17', '95014', '2011-12-09T18:46:54Z', '133.0', '79.0', '94.0',
    ]);
    // Every row has all three vitals in this fixture.
    expect(r.rows.every((row) => row[6] !== '' && row[7] !== '' && row[8] !== '')).toBe(true);
  });

  it('krvenkat12 (v3.4 header): 104 rows; ZIPs stay strings; non-ASCII names; newborn and deceased patients', async () => {
    const r = await mapSynthea(KRVENKAT);
    expect(r.rows.length).toBe(104);
    expect(r.stats).toMatchObject({ patients: 10, observationRows: 4855, vitalObservations: 312, events: 104 });
    expect(Object.fromEntries(perPatient(r))).toEqual({
      '2599858b-51ef-bee3-b83b-6f9c11ee108a': 12,
      '2d3a54c2-d629-adac-dc75-b0c2dc5f4f6b': 7,
      '37c29c55-ce84-10be-3d16-035b5e001cad': 11,
      '41fcfcd3-28cd-be1d-b273-b8ead8d3969f': 11,
      '512cbdeb-2461-65ce-6e06-ebe74134ed95': 2,
      '535d5767-f658-53b5-0f5d-78d6a69b2f79': 3,
      '6e473d76-e353-cf27-f4b6-6289effae535': 10,
      '73ec921b-1f7c-f898-e00e-a4d672900d37': 29,
      '9f573747-03c9-7061-3e28-c119f0a5da9e': 5,
      'c559bb7f-08e0-036a-6f1a-8e65696c9df8': 14,
    });
    expect(find(r, '512cbdeb-2461-65ce-6e06-ebe74134ed95', '2026-01-13T11:24:09Z')).toEqual([
      '512cbdeb-2461-65ce-6e06-ebe74134ed95', 'Aubrey96', 'Reinger292', '2026-01-13', '01852', '2026-01-13T11:24:09Z', '106.0', '77.0', '97.0',
    ]);
    expect(find(r, 'c559bb7f-08e0-036a-6f1a-8e65696c9df8', '2014-07-19T05:15:52Z')).toEqual([
      'c559bb7f-08e0-036a-6f1a-8e65696c9df8', 'Débora815', 'Águilar229', '1947-09-27', '00000', '2014-07-19T05:15:52Z', '116.0', '88.0', '63.0',
    ]);
    // The first row of Ester635 Marín855 (ZIP placeholder 00000 kept as text).
    expect(r.rows.find((row) => row[0] === '41fcfcd3-28cd-be1d-b273-b8ead8d3969f')?.slice(1, 5)).toEqual(['Ester635', 'Marín855', '2010-12-01', '00000']);
  });
});

describe('mapVitals through header variants and odd rows', () => {
  const P_HEAD = 'Id,BIRTHDATE,DEATHDATE,FIRST,LAST,ZIP';
  const O_HEAD = 'DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE';

  function folder(patients: string, observations: string | null): string {
    const d = tmp();
    writeFileSync(path.join(d, 'patients.csv'), patients);
    if (observations !== null) writeFileSync(path.join(d, 'observations.csv'), observations);
    return d;
  }

  it('lowercase, padded and `ID` headers, no CATEGORY, plain dates, extra columns in any order', async () => {
    const d = folder(
      ' id ,extra,last, first ,zip,birthdate\r\n' + 'p1,x,Doe,Jane,01852,1980-02-03\r\n',
      'Patient,date, code ,Value,UNITS,Whatever\r\n' +
        'p1,2011-05-21,8480-6,121.0,mm[Hg],a\r\n' +
        'p1,2011-05-21,8462-4,79.0,mm[Hg],b\r\n' +
        'p1,2011-05-21,8302-2,170.0,cm,c\r\n' +
        'p1,2011-06-01,8867-4,66.0,/min,d\r\n',
    );
    const r = await mapSynthea(d);
    expect(r.rows).toEqual([
      ['p1', 'Jane', 'Doe', '1980-02-03', '01852', '2011-05-21', '121.0', '79.0', ''],
      ['p1', 'Jane', 'Doe', '1980-02-03', '01852', '2011-06-01', '', '', '66.0'],
    ]);
    expect(r.stats.observationRows).toBe(4);
    expect(r.stats.vitalObservations).toBe(3);
  });

  it('header `ID` in upper case, a BOM, quoted fields with commas and quotes', async () => {
    const d = folder(
      '\uFEFFID,FIRST,LAST,BIRTHDATE,ZIP\n' + 'p2,"Ann, ""Nan""",O\'Neil,1990-01-01,02139\n',
      `${O_HEAD}\n` + '2020-01-01T10:00:00Z,p2,e1,vital-signs,8867-4,Heart rate,"1,20",/min,numeric\n',
    );
    const r = await mapSynthea(d);
    expect(r.rows).toEqual([['p2', 'Ann, "Nan"', "O'Neil", '1990-01-01', '02139', '2020-01-01T10:00:00Z', '', '', '1,20']]);
    expect(r.stats.nonNumericValues).toBe(1);
  });

  it('maps non-numeric vital values through as text and counts them; skips and counts unknown patients', async () => {
    const d = folder(
      `${P_HEAD}\np1,1980-02-03,,Jane,Doe,01852\n`,
      `${O_HEAD}\n` +
        '2020-01-01T10:00:00Z,p1,e1,vital-signs,8480-6,Systolic Blood Pressure,12O,mm[Hg],numeric\n' +
        '2020-01-01T10:00:00Z,p1,e1,vital-signs,8462-4,Diastolic Blood Pressure,,mm[Hg],numeric\n' +
        '2020-01-01T10:00:00Z,ghost,e2,vital-signs,8480-6,Systolic Blood Pressure,120.0,mm[Hg],numeric\n' +
        '2020-01-01T10:00:00Z,ghost,e2,vital-signs,8867-4,Heart rate,70.0,/min,numeric\n' +
        '2020-01-01T10:00:00Z,ghost,e2,vital-signs,8302-2,Body Height,170.0,cm,numeric\n' +
        '2020-01-01T10:00:00Z,p1,,,QALY,QALY,1.0,a,numeric\n',
    );
    const r = await mapSynthea(d);
    expect(r.rows).toEqual([['p1', 'Jane', 'Doe', '1980-02-03', '01852', '2020-01-01T10:00:00Z', '12O', '', '']]);
    expect(r.stats).toMatchObject({ unknownPatientRows: 2, nonNumericValues: 1, emptyValues: 1, observationRows: 6, vitalObservations: 4 });
    expect(r.sources[0]).toEqual({ patientLine: 2, obsLines: [2, 3] });
  });

  it('keeps the first of two values for the same patient, DATE and code, and counts the second', async () => {
    const d = folder(
      `${P_HEAD}\np1,1980-02-03,,Jane,Doe,01852\n`,
      `${O_HEAD}\n` +
        '2020-01-01T10:00:00Z,p1,e1,vital-signs,8867-4,Heart rate,70.0,/min,numeric\n' +
        '2020-01-01T10:00:00Z,p1,e1,vital-signs,8867-4,Heart rate,70.0,/min,numeric\n' +
        '2020-01-01T10:00:00Z,p1,e1,vital-signs,8867-4,Heart rate,75.0,/min,numeric\n',
    );
    const r = await mapSynthea(d);
    expect(r.rows).toEqual([['p1', 'Jane', 'Doe', '1980-02-03', '01852', '2020-01-01T10:00:00Z', '', '', '70.0']]);
    expect(r.stats).toMatchObject({ duplicateVitals: 1, conflictingVitals: 1 });
  });

  it('a missing file is an error naming the file and the folder', async () => {
    const d = folder(`${P_HEAD}\n`, null);
    await expect(mapSynthea(d)).rejects.toThrow(`observations.csv not found in ${d}`);
    await expect(mapSynthea(path.join(d, 'nope'))).rejects.toThrow('patients.csv not found');
  });

  it('a missing required column is an error naming the file and the column', async () => {
    const d1 = folder('Id,FIRST,LAST,ZIP\np1,A,B,01852\n', `${O_HEAD}\n`);
    await expect(mapSynthea(d1)).rejects.toThrow(/patients\.csv: missing required column "BIRTHDATE"/);
    const d2 = folder(`${P_HEAD}\n`, 'DATE,PATIENT,ENCOUNTER,CODE,DESCRIPTION,UNITS\n');
    await expect(mapSynthea(d2)).rejects.toThrow(/observations\.csv: missing required column "VALUE"/);
    const d3 = folder('PATIENT_ID,BIRTHDATE,FIRST,LAST,ZIP\n', `${O_HEAD}\n`);
    await expect(mapSynthea(d3)).rejects.toThrow(/missing required column "ID"/);
    try {
      await mapSynthea(d2);
    } catch (err) {
      expect((err as { userFacing?: boolean }).userFacing).toBe(true);
    }
  });
});

describe('the events file', () => {
  it('quotes only fields that need it and tracks physical lines', () => {
    const t = formatEvents([...EVENTS_HEADER], [
      ['p1', 'Ann, "Nan"', 'Doe', '1980-01-01', '01852', '2020-01-01T10:00:00Z', '120.0', '', '70.0'],
      ['p2', 'Two\nLines', 'X', '', '', '2020-01-01T10:00:00Z', '', '', ''],
      ['p3', 'Plain', 'Y', '', '', '2020-01-01T10:00:00Z', '', '', ''],
    ]);
    expect(t.text).toBe(
      `${EVENTS_HEADER.join(',')}\n` +
        'p1,"Ann, ""Nan""",Doe,1980-01-01,01852,2020-01-01T10:00:00Z,120.0,,70.0\n' +
        'p2,"Two\nLines",X,,,2020-01-01T10:00:00Z,,,\n' +
        'p3,Plain,Y,,,2020-01-01T10:00:00Z,,,\n',
    );
    expect(t.lines).toEqual([2, 3, 5]);
  });

  itWithShared(`${SYNTHEA}/${KRVENKAT12}`, 'is written under a dot-prefixed .tmp name and renamed to events_<stamp>_<seq>.csv', async (krvenkat) => {
    const d = tmp();
    const r = await mapSynthea(krvenkat);
    const t = formatEvents(r.header, r.rows);
    const file = await writeEventsFile(d, '20261122T081500Z', 7, t.text);
    expect(path.basename(file)).toBe('events_20261122T081500Z_007.csv');
    expect(readdirSync(d)).toEqual(['events_20261122T081500Z_007.csv']);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toBe('patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate');
    expect(text.split('\n').filter((l) => l !== '').length).toBe(105);
    expect(text).toContain(',01852,');
  });
});
