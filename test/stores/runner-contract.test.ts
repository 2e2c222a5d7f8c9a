// The exactly-once protocol (src/runner.ts) against every store, through the built CLI: SIGKILL at increasing delays
// while a file loads, then recovery of staged parts, rows in = loaded + rejected + duplicates, and parity between the
// store and the Parquet parts (DuckDB reads the parts; the store is read by `medetl verify` and directly).
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { duckQuery, globOf } from '../helpers/duck.js';
import { eventsCsv, makeProject, plausibleRows, spawnCli } from '../helpers/project.js';
import { pgAvailable, pgDatabase } from '../helpers/services.js';

interface StoreUnderTest {
  name: string;
  /** config.yaml text and .env lines for a project on this store; null when the store's service is unavailable. */
  setup(): Promise<{ yaml: string; env: Record<string, string>; rows(projectDir: string): Promise<number>; dispose(): Promise<void> } | null>;
}

const stores: StoreUnderTest[] = [
  {
    name: 'sqlite',
    async setup() {
      return {
        yaml: '',
        env: {},
        rows: async (dir) => {
          const db = new Database(path.join(dir, 'masked_out', 'cleaned.sqlite'), { readonly: true });
          try {
            return db.prepare('SELECT COUNT(*) FROM cleaned_events').pluck().get() as number;
          } finally {
            db.close();
          }
        },
        dispose: async () => undefined,
      };
    },
  },
  {
    name: 'postgres',
    async setup() {
      if (!(await pgAvailable())) return null;
      const db = await pgDatabase();
      return {
        yaml: 'store: postgres\n',
        env: { MEDETL_PG_URL: db.url },
        rows: async () => {
          const c = new pg.Client({ connectionString: db.url });
          await c.connect();
          try {
            return Number((await c.query('SELECT count(*) AS n FROM medetl.cleaned_events')).rows[0].n);
          } finally {
            await c.end();
          }
        },
        dispose: () => db.drop(),
      };
    },
  },
];

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

for (const s of stores) {
  describe(`the exactly-once protocol on the ${s.name} store`, () => {
    it('survives SIGKILL at any moment: no partial batch in either sink, staged parts recovered, the next run loads the file once', { timeout: 120_000 }, async () => {
      const st = await s.setup();
      if (!st) return; // the helper printed why (and CI fails instead)
      cleanups.push(st.dispose);
      const p = makeProject(st.yaml);
      writeFileSync(p.file('.env'), `MEDETL_HMAC_KEY=${'5f'.repeat(32)}\n${Object.entries(st.env).map(([k, v]) => `${k}=${v}\n`).join('')}`, { mode: 0o600 });
      const N = 60_000;
      // 8 rows each: one within-file duplicate, one row without a patient id (rejected)
      const rows = plausibleRows(N, { patients: 500 });
      writeFileSync(p.file('events_big.csv'), eventsCsv([...rows, rows[7], { ...rows[8], patient_id: '' }]));
      writeFileSync(p.file('events_small.csv'), eventsCsv(plausibleRows(30, { prefix: 'small' })));
      expect(p.run(['process', 'events_small.csv'], { env: st.env }).status).toBe(0);
      let killedInFlight = 0;
      for (const delay of [40, 150, 300, 500, 800, 1200, 1700]) {
        const child = spawnCli(p.dir, ['process', 'events_big.csv']);
        const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        await new Promise((r) => setTimeout(r, delay));
        child.kill('SIGKILL');
        await exited;
        const v = JSON.parse(p.run(['verify', '--json'], { env: st.env }).stdout);
        expect(v.ok, v.problems.join('\n')).toBe(true);
        expect([30, 30 + N]).toContain(v.storeRows);
        expect(v.parquetRows).toBe(v.storeRows);
        if (v.storeRows === 30 + N) break;
        killedInFlight++;
      }
      expect(killedInFlight).toBeGreaterThan(0);
      const final = p.run(['process', 'events_big.csv', '--json'], { env: st.env });
      expect(final.status, final.stderr).toBe(0);
      expect(await st.rows(p.dir)).toBe(30 + N);
      const v = JSON.parse(p.run(['verify', '--json'], { env: st.env }).stdout);
      expect(v).toMatchObject({ ok: true, batches: 2, storeRows: 30 + N, parquetRows: 30 + N });
      // rows in = loaded + rejected + duplicates, for the big file's batch
      const results = final.stdout.trim().split('\n').map((l) => JSON.parse(l));
      const r = results[0];
      if (r.status === 'loaded') expect(r).toMatchObject({ rowsIn: N + 2, loaded: N, rejected: 1, duplicates: 1 });
      else expect(r.status).toBe('skipped_duplicate'); // the last kill landed after the commit
      expect(readdirSync(p.file('masked_out/parts')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      const pq = await duckQuery(`SELECT count(*)::INT AS n, count(DISTINCT batch_id)::INT AS b FROM read_parquet('${globOf(p.file('masked_out/parts'))}')`);
      expect(pq[0]).toEqual({ n: 30 + N, b: 2 });
    });
  });
}
