// `medetl process` end to end: the built CLI in a child process, a real SQLite file read back
// through better-sqlite3 and the SQLite ODBC driver, real Parquet files read back by DuckDB.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { duckQuery, globOf } from '../helpers/duck.js';
import { eventsCsv, makeProject, plausibleRows, scanFor, walk, type EventRow } from '../helpers/project.js';

const OUTPUT_COLUMNS = ['patient_key', 'dob_year', 'age_years', 'event_year', 'event_date', 'zip3', 'systolic_bp', 'diastolic_bp', 'heart_rate', 'outlier_flags', 'batch_id'];

function sqliteRows(dir: string, sql = 'SELECT * FROM cleaned_events'): Record<string, unknown>[] {
  const db = new Database(path.join(dir, 'masked_out', 'cleaned.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

const CANARY = {
  patient_id: 'CANARY-MRN-884213',
  first_name: 'Zebulonia',
  last_name: 'Quaxworthy',
  dob: '1961-04-17',
  zip: '02139',
  event_ts: '2024-03-05T14:22:31Z',
};

describe('medetl process', () => {
  it('loads an events file into SQLite and Parquet with exactly the allow-listed columns, and no identifier anywhere', async () => {
    const p = makeProject();
    const rows: EventRow[] = [
      ...plausibleRows(300),
      { ...CANARY, systolic_bp: 121, diastolic_bp: 79, heart_rate: 66 },
      { ...CANARY, event_ts: '2024-03-06 09:15:00', systolic_bp: '12O', diastolic_bp: 80, heart_rate: '' },
      { ...CANARY, first_name: 'Zeb, "Z"', event_ts: '2024-03-07T08:00:00+01:00', systolic_bp: 118, diastolic_bp: 77, heart_rate: 71 },
    ];
    writeFileSync(p.file('events_canary.csv'), eventsCsv(rows));
    const r = p.run(['process', 'events_canary.csv']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Not an events_<digits>.csv name: shown as its keyed id (docs/privacy.md).
    expect(r.stdout).toMatch(/loaded file-[0-9a-f]{12}: in 303, loaded 303, rejected 0/);

    const sq = sqliteRows(p.dir);
    expect(sq).toHaveLength(303);
    expect(Object.keys(sq[0])).toEqual(OUTPUT_COLUMNS);
    const pq = await duckQuery(`SELECT * FROM read_parquet('${globOf(p.file('masked_out/parts'))}')`);
    expect(pq).toHaveLength(303);
    expect(Object.keys(pq[0])).toEqual(OUTPUT_COLUMNS);

    // The three canary rows: same patient_key, year-only dates, ZIP3, typo -> null + flag.
    const canary = sq.filter((x) => x.zip3 === '021' && x.dob_year === 1961);
    expect(canary).toHaveLength(3);
    expect(new Set(canary.map((x) => x.patient_key)).size).toBe(1);
    expect(canary.map((x) => x.event_year)).toEqual([2024, 2024, 2024]);
    expect(canary.every((x) => x.event_date === null)).toBe(true);
    const typo = canary.find((x) => String(x.outlier_flags).includes('invalid_systolic_bp'));
    expect(typo?.systolic_bp).toBeNull();

    // Canary scan: every byte under masked_out/ and logs/.
    const needles = [CANARY.patient_id, CANARY.first_name, CANARY.last_name, 'Zeb, ', CANARY.dob, '04/17/1961', CANARY.zip, '2024-03-05', '14:22:31', '2024-03-06', '09:15:00'];
    expect(walk(p.file('logs')).length).toBeGreaterThan(0);
    expect(scanFor([p.file('masked_out'), p.file('logs')], needles)).toEqual([]);
    // The scan itself works: the raw input does contain them.
    expect(scanFor([p.dir], [CANARY.patient_id]).map((h) => path.basename(h.file))).toEqual(['events_canary.csv']);
  });

  it('writes Parquet that DuckDB reads with DATE, INT32, DOUBLE types and no DELTA encodings; compact makes one file', async () => {
    const p = makeProject('deid:\n  profile: limited_data_set\n');
    writeFileSync(p.file('events_1.csv'), eventsCsv(plausibleRows(200, { seed: 1 })));
    writeFileSync(p.file('events_2.csv'), eventsCsv(plausibleRows(150, { seed: 2, startMs: Date.UTC(2024, 0, 1) })));
    expect(p.run(['process', 'events_1.csv', 'events_2.csv']).status).toBe(0);
    const parts = readdirSync(p.file('masked_out/parts'));
    expect(parts.filter((n) => n.endsWith('.parquet'))).toHaveLength(2);
    expect(parts.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const glob = globOf(p.file('masked_out/parts'));
    const schema = await duckQuery(`SELECT name, type, logical_type FROM parquet_schema('${glob}') WHERE name <> 'arrow_schema'`);
    const types = Object.fromEntries(schema.map((s) => [s.name, `${s.type}/${s.logical_type ?? ''}`]));
    expect(types.event_date).toMatch(/^INT32\/DateType/);
    expect(types.dob_year).toMatch(/^INT32\//);
    expect(types.systolic_bp).toMatch(/^DOUBLE\//);
    expect(types.patient_key).toMatch(/^BYTE_ARRAY\/StringType/);
    const enc = await duckQuery(`SELECT DISTINCT encodings, compression FROM parquet_metadata('${glob}')`);
    for (const e of enc) {
      expect(String(e.encodings)).not.toMatch(/DELTA/);
      expect(e.compression).toBe('SNAPPY');
    }
    const dates = await duckQuery(`SELECT min(event_date)::VARCHAR AS lo FROM read_parquet('${glob}')`);
    expect(dates[0].lo).toBe('2023-01-01');
    expect(p.run(['compact']).status).toBe(0);
    const all = await duckQuery(`SELECT count(*)::INT AS n, count(DISTINCT batch_id)::INT AS b FROM '${p.file('masked_out/cleaned.parquet').replace(/\\/g, '/')}'`);
    expect(all[0]).toEqual({ n: 350, b: 2 });
    const v = p.run(['verify']);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/2 batches; store 350 rows; Parquet 350 rows/);
  });

  it('is queryable through the SQLite ODBC driver with the declared types', () => {
    const probe = spawnSync('isql', ['--version'], { encoding: 'utf8' });
    if (probe.error) throw new Error('isql not found: apt-get install -y unixodbc libsqliteodbc (.ci/run does this)');
    const p = makeProject();
    writeFileSync(p.file('events_odbc.csv'), eventsCsv(plausibleRows(120)));
    expect(p.run(['process', 'events_odbc.csv']).status).toBe(0);
    const conn = `Driver=SQLite3;Database=${p.file('masked_out/cleaned.sqlite')}`;
    const q = (sql: string) => spawnSync('isql', ['-v', '-b', '-d|', '-x0x7c', '-k', conn], { input: sql, encoding: 'utf8' });
    const count = q('SELECT COUNT(*), MIN(event_year), ROUND(AVG(systolic_bp), 0) FROM cleaned_events;\n');
    expect(count.status).toBe(0);
    expect(count.stdout).toMatch(/^120\|2023\|\d+/m);
    const help = q('help cleaned_events\n');
    const typeOf: Record<string, string> = {};
    for (const line of help.stdout.split('\n')) {
      const f = line.split('|');
      if (f[2] === 'cleaned_events') typeOf[f[3]] = `${f[4]} ${f[5]}`;
    }
    expect(typeOf).toMatchObject({
      patient_key: '12 VARCHAR(64)', // SQL_VARCHAR
      dob_year: '4 INTEGER', // SQL_INTEGER
      event_date: '9 DATE', // SQL_DATE
      systolic_bp: '8 DOUBLE', // SQL_DOUBLE
      outlier_flags: '12 VARCHAR(255)',
    });
  });

  it('skips the same content dropped again under another name, and counts cross-batch duplicate events', () => {
    const p = makeProject();
    const rows = plausibleRows(100);
    writeFileSync(p.file('events_a.csv'), eventsCsv(rows));
    writeFileSync(p.file('events_b.csv'), eventsCsv(rows));
    writeFileSync(p.file('events_c.csv'), eventsCsv([...rows.slice(0, 40), ...plausibleRows(10, { prefix: 'new' })]));
    const arrived = new Date(Date.now() - 30_000);
    utimesSync(p.file('events_c.csv'), arrived, arrived); // it arrived 30 s ago
    const r = p.run(['process', 'events_a.csv', 'events_b.csv', 'events_c.csv', '--json']);
    expect(r.status).toBe(0);
    const results = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(results.map((x) => x.status)).toEqual(['loaded', 'skipped_duplicate', 'loaded']);
    expect(results[2]).toMatchObject({ rowsIn: 50, loaded: 10, duplicates: 40 });
    expect(sqliteRows(p.dir)).toHaveLength(110);
    const log = readFileSync(p.file('logs/pipeline.log'), 'utf8');
    expect(log).toMatch(/"event":"batch_skipped_duplicate"/);
    expect(p.run(['verify']).status).toBe(0);
    const status = JSON.parse(p.run(['status', '--json']).stdout);
    expect(status).toMatchObject({ processed: 2, rows: { store: 110, parquet: 110, agree: true }, daemon: { running: false } });
    expect(status.lastBatch.file).toMatch(/^file-[0-9a-f]{12}$/); // events_c.csv, shown as its keyed id
    expect(status.lastBatch.latencyMs).toBeGreaterThanOrEqual(29_000);
    expect(status.lastBatch.latencyMs).toBeLessThan(120_000);
    expect(status.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(status.keyIdsInLedger).toEqual([status.keyId]);
  });

  it('quarantines a file missing a required column with a machine-readable reason, and the files around it still load', () => {
    const p = makeProject();
    writeFileSync(p.file('events_1.csv'), eventsCsv(plausibleRows(20, { seed: 1 })));
    writeFileSync(p.file('events_bad.csv'), 'patient_id,dob,event_ts,heart_rate\nCANARY-MRN-884213,1961-04-17,2024-01-01,70\n');
    writeFileSync(p.file('events_2.csv'), eventsCsv(plausibleRows(20, { seed: 2, prefix: 'b' })));
    const r = p.run(['process', 'events_1.csv', 'events_bad.csv', 'events_2.csv']);
    expect(r.status).toBe(3);
    expect(existsSync(p.file('events_bad.csv'))).toBe(false);
    const reason = JSON.parse(readFileSync(p.file('quarantine/events_bad.csv.reason.json'), 'utf8'));
    expect(reason).toMatchObject({ reason: 'missing_columns', columns: ['zip', 'systolic_bp', 'diastolic_bp'], lines: [1] });
    expect(JSON.stringify(reason)).not.toContain('CANARY');
    expect(existsSync(p.file('quarantine/events_bad.csv'))).toBe(true);
    expect(sqliteRows(p.dir)).toHaveLength(40);
    // File names are private bookkeeping: the reason is recorded outside masked_out/.
    const db = new Database(p.file('.medetl/private.sqlite'), { readonly: true });
    expect(db.prepare('SELECT reason_code FROM quarantined').pluck().all()).toEqual(['missing_columns']);
    db.close();
  });

  it('handles a header-only file (an empty batch), an empty file and binary garbage without losing the others', async () => {
    const p = makeProject();
    writeFileSync(p.file('events_h.csv'), 'patient_id,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate\n');
    writeFileSync(p.file('events_empty.csv'), '');
    writeFileSync(p.file('events_bin.csv'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919 + 13) % 256)));
    writeFileSync(p.file('events_ok.csv'), eventsCsv(plausibleRows(25)));
    const r = p.run(['process', 'events_h.csv', 'events_empty.csv', 'events_bin.csv', 'events_ok.csv', '--json']);
    expect(r.status).toBe(3);
    const res = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(res.map((x) => [x.status, x.reason?.code ?? null, x.loaded])).toEqual([
      ['loaded', null, 0],
      ['quarantined', 'empty_file', 0],
      ['quarantined', 'missing_columns', 0],
      ['loaded', null, 25],
    ]);
    const pq = await duckQuery(`SELECT count(*)::INT AS n FROM read_parquet('${globOf(p.file('masked_out/parts'))}')`);
    expect(pq[0].n).toBe(25);
    expect(p.run(['verify']).status).toBe(0);
  });

  it('writes rejected rows with line numbers and reasons to quarantine/<file>.rejects.csv', () => {
    const p = makeProject();
    const rows = plausibleRows(50);
    rows[4] = { ...rows[4], patient_id: '' };
    rows[9] = { ...rows[9], event_ts: '31/31/2024' };
    writeFileSync(p.file('events_r.csv'), eventsCsv(rows));
    const r = p.run(['process', 'events_r.csv']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/rejected 2 \(missing_patient_id=1,invalid_event_ts=1\)/);
    expect(readFileSync(p.file('quarantine/events_r.csv.rejects.csv'), 'utf8')).toBe('line,reason\n6,missing_patient_id\n11,invalid_event_ts\n');
  });

  it('refuses to run without a key, with a short key, or with the example key', () => {
    const none = makeProject('', { key: null });
    writeFileSync(none.file('events_x.csv'), eventsCsv(plausibleRows(5)));
    const r1 = none.run(['process', 'events_x.csv']);
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/MEDETL_HMAC_KEY is not set: run "medetl init"/);
    const short = makeProject('', { key: 'abcd1234' });
    writeFileSync(short.file('events_x.csv'), eventsCsv(plausibleRows(5)));
    expect(short.run(['process', 'events_x.csv']).stderr).toMatch(/must be 32 random bytes written as 64 hex digits/);
    const example = readFileSync(path.join(__dirname, '../../.env.example'), 'utf8').match(/^MEDETL_HMAC_KEY=(.*)$/m)![1];
    const ex = makeProject('', { key: example });
    writeFileSync(ex.file('events_x.csv'), eventsCsv(plausibleRows(5)));
    expect(ex.run(['process', 'events_x.csv']).stderr).toMatch(/example key/);
    expect(existsSync(ex.file('masked_out/cleaned.sqlite'))).toBe(false);
  });

  it('reports a wrong config value with its path and what is allowed', () => {
    const p = makeProject('outliers:\n  method: iqq\nsinks:\n  parquet:\n    compression: lzo\n');
    const r = p.run(['verify']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('outliers.method must be "iqr" or "mad", got "iqq"');
    expect(r.stderr).toMatch(/sinks\.parquet\.compression must be one of "snappy", "zstd", "gzip", "uncompressed", got "lzo"/);
  });

  it('init writes a 256-bit key once, mode 0600, and never overwrites it', () => {
    const p = makeProject('', { key: null });
    const r1 = p.run(['init']);
    expect(r1.status).toBe(0);
    const env1 = readFileSync(p.file('.env'), 'utf8');
    expect(env1).toMatch(/^MEDETL_HMAC_KEY=[0-9a-f]{64}$/m);
    if (process.platform !== 'win32') expect(readdirSync(p.dir).includes('.env')).toBe(true);
    const r2 = p.run(['init']);
    expect(r2.stdout).toMatch(/already set/);
    expect(readFileSync(p.file('.env'), 'utf8')).toBe(env1);
    for (const d of ['incoming', 'quarantine', 'masked_out', 'logs', 'synthea_stream']) expect(existsSync(p.file(d))).toBe(true);
  });
});
