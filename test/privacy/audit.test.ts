// `medetl audit` (dist/cli.js) on a project after real loads exits 0; each kind of finding, planted in a copy of that
// project, makes it exit 6 with a line naming the kind and the place. The byte scanner matches tokens only.
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { NeedleSet } from '../../src/privacy/scan.js';
import { runFiles } from '../../src/run.js';
import { compactParts } from '../../src/sinks/parquet/compact.js';
import { duckQuery } from '../helpers/duck.js';
import { eventsCsv, makeProject, plausibleRows, runCliAsync, TEST_KEY, type EventRow } from '../helpers/project.js';

const NOW = '2026-01-15T12:00:00Z';
const OLD: EventRow = {
  patient_id: 'MRN-OLD-77', first_name: 'Oldest', last_name: 'Person', dob: '1930-02-02', zip: '03601', event_ts: '2025-03-04T05:06:07Z',
  systolic_bp: 130, diastolic_bp: 85, heart_rate: 72,
};
const UNSAFE = 'events_MRN777_Doe.csv';
let base: string;

/** A copy of the loaded project, with MEDETL_NOW pinned in its .env. */
function copy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medetl-audit-case-'));
  cpSync(base, dir, { recursive: true });
  return dir;
}

function sql(dir: string, statements: string): void {
  const db = new Database(path.join(dir, 'masked_out', 'cleaned.sqlite'));
  try {
    db.exec(statements);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  const p = makeProject();
  writeFileSync(p.file('.env'), `MEDETL_HMAC_KEY=${TEST_KEY}\nMEDETL_NOW=${NOW}\n`, { mode: 0o600 });
  writeFileSync(p.file('events_1.csv'), eventsCsv([...plausibleRows(60, { seed: 1 }), OLD, { ...OLD, event_ts: '2025-06-07T08:09:10Z' }]));
  writeFileSync(p.file(UNSAFE), eventsCsv(plausibleRows(30, { seed: 2, prefix: 'zz', startMs: Date.UTC(2025, 0, 1) })));
  const config = loadConfig(p.file('config.yaml'), {});
  const s = await runFiles(config, [p.file('events_1.csv'), p.file(UNSAFE)], { onSuccess: 'keep' });
  expect(s.loaded).toBe(2);
  await compactParts(config.resolved.parts, config.resolved.compactParquet, 'snappy');
  base = p.dir;
});

describe('medetl audit', () => {
  it('a project after real loads: no findings, with the canary run and --against the loaded files', async () => {
    const r = await runCliAsync(base, ['audit', '--against', 'events_1.csv', UNSAFE]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('audit: no findings\n');
    expect(r.status).toBe(0);
    // The canary project is gone.
    expect(readdirSync(os.tmpdir()).filter((n) => n.startsWith('medetl-audit-canary-'))).toEqual([]);
  });

  it('each finding kind: exit 6 and a clear line', async () => {
    const cases: { name: string; plant: (dir: string) => Promise<void> | void; args?: string[]; expect: RegExp }[] = [
      { name: 'unknown table', plant: (d) => sql(d, 'CREATE TABLE leak (file_name TEXT)'), expect: /^FINDING release_schema: masked_out\/cleaned\.sqlite: table leak is not on the release allow-list$/m },
      {
        name: 'unknown column', plant: (d) => sql(d, 'ALTER TABLE batches ADD COLUMN source_file TEXT'),
        expect: /^FINDING release_schema: masked_out\/cleaned\.sqlite: table batches has column\(s\) not on the allow-list: source_file$/m,
      },
      { name: 'unknown file', plant: (d) => writeFileSync(path.join(d, 'masked_out', 'notes.txt'), 'x'), expect: /^FINDING release_file: masked_out\/file-[0-9a-f]{12}: a file that is not on the release allow-list$/m },
      {
        name: '90+ row with a year (SQLite)', plant: (d) => sql(d, 'UPDATE events SET event_year = 2025 WHERE age_years = 90'),
        expect: /^FINDING age90_year: masked_out\/cleaned\.sqlite: 2 row\(s\) with age_years >= 90 carry dob_year or event_year$/m,
      },
      {
        name: '90+ row with a year (Parquet)',
        plant: async (d) => {
          const parts = path.join(d, 'masked_out', 'parts');
          for (const n of readdirSync(parts)) {
            const f = path.join(parts, n).replace(/\\/g, '/');
            await duckQuery(`COPY (SELECT * REPLACE (CASE WHEN age_years = 90 THEN 2025 ELSE event_year END AS event_year) FROM read_parquet('${f}')) TO '${f}.x' (FORMAT parquet)`);
            renameSync(`${f}.x`, f);
          }
        },
        expect: /^FINDING age90_year: masked_out\/parts: 2 Parquet row\(s\) with age_years >= 90 carry dob_year or event_year$/m,
      },
      {
        // the same plant, judged per patient (a second pass over the parts counts only the 90+ patients' rows)
        name: '90+ patient with rows that carry a year (Parquet)',
        plant: async (d) => {
          const parts = path.join(d, 'masked_out', 'parts');
          for (const n of readdirSync(parts)) {
            const f = path.join(parts, n).replace(/\\/g, '/');
            await duckQuery(`COPY (SELECT * REPLACE (CASE WHEN age_years = 90 THEN 2025 ELSE event_year END AS event_year) FROM read_parquet('${f}')) TO '${f}.x' (FORMAT parquet)`);
            renameSync(`${f}.x`, f);
          }
        },
        expect: /^FINDING age90_year: masked_out\/parts: 2 Parquet row\(s\) of patients aged 90\+ carry dob_year or event_year$/m,
      },
      { name: 'zip3 off the allow-list', plant: (d) => sql(d, "UPDATE events SET zip3 = '036' WHERE zip3 = '021'"), expect: /^FINDING zip3: masked_out\/cleaned\.sqlite: \d+ row\(s\) with a zip3 that is not on the allow-list \(table census2020\)$/m },
      { name: 'two profiles', plant: (d) => sql(d, "UPDATE batches SET deid_profile = 'limited_data_set' WHERE seq = 1"), expect: /^FINDING profile: masked_out\/cleaned\.sqlite: the store mixes profiles: limited_data_set, safe_harbor$/m },
      { name: 'a full date', plant: (d) => sql(d, "UPDATE events SET event_date = '2025-03-04' WHERE rowid = 1"), expect: /^FINDING date_precision: masked_out\/cleaned\.sqlite: 1 row\(s\) with an event_date outside the limited_data_set profile$/m },
      {
        name: 'a tampered attestation',
        plant: (d) => {
          const dir = path.join(d, 'masked_out', 'attestations');
          const f = path.join(dir, readdirSync(dir)[0]);
          writeFileSync(f, readFileSync(f, 'utf8').replace(/"rows": (\d+)/, (_m, n) => `"rows": ${Number(n) + 1}`));
        },
        expect: /^FINDING attestation: masked_out\/attestations\/[0-9a-f]{20}\.json: invalid: the signature does not match: the document was changed$/m,
      },
      { name: 'a missing attestation', plant: (d) => sql(d, 'DELETE FROM attestations WHERE batch_id IN (SELECT batch_id FROM batches WHERE seq = 2)'), expect: /^FINDING attestation: attestations table, batch [0-9a-f]{20}: missing$/m },
      {
        name: 'a small cell', plant: (d) => sql(d, 'CREATE TABLE kpi_leak (event_year INTEGER, patients INTEGER); INSERT INTO kpi_leak VALUES (2025, 3), (2025, 40)'),
        expect: /^FINDING small_cell: masked_out\/cleaned\.sqlite kpi_leak: 1 cell\(s\) over 1 to 10 patients are not suppressed$/m,
      },
      {
        name: 'a raw id in the log (--against)', plant: (d) => appendFileSync(path.join(d, 'logs', 'pipeline.log'), '{"msg":"row of MRN-OLD-77"}\n'), args: ['--against', 'events_1.csv'],
        expect: /^FINDING raw_identifier: logs\/pipeline\.log @\d+: a patient_id value from --against events_1\.csv$/m,
      },
      {
        name: 'a file name the policy hides, in the store', plant: (d) => sql(d, `CREATE TABLE IF NOT EXISTS qc_note AS SELECT '${UNSAFE}' AS x`),
        expect: /^FINDING raw_identifier: masked_out\/cleaned\.sqlite @\d+: a file_name value from the private state$/m,
      },
    ];
    const results = await Promise.all(
      cases.map(async (c) => {
        const dir = copy();
        await c.plant(dir);
        return { c, r: await runCliAsync(dir, ['audit', '--no-canary', ...(c.args ?? [])]) };
      }),
    );
    for (const { c, r } of results) {
      expect(r.status, `${c.name}: ${r.stdout}${r.stderr}`).toBe(6);
      expect(r.stdout, c.name).toMatch(c.expect);
      expect(r.stdout, c.name).toMatch(/^audit: \d+ finding\(s\)$/m);
      // A finding names kinds and places, never the value it found.
      expect(r.stdout, c.name).not.toMatch(/MRN-OLD-77|MRN777|Oldest/);
    }
  });
});

describe('the byte scanner', () => {
  const needles = new NeedleSet([
    { value: '02139', kind: 'zip', source: 't' },
    { value: '12345', kind: 'zip', source: 't' },
    { value: 'MRN-884213', kind: 'patient_id', source: 't' },
    { value: '1961-04-17', kind: 'dob', source: 't' },
  ]);
  const kinds = (text: string, asText = true) => needles.scan(Buffer.from(text), asText).map((h) => h.needle.value).sort();

  it('matches tokens, not substrings: a ZIP inside a 64-hex key or a longer number is no hit', () => {
    expect(kinds(`key ${'ab'.repeat(10)}02139${'cd'.repeat(10)} id MRN-8842130 x1961-04-17`)).toEqual([]);
    expect(kinds('"patient_key":"f02139e","n":102139')).toEqual([]);
    expect(kinds('zip "02139", id MRN-884213; born 1961-04-17')).toEqual(['02139', '1961-04-17', 'MRN-884213']);
  });

  it('counts in JSON are not ZIPs (unless they keep a leading zero); binary files get no such exception', () => {
    expect(kinds('{"ms":12345,"rows":[12345]}')).toEqual([]);
    expect(kinds('{"zip":12345}', false)).toEqual(['12345']);
    expect(kinds('{"zip":"12345"}')).toEqual(['12345']);
    expect(kinds('{"n":02139}')).toEqual(['02139']);
  });

  it('in binary files a long needle with a separator matches even glued to a record byte; names keep the token rule', () => {
    // A record byte before the id (one side glued), and a date glued on both sides (its interior token stands free).
    const glued = Buffer.concat([Buffer.from([0x37]), Buffer.from('MRN-884213'), Buffer.from([0x00, 0x37]), Buffer.from('1961-04-17a')]);
    expect(needles.scan(glued, false).map((h) => h.needle.value).sort()).toEqual(['1961-04-17', 'MRN-884213']);
    expect(needles.scan(glued, true)).toEqual([]); // in text the token rule holds
    expect(kinds(`7${'ab'.repeat(4)}02139`, false)).toEqual([]);
  });

  it('in compressed bytes (Parquet pages) hex-digit needles are left to the decoded values and the footer', () => {
    const b = Buffer.from('\x01' + '02139' + '\x02' + 'MRN-884213' + '\x03');
    expect(needles.scan(b, false, true).map((h) => h.needle.value)).toEqual(['MRN-884213']);
    expect(needles.scan(b, false, false).map((h) => h.needle.value).sort()).toEqual(['02139', 'MRN-884213']);
  });

  it('finds UTF-16LE text too', () => {
    const hits = needles.scan(Buffer.from('xx MRN-884213 yy', 'utf16le'), false);
    expect(hits.map((h) => [h.needle.value, h.encoding])).toEqual([['MRN-884213', 'utf16le']]);
  });

  it('skips needles too short to match meaningfully, and says so', () => {
    const s = new NeedleSet([{ value: '7', kind: 'patient_id', source: 't' }, { value: '--', kind: 'x', source: 't' }]);
    expect(s.size).toBe(0);
    expect(s.skipped).toHaveLength(2);
  });
});
