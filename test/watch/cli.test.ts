// `medetl watch` and `medetl replay` end to end: the built CLI as a child process, real chokidar, real files, the
// real pipeline and both sinks. Needs a build (npm install runs it; or npx tsc -p tsconfig.json).
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  badCsv, CLI, eventsCsv, expectedKeys, incomingFiles, listDir, makeProject, parquetKeys, rssMb, runCli,
  sqliteCount, sqliteKeys, waitFor, type Project,
} from '../helpers/watch-project.js';
import { startHttpHook, startSmtpServer, type HttpHook, type SmtpServer } from '../helpers/watch-servers.js';

const projects: Project[] = [];
afterAll(() => {
  for (const p of projects) p.cleanup();
});
function project(...args: Parameters<typeof makeProject>): Project {
  const p = makeProject(...args);
  projects.push(p);
  return p;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
});

/** Every key exactly once in both sinks. */
async function expectExactlyOnce(p: Project, keys: string[]): Promise<void> {
  const want = [...keys].sort();
  const inSqlite = sqliteKeys(p).sort();
  const inParquet = (await parquetKeys(p)).sort();
  expect(inSqlite.length).toBe(want.length);
  expect(inSqlite).toEqual(want);
  expect(inParquet).toEqual(want);
}

describe('medetl watch', () => {
  it('--drain --json: the backlog oldest first, one JSON object per batch; temp names, dotfiles and subfolders untouched', async () => {
    const p = project();
    const t = Date.now() / 1000 - 3600;
    // names run against age, and two files share an mtime (then the name decides)
    const plan: [string, number][] = [['events_e.csv', 0], ['events_d.csv', 10], ['events_b.csv', 20], ['events_c.csv', 20], ['events_a.csv', 30]];
    plan.forEach(([name, age], i) => {
      p.drop(name, eventsCsv(i * 20, 20));
      utimesSync(path.join(p.incoming, name), t + age, t + age);
    });
    const ignored = ['.events_hidden.csv', 'events_x.csv.tmp', 'events_y.csv.part', 'notes.txt'];
    for (const n of ignored) writeFileSync(path.join(p.incoming, n), eventsCsv(500, 5));
    mkdirSync(path.join(p.incoming, 'sub'));
    writeFileSync(path.join(p.incoming, 'sub', 'events_sub.csv'), eventsCsv(600, 5));

    const c = runCli(p, ['watch', '--drain', '--json']);
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(0);
    expect(c.stderr()).toBe('');
    const objs = c.stdout.map((l) => JSON.parse(l));
    expect(objs.filter((o) => o.type === 'batch').map((o) => o.file)).toEqual(['events_e.csv', 'events_d.csv', 'events_b.csv', 'events_c.csv', 'events_a.csv']);
    expect(objs[0]).toMatchObject({ type: 'batch', status: 'loaded', rowsIn: 20, loaded: 20, rejected: 0, duplicates: 0 });
    expect(objs.at(-1)).toMatchObject({ type: 'summary', stoppedBy: 'drained', files: 5, loaded: 5, rowsIn: 100 });
    for (const n of ignored) expect(existsSync(path.join(p.incoming, n)), n).toBe(true);
    expect(existsSync(path.join(p.incoming, 'sub', 'events_sub.csv'))).toBe(true);
    expect(listDir(p.archive)).toEqual(['events_a.csv', 'events_b.csv', 'events_c.csv', 'events_d.csv', 'events_e.csv']);
    expect(existsSync(path.join(p.incoming, '.medetl.lock'))).toBe(false);
    await expectExactlyOnce(p, expectedKeys(0, 100));
  });

  it('running: write+rename producers, a slow in-place writer read once and whole, a bad file quarantined while the rest loads; SIGINT exits 0', async () => {
    const p = project({ watch: { stable_ms: 1000, rescan_ms: 500 } });
    const c = runCli(p, ['watch']);
    await c.waitForLine(/^watching /);

    // slow in-place writer: 5 chunks over 3 s, each ending at a line end (so only stable_ms protects it)
    const slowFile = path.join(p.incoming, 'events_slow.csv');
    const body = eventsCsv(1000, 250);
    const lines = body.split('\n');
    const chunks: string[] = [];
    for (let i = 0; i < 5; i++) chunks.push(lines.slice(Math.floor((i * lines.length) / 5), Math.floor(((i + 1) * lines.length) / 5)).join('\n') + (i < 4 ? '\n' : ''));
    expect(chunks.join('')).toBe(body);
    const writer = (async () => {
      for (let i = 0; i < 5; i++) {
        appendFileSync(slowFile, chunks[i]);
        if (i < 4) await new Promise((r) => setTimeout(r, 750));
      }
    })();

    // meanwhile producers that write under a temp name and rename, and one bad file between good ones
    p.drop('events_01.csv', eventsCsv(0, 30));
    p.drop('events_02_bad.csv', badCsv());
    p.drop('events_03.csv', eventsCsv(30, 30));
    await writer;
    await c.waitForLine(/^loaded +events_slow\.csv/, 15_000);
    await waitFor(() => c.stdout.some((l) => /events_03\.csv/.test(l)), 15_000, 'events_03');

    // the daemon is still running: another file is loaded
    p.drop('events_04.csv', eventsCsv(60, 30));
    await c.waitForLine(/^loaded +events_04\.csv/, 15_000);

    c.proc.kill('SIGINT');
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(0);
    const out = c.stdout.join('\n');
    expect(out.match(/events_slow\.csv/g)).toHaveLength(1);
    expect(out).toMatch(/^loaded +events_slow\.csv +rows 250 +loaded 250 /m);
    expect(out).toMatch(/^quarantined +events_02_bad\.csv .*reason missing_columns/m);
    expect(listDir(p.quarantine)).toEqual(['events_02_bad.csv', 'events_02_bad.csv.reason.json']);
    expect(incomingFiles(p)).toEqual([]);
    expect(existsSync(path.join(p.incoming, '.medetl.lock'))).toBe(false);
    expect(c.stderr()).toMatch(/SIGINT: finishing the batch in flight/);
    await expectExactlyOnce(p, [...expectedKeys(0, 90), ...expectedKeys(1000, 250)]);
  });

  it('refuses a second daemon on the same folder (exit 2), and takes over the lock of a killed one', async () => {
    const p = project();
    const a = runCli(p, ['watch']);
    await a.waitForLine(/^watching /);
    const b = runCli(p, ['watch']);
    const rb = await b.exit;
    expect(rb.code).toBe(2);
    expect(b.stderr()).toMatch(new RegExp(`another medetl daemon is watching .*pid ${a.proc.pid} on `));

    a.proc.kill('SIGKILL');
    await a.exit;
    const lock = JSON.parse(readFileSync(path.join(p.incoming, '.medetl.lock'), 'utf8'));
    expect(lock.pid).toBe(a.proc.pid);
    p.drop('events_1.csv', eventsCsv(0, 10));
    const c = runCli(p, ['watch', '--drain']);
    const rc = await c.exit;
    expect(rc.code, c.stderr()).toBe(0);
    expect(c.stderr()).toMatch(new RegExp(`took over a stale lock \\(pid ${a.proc.pid} `));
    expect(existsSync(path.join(p.incoming, '.medetl.lock'))).toBe(false);
    expect(sqliteCount(p)).toBe(10);
  });

  it('Ctrl+C finishes the batch in flight; Ctrl+C twice leaves at once with nothing partial kept', async () => {
    const p = project({ watch: { stable_ms: 100 } });
    p.drop('events_big.csv', eventsCsv(0, 500_000));
    // In flight for sure: the temporary Parquet part exists only inside the batch's open transaction
    // (an open descriptor on the file is not enough: the stability check reads its last byte too).
    // A killed run leaves its own .tmp part until the next start's recovery: wait for a new one.
    const inFlight = async () => {
      const before = new Set(listDir(p.parts));
      await waitFor(() => listDir(p.parts).some((n) => n.endsWith('.parquet.tmp') && !before.has(n)), 30_000, 'the batch in flight', 5);
    };

    // twice: exits at once, the batch is not committed, the file stays
    const a = runCli(p, ['watch']);
    await inFlight();
    a.proc.kill('SIGINT');
    await a.waitForLine(/^SIGINT: finishing the batch in flight/); // (two signals sent at once may merge into one)
    a.proc.kill('SIGINT');
    const ra = await a.exit;
    expect(ra.code, a.stderr()).toBe(130);
    expect(incomingFiles(p)).toEqual(['events_big.csv']);
    expect(sqliteCount(p)).toBe(0);
    expect(listDir(p.parts).filter((n) => n.endsWith('.parquet'))).toEqual([]);

    // once: the batch finishes, then exit 0
    const b = runCli(p, ['watch']);
    await inFlight();
    b.proc.kill('SIGINT');
    const rb = await b.exit;
    expect(rb.code, b.stderr()).toBe(0);
    expect(b.stdout.join('\n')).toMatch(/^loaded +events_big\.csv +rows 500,000 +loaded 500,000/m);
    expect(incomingFiles(p)).toEqual([]);
    expect(sqliteCount(p)).toBe(500_000);
  });

  it('a burst of many files: bounded queue, every row once, memory flat', async () => {
    const p = project({ watch: { queue_limit: 50, stable_ms: 100, rescan_ms: 1000 } });
    const c = runCli(p, ['watch', '--quiet']);
    await waitFor(() => existsSync(path.join(p.incoming, '.medetl.lock')), 10_000, 'lock');
    const N = 600;
    for (let i = 0; i < N; i++) p.drop(`events_${String(i).padStart(4, '0')}.csv`, eventsCsv(i * 5, 5));
    const rss: number[] = [];
    await waitFor(
      () => {
        const r = rssMb(c.proc.pid!);
        if (r !== null) rss.push(r);
        return incomingFiles(p).length === 0;
      },
      120_000,
      'the burst to drain',
      250,
    );
    c.proc.kill('SIGINT');
    expect((await c.exit).code).toBe(0);
    expect(c.stdout).toEqual([]); // --quiet
    expect(listDir(p.archive)).toHaveLength(N);
    await expectExactlyOnce(p, expectedKeys(0, N * 5));
    if (rss.length > 8) {
      // after warm-up, resident memory stays within a band (no growth with the number of files)
      const warm = rss.slice(Math.floor(rss.length / 4));
      expect(Math.max(...warm) - Math.min(...warm)).toBeLessThan(120);
    }
  });

  it('--quiet prints errors only; alerts reach Slack and SMTP on 127.0.0.1 without a patient value', async () => {
    const hook: HttpHook = await startHttpHook();
    const smtp: SmtpServer = await startSmtpServer();
    try {
      const p = project(
        { alerts: { enabled: true, min_interval_ms: 0, retries: 2 } },
        { SLACK_WEBHOOK_URL: hook.url, SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SMTP_FROM: 'medetl@example.org', SMTP_TO: 'team@example.org' },
      );
      // canaries: 6 of 10 rows lack a patient_id (reject rate 0.6 > 0.2: the file is quarantined)
      const canary = ['CANARY-PID-777', 'Zebediah', 'Quintavius', '1911-11-11', '09999'];
      const rows = ['patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate'];
      for (let i = 0; i < 10; i++) rows.push(`${i < 6 ? '' : canary[0]},${canary[1]},${canary[2]},${canary[3]},${canary[4]},2024-03-0${i}T10:00:00Z,120,80,70`);
      p.drop('events_canary.csv', `${rows.join('\n')}\n`);
      p.drop('events_good.csv', eventsCsv(0, 10));
      const c = runCli(p, ['watch', '--drain', '--quiet']);
      const { code } = await c.exit;
      expect(code).toBe(3); // drained, and a file was quarantined
      expect(c.stdout).toEqual([]);
      expect(c.stderr()).toMatch(/^quarantined +events_canary\.csv .*reason qc_threshold_exceeded/m);
      expect(c.stderr()).not.toMatch(/events_good/);
      await waitFor(() => hook.bodies.length >= 1 && smtp.mails.length >= 1, 10_000, 'alerts');
      const slack = JSON.parse(hook.bodies[0]).text as string;
      const mail = smtp.mails[0].data;
      for (const text of [slack, mail]) {
        expect(text).toContain('events_canary.csv');
        expect(text).toContain('qc_threshold_exceeded');
        for (const v of canary) expect(text).not.toContain(v);
      }
      expect(slack).toMatch(/rejected=6/);
      expect(smtp.mails[0].to).toEqual(['team@example.org']);
      for (const v of canary) expect(c.stderr()).not.toContain(v);
      expect(hook.bodies).toHaveLength(1);
    } finally {
      await hook.close();
      await smtp.close();
    }
  });
});

describe('medetl replay', () => {
  it('moves quarantined files back to incoming/, keeps their reasons in quarantine/replayed/', async () => {
    const p = project({ thresholds: { max_reject_rate: 0.2 } });
    // 3 of 10 rows rejected: over 0.2, so quarantined
    const half = eventsCsv(0, 10).split('\n');
    for (const i of [1, 2, 3]) half[i] = half[i].replace(/^pt-\d+/, '');
    p.drop('events_r1.csv', half.join('\n'));
    p.drop('events_r2.csv', badCsv());
    expect((await runCli(p, ['watch', '--drain']).exit).code).toBe(3);
    expect(listDir(p.quarantine)).toEqual(['events_r1.csv', 'events_r1.csv.reason.json', 'events_r2.csv', 'events_r2.csv.reason.json']);

    // neither or both of FILE and --all: usage error; an unknown file: exit 2
    expect((await runCli(p, ['replay']).exit).code).toBe(2);
    const missing = runCli(p, ['replay', 'events_nope.csv']);
    expect((await missing.exit).code).toBe(2);
    expect(missing.stderr()).toMatch(/events_nope\.csv is not in /);

    // relax the threshold, replay one by path
    writeFileSync(path.join(p.root, 'config.yaml'), readFileSync(path.join(p.root, 'config.yaml'), 'utf8').replace('max_reject_rate: 0.2', 'max_reject_rate: 0.5'));
    const r1 = runCli(p, ['replay', path.join('quarantine', 'events_r1.csv')]);
    expect((await r1.exit).code, r1.stderr()).toBe(0);
    expect(r1.stdout[0]).toMatch(/^replayed events_r1\.csv -> incoming\/events_r1\.csv \(reason kept in quarantine\/replayed\/events_r1\.csv\.reason\.json\)/);
    expect(incomingFiles(p)).toEqual(['events_r1.csv']);
    const drained = runCli(p, ['watch', '--drain']);
    expect((await drained.exit).code).toBe(0);
    expect(drained.stdout.join('\n')).toMatch(/^loaded +events_r1\.csv +rows 10 +loaded 7 +rejected 3/m);

    // --all: the bad file goes back, is quarantined again, and both reasons are kept
    const all = runCli(p, ['replay', '--all']);
    expect((await all.exit).code).toBe(0);
    expect(all.stdout).toHaveLength(1);
    expect((await runCli(p, ['watch', '--drain']).exit).code).toBe(3);
    expect(listDir(p.quarantine)).toEqual(['events_r1.csv.rejects.csv', 'events_r2.csv', 'events_r2.csv.reason.json', 'replayed']);
    expect(listDir(path.join(p.quarantine, 'replayed'))).toEqual(['events_r1.csv.reason.json', 'events_r2.csv.reason.json']);
    const empty = runCli(p, ['replay', '--all']);
    await empty.exit;
    expect(empty.stdout.join('\n')).toMatch(/^replayed events_r2\.csv/);
    expect(listDir(path.join(p.quarantine, 'replayed'))).toEqual(['events_r1.csv.reason.json', 'events_r2.csv.reason.1.json', 'events_r2.csv.reason.json']);
  });
});
