// The SQL shapes Power BI DirectQuery sends through the MedetlSQLite connector, run through unixODBC `isql` and the
// real SQLite ODBC driver against a masked_out/cleaned.sqlite the real pipeline made; answers are checked against
// the rows read with better-sqlite3 and computed here. Then the same queries again while `medetl watch` loads more
// files into the same database (WAL readers must keep working and never see half a batch).
// Only cleaned_events columns are used, so the tests hold for the narrow v2 store (cleaned_events as a view).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECLARED } from '../../src/powerbi/connector.js';
import { CLEANED_EVENTS } from '../../src/powerbi/tables.js';
import { eventsCsv, makeProject, plausibleRows, spawnCli, type Project } from '../helpers/project.js';

interface Row {
  patient_key: string;
  dob_year: number | null;
  age_years: number | null;
  event_year: number | null;
  event_date: string | null;
  zip3: string | null;
  systolic_bp: number | null;
  diastolic_bp: number | null;
  heart_rate: number | null;
  outlier_flags: string;
  batch_id: string;
}

interface IsqlResult {
  ok: boolean;
  header: string[];
  rows: string[][];
  error: string;
}

/** The derived table Power Query wraps around a table: select ... from "cleaned_events" as "$Table". */
const COLS = CLEANED_EVENTS.columns.map((c) => `"$Table"."${c.name}"`).join(', ');
const FROM = `(select ${COLS} from "cleaned_events" as "$Table") as "_"`;

function isql(conn: string, sql: string): Promise<IsqlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('isql', ['-b', '-k', '-v', '-x0x09', '-c', conn], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.stdin.on('error', () => {}); // isql gone before reading its input: reported through its exit code
    child.on('close', (code) => {
      const text = `${out}\n${err}`;
      const failed = code !== 0 || /\[ISQL\]ERROR|^\[[0-9A-Z]{5}\]/m.test(text);
      const lines = out.split('\n').filter((l) => l !== '' && !/^\[[0-9A-Z]{5}\]/.test(l) && !l.startsWith('[ISQL]') && !/^SQLRowCount/.test(l));
      resolve({ ok: !failed, header: lines[0]?.split('\t') ?? [], rows: lines.slice(1).map((l) => l.split('\t')), error: failed ? text.trim() : '' });
    });
    child.stdin.end(`${sql.replace(/\s*\n\s*/g, ' ')}\n`);
  });
}

/** A value as isql prints it vs as JS holds it: numbers compared to 12 significant digits, NULL as ''. */
const norm = (v: unknown): string => {
  if (v === null || v === undefined || v === '') return '';
  const n = typeof v === 'number' ? v : Number(v);
  return typeof v === 'number' || (/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(String(v)) && Number.isFinite(n)) ? String(Number(n.toPrecision(12))) : String(v);
};
const sortedNorm = (vs: unknown[]) => vs.map(norm).sort();

async function ok(conn: string, sql: string): Promise<IsqlResult> {
  const r = await isql(conn, sql);
  expect(r.error, sql).toBe('');
  return r;
}

describe('DirectQuery SQL shapes through unixODBC and the SQLite ODBC driver', () => {
  let p: Project;
  let conn: string;
  let rows: Row[];

  beforeAll(() => {
    const probe = spawnSync('isql', ['--version'], { encoding: 'utf8' });
    if (probe.error) throw new Error('isql not found: apt-get install -y unixodbc libsqliteodbc (.ci/run does this)');
    // limited_data_set keeps event_date, so the date literals have something to compare with.
    p = makeProject('deid:\n  profile: limited_data_set\nwatch:\n  stable_ms: 100\n  rescan_ms: 500\n');
    writeFileSync(p.file('events_0001.csv'), eventsCsv(plausibleRows(1500, { patients: 40, prefix: 'a', startMs: Date.UTC(2023, 11, 31, 10) })));
    const r = p.run(['process', 'events_0001.csv']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    conn = `Driver=SQLite3;Database=${p.file('masked_out/cleaned.sqlite')};NoCreat=1;Timeout=5000`;
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    rows = db.prepare('SELECT * FROM cleaned_events').all() as Row[];
    db.close();
    expect(rows).toHaveLength(1500);
    expect(new Set(rows.map((x) => x.event_year))).toEqual(new Set([2023, 2024]));
  });
  afterAll(() => p && rmSync(p.dir, { recursive: true, force: true }));

  it('the driver reports the declared types of cleaned_events: integer, double, varchar, date', async () => {
    const r = await ok(conn, 'help cleaned_events');
    const at = (name: string) => r.header.indexOf(name);
    const types = new Map(r.rows.map((x) => [x[at('COLUMN_NAME')], x[at('TYPE_NAME')]]));
    expect([...types.keys()]).toEqual(CLEANED_EVENTS.columns.map((c) => c.name));
    for (const c of CLEANED_EVENTS.columns) {
      const want = c.type === 'int' || c.type === 'bigint' ? /^integer/i : c.type === 'double' ? /^double/i : c.type === 'date' ? /^date$/i : /^varchar/i;
      expect(types.get(c.name), c.name).toMatch(want);
    }
  });

  it('group by over the "_" / "$Table" derived tables with aggregates and limit 1000001', async () => {
    const r = await ok(
      conn,
      `select "_"."event_year" as "c1", count(distinct("_"."patient_key")) as "a0", count(1) as "a1", sum("_"."systolic_bp") as "a2",
        avg("_"."heart_rate") as "a3", min("_"."diastolic_bp") as "a4", max("_"."diastolic_bp") as "a5"
       from ${FROM} group by "_"."event_year" order by "_"."event_year" limit 1000001`,
    );
    expect(r.header).toEqual(['c1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    const years = [...new Set(rows.map((x) => x.event_year))].sort();
    const want = years.map((y) => {
      const g = rows.filter((x) => x.event_year === y);
      const num = (k: 'systolic_bp' | 'heart_rate' | 'diastolic_bp') => g.map((x) => x[k]).filter((v): v is number => v !== null);
      const hr = num('heart_rate');
      return [y, new Set(g.map((x) => x.patient_key)).size, g.length, num('systolic_bp').reduce((a, b) => a + b, 0), hr.reduce((a, b) => a + b, 0) / hr.length, Math.min(...num('diastolic_bp')), Math.max(...num('diastolic_bp'))].map(norm);
    });
    expect(r.rows.map((x) => x.map(norm))).toEqual(want);
  });

  it('no TOP; LIMIT, and OFFSET only after a LIMIT (hence LimitClauseKind.Limit)', async () => {
    expect((await isql(conn, `select top 1000001 "_"."zip3" from ${FROM}`)).ok).toBe(false);
    expect((await ok(conn, `select count(*) from (select "_"."zip3" from ${FROM} limit 5 offset 10) as "t"`)).rows).toEqual([['5']]);
    expect((await ok(conn, `select count(*) from (select "_"."zip3" from ${FROM} limit -1 offset 10) as "t"`)).rows).toEqual([[String(rows.length - 10)]]);
    expect((await isql(conn, `select "_"."zip3" from ${FROM} offset 10`)).ok).toBe(false);
  });

  it('{d ...} literals filter dates correctly; {ts ...} arrive as text (and compare as text with a date: a documented limit)', async () => {
    const after = rows.filter((x) => x.event_date !== null && x.event_date >= '2024-01-01').length;
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThan(rows.length);
    expect((await ok(conn, `select count(*) from ${FROM} where "_"."event_date" >= {d '2024-01-01'}`)).rows).toEqual([[String(after)]]);
    const before = rows.filter((x) => x.event_date !== null && x.event_date < '2024-01-01').length;
    expect((await ok(conn, `select count(*) from ${FROM} where "_"."event_date" < {d '2024-01-01'}`)).rows).toEqual([[String(before)]]);
    expect((await ok(conn, `select {ts '2024-01-01 00:00:00'} as "t", {d '2024-01-01'} as "d"`)).rows).toEqual([['2024-01-01 00:00:00', '2024-01-01']]);
    // '2024-01-01' < '2024-01-01 00:00:00' as text: a timestamp bound drops the boundary day. docs/powerbi.md says so.
    const strictlyAfter = rows.filter((x) => x.event_date !== null && x.event_date > '2024-01-01').length;
    expect(strictlyAfter).toBeLessThan(after);
    expect((await ok(conn, `select count(*) from ${FROM} where "_"."event_date" >= {ts '2024-01-01 00:00:00'}`)).rows).toEqual([[String(strictlyAfter)]]);
  });

  it('every scalar function the connector declares runs through the driver and gives the right values', async () => {
    const cases: Record<string, { sql: string; want: (x: Row) => unknown }> = {
      LTRIM: { sql: `{fn LTRIM('  ' || "_"."zip3")}`, want: (x) => x.zip3 },
      RTRIM: { sql: `{fn RTRIM("_"."zip3" || '  ')}`, want: (x) => x.zip3 },
      LENGTH: { sql: `{fn LENGTH("_"."patient_key")}`, want: (x) => x.patient_key.length },
      REPLACE: { sql: `{fn REPLACE("_"."patient_key", 'a', '_')}`, want: (x) => x.patient_key.replaceAll('a', '_') },
      ABS: { sql: `{fn ABS(0 - "_"."systolic_bp")}`, want: (x) => (x.systolic_bp === null ? null : Math.abs(x.systolic_bp)) },
      ROUND: { sql: `{fn ROUND("_"."heart_rate", 0)}`, want: (x) => (x.heart_rate === null ? null : Math.round(x.heart_rate)) },
      IFNULL: { sql: `{fn IFNULL("_"."heart_rate", -1)}`, want: (x) => x.heart_rate ?? -1 },
      LOWER: { sql: `lower("_"."batch_id")`, want: (x) => x.batch_id.toLowerCase() },
      UPPER: { sql: `upper("_"."patient_key")`, want: (x) => x.patient_key.toUpperCase() },
    };
    const declared = [...Object.values(DECLARED).flatMap((g) => Object.keys(g))];
    expect(Object.keys(cases).sort()).toEqual(declared.sort());
    for (const [name, c] of Object.entries(cases)) {
      const r = await ok(conn, `select ${c.sql} as "v" from ${FROM}`);
      expect(sortedNorm(r.rows.map((x) => x[0])), name).toEqual(sortedNorm(rows.map(c.want)));
    }
  });

  it('undeclared escapes fail in the driver (why they are not declared); CAST works, {fn CONVERT} does not', async () => {
    for (const f of [`{fn UCASE("_"."zip3")}`, `{fn CONCAT("_"."zip3", 'x')}`, `{fn LEFT("_"."zip3", 2)}`, `{fn YEAR("_"."event_date")}`, `{fn CONVERT("_"."event_year", SQL_VARCHAR)}`])
      expect((await isql(conn, `select ${f} from ${FROM} limit 1`)).ok, f).toBe(false);
    const r = await ok(conn, `select cast("_"."event_year" as varchar(4)) || '-' as "v" from ${FROM}`);
    expect(sortedNorm(r.rows.map((x) => x[0]))).toEqual(sortedNorm(rows.map((x) => `${x.event_year}-`)));
  });

  it('predicates (BETWEEN, IN, IS NOT NULL, LIKE) and a left outer join of two derived tables', async () => {
    const want = rows.filter((x) => x.age_years !== null && x.age_years >= 18 && x.age_years <= 64 && ['021', '000'].includes(x.zip3 ?? '') && x.dob_year !== null && x.patient_key.includes('a')).length;
    expect(want).toBeGreaterThan(0);
    const r = await ok(conn, `select count(*) from ${FROM} where ("_"."age_years" between 18 and 64) and "_"."zip3" in ('021', '000') and "_"."dob_year" is not null and "_"."patient_key" like '%a%'`);
    expect(r.rows).toEqual([[String(want)]]);
    const j = await ok(
      conn,
      `select "a"."event_year", "a"."n", "b"."n2" from (select "_"."event_year" as "event_year", count(*) as "n" from ${FROM} group by "_"."event_year") as "a"
       left outer join (select "_"."event_year" as "event_year", count(*) as "n2" from ${FROM} where "_"."heart_rate" > 80 group by "_"."event_year") as "b"
       on ("a"."event_year" = "b"."event_year") order by "a"."event_year"`,
    );
    const years = [...new Set(rows.map((x) => x.event_year))].sort();
    expect(j.rows.map((x) => x.map(norm))).toEqual(
      years.map((y) => {
        const n2 = rows.filter((x) => x.event_year === y && (x.heart_rate ?? 0) > 80).length;
        return [y, rows.filter((x) => x.event_year === y).length, n2 || null].map(norm);
      }),
    );
  });

  it('keeps answering while `medetl watch` loads more files into the same database: whole batches only', async () => {
    const FILES = 6;
    const PER = 2000;
    const base = rows.length;
    const watch = spawnCli(p.dir, ['watch', '--quiet']);
    let watchErr = '';
    watch.stderr.on('data', (c) => (watchErr += c));
    const seen: { n: number; batches: number }[] = [];
    const failures: string[] = [];
    let loading = true;
    const reader = (async () => {
      while (loading) {
        const r = await isql(conn, `select count(*) as "n", count(distinct("_"."batch_id")) as "b" from ${FROM} limit 1000001`);
        if (!r.ok) failures.push(r.error);
        else seen.push({ n: Number(r.rows[0][0]), batches: Number(r.rows[0][1]) });
      }
    })();
    const count = () => {
      const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
      try {
        return db.prepare('SELECT COUNT(*) FROM cleaned_events').pluck().get() as number;
      } finally {
        db.close();
      }
    };
    mkdirSync(p.file('incoming'), { recursive: true });
    try {
      for (let f = 0; f < FILES; f++) {
        const csv = eventsCsv(plausibleRows(PER, { patients: 25, prefix: `w${f}`, seed: 100 + f, startMs: Date.UTC(2024, 1 + f, 1) }));
        writeFileSync(p.file(`incoming/.events_w${f}.part`), csv);
        renameSync(p.file(`incoming/.events_w${f}.part`), p.file(`incoming/events_w${f}.csv`));
        await new Promise((r) => setTimeout(r, 250));
      }
      const deadline = Date.now() + 60_000;
      while (count() < base + FILES * PER && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    } finally {
      loading = false;
      await reader;
      watch.kill('SIGINT');
      await new Promise((r) => watch.once('close', r));
    }
    expect(watchErr).toBe('');
    expect(count()).toBe(base + FILES * PER);
    expect(failures).toEqual([]);
    expect(seen.length).toBeGreaterThan(FILES);
    // Every snapshot holds whole batches, and never goes back.
    for (const s of seen) expect([(s.n - base) % PER, s.batches - 1 - (s.n - base) / PER]).toEqual([0, 0]);
    for (let i = 1; i < seen.length; i++) expect(seen[i].n).toBeGreaterThanOrEqual(seen[i - 1].n);
    expect(new Set(seen.map((s) => s.n)).size, 'the reader saw the loading in progress').toBeGreaterThanOrEqual(3);
    process.stdout.write(`odbc reads during watch: ${seen.length}, distinct totals ${new Set(seen.map((s) => s.n)).size}, failures ${failures.length}\n`);
    const last = await ok(conn, `select count(*) from ${FROM}`);
    expect(last.rows).toEqual([[String(base + FILES * PER)]]);
  });
});
