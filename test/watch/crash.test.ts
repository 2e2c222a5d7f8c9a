// The crash test: files stream into incoming/ while the daemon is killed with SIGKILL at random moments and
// restarted, round after round. Afterwards every input row must be in both sinks exactly once, every good file
// archived once, every bad file quarantined, and nothing left half-done (no temporary parts, nothing in incoming/).
// MEDETL_CRASH_ROUNDS (default 50) and MEDETL_CRASH_SEED make it longer or reproducible.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import {
  badCsv, CLI, eventsCsv, expectedKeys, hasOpen, incomingFiles, listDir, makeProject, parquetKeys, runCli, sqliteKeys,
  tally, waitFor, wideVitalsOf,
} from '../helpers/watch-project.js';

const ROUNDS = Number(process.env.MEDETL_CRASH_ROUNDS ?? 50);
const SEED = Number(process.env.MEDETL_CRASH_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with MEDETL_CRASH_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const p = makeProject({
  watch: { stable_ms: 150, rescan_ms: 400 },
  thresholds: { max_flagged_rate: 1 }, // wideVitalsOf breaks pulse-pressure rules on purpose; flags are not the point
  clean: { swap_repair: false }, // the vitals name the rows here: a diastolic above the systolic must stay as written
});
let passed = false;
afterAll(() => {
  if (passed || !process.env.MEDETL_CRASH_KEEP) p.cleanup();
  else console.log(`crash test: project kept in ${p.root}`);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`loses nothing and loads nothing twice across ${ROUNDS} SIGKILLs (seed ${SEED})`, { timeout: 300_000 }, async () => {
  expect(existsSync(CLI), 'build first: npx tsc -p tsconfig.json').toBe(true);
  const rand = prng(SEED);
  const t0 = Date.now();
  const good: { name: string; start: number; rows: number }[] = [];
  const bad: string[] = [];
  let next = 0;
  let producing = true;

  // Producers: mostly write + rename; some write in place in chunks (pauses well under stable_ms); a few bad files.
  const producer = (async () => {
    for (let i = 0; producing; i++) {
      const name = `events_${String(i).padStart(5, '0')}.csv`;
      const r = rand();
      if (r < 0.05) {
        p.drop(name, badCsv());
        bad.push(name);
      } else {
        const rows = r < 0.75 ? 20 + Math.floor(rand() * 300) : r < 0.96 ? 1000 + Math.floor(rand() * 2000) : 15_000;
        const body = eventsCsv(next, rows, wideVitalsOf);
        good.push({ name, start: next, rows });
        next += rows;
        if (rand() < 0.8) p.drop(name, body);
        else {
          const file = path.join(p.incoming, name);
          // cut mid-line, so that besides stable_ms the tail check holds the file back (a busy test process
          // can pause longer than it means to between chunks)
          let cut = Math.floor(body.length / 3);
          while (body[cut - 1] === '\n' || body[2 * cut - 1] === '\n') cut++;
          writeFileSync(file, body.slice(0, cut));
          await sleep(20);
          appendFileSync(file, body.slice(cut, 2 * cut));
          await sleep(20);
          appendFileSync(file, body.slice(2 * cut));
        }
      }
      await sleep(150 + rand() * 200);
    }
  })();

  let killedMidFile = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const c = runCli(p, ['watch', '--quiet']);
    const pid = c.proc.pid!;
    if (rand() < 0.3) {
      await sleep(rand() * 700); // anywhere in start-up: module loading, lock, recovery, first scan
    } else {
      // once it holds the lock (recovery and the first scan come right after), then anywhere in its work
      const lockFile = path.join(p.incoming, '.medetl.lock');
      await waitFor(() => existsSync(lockFile) && readFileSync(lockFile, 'utf8').includes(`"pid":${pid},`), 15_000, 'the lock', 10);
      await sleep(rand() * 900);
    }
    const open = incomingFiles(p).some((n) => hasOpen(pid, path.join(p.incoming, n)));
    c.proc.kill('SIGKILL');
    const { signal, code } = await c.exit;
    // a daemon that exited on its own would be a failure of its own (a crash, a refused lock)
    expect(signal, `round ${round}: exited with code ${code}: ${c.stderr()}`).toBe('SIGKILL');
    if (open) killedMidFile++;
  }
  producing = false;
  await producer;
  const killPhaseMs = Date.now() - t0;

  // Restart one last time and drain.
  const last = runCli(p, ['watch', '--drain', '--quiet']);
  const { code } = await last.exit;
  expect([0, 3], last.stderr()).toContain(code); // 3 when a bad file was still waiting for it

  // No file lost, none half-processed.
  expect(incomingFiles(p)).toEqual([]);
  expect(listDir(p.incoming).filter((n) => n !== 'processed')).toEqual([]); // no temp files, no lock
  expect(listDir(p.archive)).toEqual(good.map((g) => g.name).sort());
  // A kill while the pipeline writes a reason file can leave its temporary (<file>.reason.json.<pid>.tmp): litter,
  // not an events file; counted in the summary below.
  const reasonTemps = listDir(p.quarantine).filter((n) => n.endsWith('.tmp'));
  const quarantined = listDir(p.quarantine).filter((n) => !n.endsWith('.reason.json') && !n.endsWith('.tmp'));
  const reasons = quarantined
    .filter((n) => !bad.includes(n))
    .map((n) => `${n}: ${existsSync(path.join(p.quarantine, `${n}.reason.json`)) ? readFileSync(path.join(p.quarantine, `${n}.reason.json`), 'utf8') : 'no reason file'}`);
  expect(quarantined, reasons.join('\n')).toEqual([...bad].sort());
  expect(listDir(p.parts).filter((n) => !n.endsWith('.parquet'))).toEqual([]);

  // Every row exactly once, in both sinks.
  const want: string[] = [];
  for (const g of good) want.push(...expectedKeys(g.start, g.rows, wideVitalsOf));
  const inSqlite = sqliteKeys(p);
  const inParquet = await parquetKeys(p);
  const wantSet = new Set(want);
  expect(wantSet.size).toBe(want.length);
  for (const [name, keys] of [['sqlite', inSqlite], ['parquet', inParquet]] as const) {
    const counts = tally(keys);
    const twice = [...counts].filter(([, n]) => n > 1);
    const missing = want.filter((k) => !counts.has(k));
    const extra = keys.filter((k) => !wantSet.has(k));
    expect({ sink: name, twice: twice.length, missing: missing.length, extra: extra.length }).toEqual({ sink: name, twice: 0, missing: 0, extra: 0 });
    expect(keys.length).toBe(want.length);
  }
  const db = new Database(p.sqlite, { readonly: true });
  const n = db.prepare('SELECT COUNT(*) FROM batches').pluck().get() as number;
  db.close();
  // Which file made which batch is private bookkeeping, outside masked_out/.
  const priv = new Database(path.join(p.root, '.medetl', 'private.sqlite'), { readonly: true });
  const names = priv.prepare('SELECT COUNT(DISTINCT source_name) FROM batch_sources').pluck().get() as number;
  priv.close();
  expect({ n, names }).toEqual({ n: good.length, names: good.length });

  passed = true;

  // What the kills hit, from the pipeline log: batches cut after staging their part (part deleted at the next
  // start), after the commit (part renamed at the next start; raw file found committed and only archived).
  const events = tally(
    readFileSync(path.join(p.logs, 'pipeline.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { event?: string }).event ?? ''),
  );
  const ev = (e: string) => events.get(e) ?? 0;
  const hits = { midRead: killedMidFile, afterStaging: ev('recovery_part_deleted'), afterCommit: ev('recovery_part_renamed'), beforeArchive: ev('batch_skipped_duplicate') };
  const started = ev('watch_start') - 1;
  console.log(
    `crash test: seed ${SEED}, ${ROUNDS} SIGKILLs (${started} after start-up), ${good.length} good + ${bad.length} bad files, ${want.length} rows; ` +
      `kills landed: ${JSON.stringify(hits)}; leftover reason temps: ${reasonTemps.length}; kill phase ${(killPhaseMs / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
});
