// A broken machine is not a broken file: full disks, read-only outputs, a store deleted or replaced under the
// daemon, readers running beside a load. Real mounts (tmpfs, remounted full, read-only and back), real processes.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttpHook } from '../helpers/watch-servers.js';
import { CLI, eventsCsv, expectedKeys, incomingFiles, listDir, makeProject, parquetKeys, runCli, sqliteCount, sqliteKeys, waitFor, type Project } from '../helpers/watch-project.js';

const projects: Project[] = [];
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  for (const p of projects) p.cleanup();
});

/** Read-only for new files, while open descriptors keep working: a bind mount of the folder onto itself, remounted. */
function makeReadOnly(dir: string): void {
  execFileSync('mount', ['--bind', dir, dir]);
  mounts.push(dir);
  execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
}
const makeWritable = (dir: string) => execFileSync('mount', ['-o', 'remount,bind,rw', dir]);

/** Whether this machine lets the tests mount a tmpfs (root on Linux). CI (MEDETL_REQUIRE_SERVICES=1) requires it. */
function canMount(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = path.join(makeProject().root, 'probe');
  mkdirSync(probe, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]);
  if (r.status !== 0) {
    const msg = 'mounting a tmpfs is not permitted here (run the tests as root on Linux to test full and read-only disks)';
    if (process.env.MEDETL_REQUIRE_SERVICES === '1') throw new Error(msg);
    process.stderr.write(`skipping: ${msg}\n`);
    return false;
  }
  spawnSync('umount', [probe]);
  return true;
}
const mountable = canMount();

function mountTmpfs(dir: string, sizeKb: number): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]);
  mounts.push(dir);
}
const remount = (dir: string, opts: string) => execFileSync('mount', ['-o', `remount,${opts}`, dir]);

function project(overrides: Record<string, unknown> = {}, env: Record<string, string> = {}): Project {
  const p = makeProject({ watch: { stable_ms: 100, rescan_ms: 300, retry_park_ms: 500 }, ...overrides }, env);
  projects.push(p);
  return p;
}

async function expectExactlyOnce(p: Project, want: string[]): Promise<void> {
  const s = sqliteKeys(p);
  const q = await parquetKeys(p);
  expect(new Set(s).size).toBe(s.length);
  expect(s.sort()).toEqual([...want].sort());
  expect(q.sort()).toEqual([...want].sort());
}

describe.runIf(mountable)('full and read-only disks (real tmpfs)', () => {
  it('a full masked_out/ keeps every file, alerts once, and resumes by itself when space returns', { timeout: 120_000 }, async () => {
    const hook = await startHttpHook();
    const p = project({ alerts: { enabled: true, min_interval_ms: 0, retries: 0 } }, { SLACK_WEBHOOK_URL: hook.url });
    mountTmpfs(path.join(p.root, 'masked_out'), 700); // room for the store and a few parts, not for all of them
    const c = runCli(p, ['watch']);
    await c.waitForLine(/^watching /, 20_000);
    const files = 14;
    for (let i = 0; i < files; i++) p.drop(`events_${String(i).padStart(2, '0')}.csv`, eventsCsv(i * 2000, 2000));
    // The disk fills: the files that did not fit stay in incoming/, none is quarantined.
    await waitFor(() => /reason (SQLITE_FULL|ENOSPC)/.test(c.stderr()), 60_000, 'a failure for lack of space');
    expect(listDir(p.quarantine).filter((n) => !n.endsWith('.rejects.csv'))).toEqual([]);
    expect(incomingFiles(p).length).toBeGreaterThan(0);
    // Space returns: everything loads, exactly once, without a restart.
    remount(path.join(p.root, 'masked_out'), 'size=64m');
    await waitFor(() => incomingFiles(p).length === 0 && sqliteCount(p) === files * 2000, 60_000, 'the backlog after space returned');
    c.proc.kill('SIGINT');
    expect((await c.exit).code, c.stderr()).toBe(0);
    await expectExactlyOnce(p, expectedKeys(0, files * 2000));
    expect(listDir(p.quarantine).filter((n) => !n.endsWith('.rejects.csv'))).toEqual([]);
    const failures = hook.bodies.filter((b) => b.includes('file failed'));
    expect(failures.length).toBe(1); // alerted once for the outage, not once per file and retry
    expect(spawnSync(process.execPath, [CLI, 'verify'], { cwd: p.root }).status).toBe(0);
    await hook.close();
  });

  it('a read-only masked_out/ is the machine, not the file: nothing quarantined, loaded once it is writable again', { timeout: 90_000 }, async () => {
    const p = project();
    const out = path.join(p.root, 'masked_out');
    mountTmpfs(out, 32 * 1024);
    const c = runCli(p, ['watch']);
    await c.waitForLine(/^watching /, 20_000);
    p.drop('events_00.csv', eventsCsv(0, 500));
    await waitFor(() => sqliteCount(p) === 500, 20_000, 'the first batch');
    makeReadOnly(out);
    p.drop('events_01.csv', eventsCsv(500, 500));
    await waitFor(() => /failed +events_01\.csv +reason (SQLITE_READONLY|EROFS|SQLITE_CANTOPEN|SQLITE_IOERR)/.test(c.stderr()), 60_000, 'a read-only failure');
    expect(incomingFiles(p)).toEqual(['events_01.csv']);
    makeWritable(out);
    await waitFor(() => incomingFiles(p).length === 0 && sqliteCount(p) === 1000, 60_000, 'the file after the disk came back');
    c.proc.kill('SIGINT');
    await c.exit;
    await expectExactlyOnce(p, expectedKeys(0, 1000));
    expect(listDir(p.quarantine)).toEqual([]);
  });

  it('a full logs/ does not stop the pipeline; the console says so once', { timeout: 60_000 }, async () => {
    const p = project({ log: { level: 'debug' } });
    mountTmpfs(p.logs, 4); // one page: full after a few dozen lines
    for (let i = 0; i < 40; i++) p.drop(`events_${String(i).padStart(2, '0')}.csv`, eventsCsv(i * 50, 50));
    const c = runCli(p, ['watch', '--drain']);
    expect((await c.exit).code, c.stderr()).toBe(0);
    expect(sqliteCount(p)).toBe(2000);
    expect(c.stderr().match(/cannot write .*pipeline\.log \(ENOSPC\)/g)).toHaveLength(1);
  });
});

describe('the store changes under a running daemon', () => {
  for (const how of ['deleted', 'replaced'] as const) {
    it(`${how}: it stops with a clear line before the next batch, and the file stays in incoming/`, { timeout: 60_000 }, async () => {
      const p = project();
      const c = runCli(p, ['watch']);
      await c.waitForLine(/^watching /, 20_000);
      p.drop('events_1.csv', eventsCsv(0, 100));
      await waitFor(() => sqliteCount(p) === 100, 20_000, 'the first batch');
      if (how === 'deleted') {
        for (const f of ['cleaned.sqlite', 'cleaned.sqlite-wal', 'cleaned.sqlite-shm']) rmSync(path.join(p.root, 'masked_out', f), { force: true });
      } else {
        const other = path.join(p.root, 'other.sqlite');
        writeFileSync(other, readFileSync(p.sqlite));
        renameSync(other, p.sqlite);
      }
      p.drop('events_2.csv', eventsCsv(100, 100));
      const r = await c.exit;
      expect(r.code).toBe(2);
      expect(c.stderr()).toMatch(new RegExp(`the store .*cleaned\\.sqlite was ${how}`));
      expect(incomingFiles(p)).toEqual(['events_2.csv']);
    });
  }
});

describe('readers beside a writer', () => {
  it('verify and status during a load never touch its in-flight part: both sinks end with every row', { timeout: 90_000 }, async () => {
    const p = project();
    writeFileSync(path.join(p.root, 'events_big.csv'), eventsCsv(0, 100_000));
    const writer = runCli(p, ['process', 'events_big.csv']);
    let exited = false;
    const exit = writer.exit.then((r) => ((exited = true), r));
    // Readers start only once the part is staged (the batch is surely in flight), and keep going until it ends.
    await waitFor(() => exited || listDir(p.parts).some((n) => n.endsWith('.tmp')), 60_000, 'the staged part', 2);
    let readers = 0;
    let overlapped = 0;
    while (!exited) {
      const staged = listDir(p.parts).some((n) => n.endsWith('.tmp'));
      await Promise.all([runCli(p, ['verify']).exit, runCli(p, ['status']).exit]);
      readers++;
      if (staged) overlapped++;
    }
    expect((await exit).code, writer.stderr()).toBe(0);
    expect(overlapped, 'readers that started while the part was staged').toBeGreaterThan(0);
    await expectExactlyOnce(p, expectedKeys(0, 100_000));
  });

  it('a second project writing to the same masked_out/ is refused while the first writes', { timeout: 60_000 }, async () => {
    const a = project();
    const b = project({ paths: { masked_out: path.join(a.root, 'masked_out') } });
    const c = runCli(a, ['watch']);
    await c.waitForLine(/^watching /, 20_000);
    writeFileSync(path.join(b.root, 'events_b.csv'), eventsCsv(0, 10));
    const r = spawnSync(process.execPath, [CLI, 'process', 'events_b.csv'], { cwd: b.root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/another medetl process is writing to .*masked_out/);
    c.proc.kill('SIGINT');
    await c.exit;
  });
});

describe('names that used to get stuck', () => {
  it('a 240-byte name loads, a 240-byte bad file is quarantined with its reason; non-UTF-8 names are renamed, not skipped', { timeout: 60_000 }, async () => {
    const p = project();
    const long = `events_${'7'.repeat(229)}.csv`; // 240 bytes
    const longBad = `events_${'8'.repeat(229)}.csv`;
    expect(Buffer.byteLength(long)).toBe(240);
    p.drop(long, eventsCsv(0, 20));
    writeFileSync(path.join(p.incoming, longBad), 'patient,when\nx,y\n');
    // names whose bytes are not UTF-8 (a Latin-1 é, a lone continuation byte)
    const incomingBytes = Buffer.from(p.incoming + path.sep);
    writeFileSync(Buffer.concat([incomingBytes, Buffer.from('events_caf'), Buffer.from([0xe9]), Buffer.from('.csv')]), eventsCsv(20, 20));
    writeFileSync(Buffer.concat([incomingBytes, Buffer.from('events_'), Buffer.from([0x80]), Buffer.from('_bad.csv')]), 'nope\n');
    const c = runCli(p, ['watch', '--drain', '--json']);
    const r = await c.exit;
    expect(r.code, c.stderr()).toBe(3); // one file quarantined
    const lines = c.stdout.map((l) => JSON.parse(l)).filter((o) => o.type === 'batch');
    expect(lines.map((l) => `${l.status}`).sort()).toEqual(['loaded', 'loaded', 'quarantined', 'quarantined']);
    expect(readdirSync(p.incoming).filter((n) => n.startsWith('events_'))).toEqual([]);
    expect(sqliteCount(p)).toBe(40);
    const q = listDir(p.quarantine);
    expect(q).toContain('events_%80_bad.csv');
    expect(q.some((n) => n.startsWith(`events_${'8'.repeat(100)}`) && n.endsWith('.csv.reason.json'))).toBe(true);
    for (const n of q) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255);
    expect(listDir(p.archive).sort()).toEqual([long, 'events_caf%E9.csv'].sort());
    const status = JSON.parse(spawnSync(process.execPath, [CLI, 'status', '--json'], { cwd: p.root, encoding: 'utf8' }).stdout);
    expect(status.waiting).toBe(0);
  });
});

describe('corrupt parts and killed compactions', () => {
  it('verify names a corrupt part and exits 5; status keeps working; compact refuses with the part named', { timeout: 60_000 }, async () => {
    const p = project();
    for (let i = 0; i < 2; i++) p.drop(`events_${i}.csv`, eventsCsv(i * 100, 100));
    const c = runCli(p, ['watch', '--drain']);
    expect((await c.exit).code).toBe(0);
    const part = listDir(p.parts)[0];
    const file = path.join(p.parts, part);
    writeFileSync(file, readFileSync(file).subarray(0, 200));
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: p.root, encoding: 'utf8' });
    const v = run(['verify']);
    expect(v.status).toBe(5);
    expect(v.stdout).toContain(`MISMATCH parts/${part}: ${part} is not a readable Parquet file`);
    const s = run(['status', '--json']);
    expect(s.status).toBe(0);
    expect(JSON.parse(s.stdout).rows).toMatchObject({ store: 200, parquet: 100, agree: false, unreadableParts: [part] });
    const cleaned = path.join(p.root, 'masked_out', 'cleaned.parquet');
    const before = existsSync(cleaned) ? readFileSync(cleaned) : null; // the daemon may have compacted already
    const k = run(['compact']);
    expect(k.status, `${k.stdout}\n${k.stderr}`).toBe(5);
    expect(k.stderr).toContain(`${part} is not a readable Parquet file`);
    expect(existsSync(cleaned) ? readFileSync(cleaned) : null).toEqual(before); // left as it was
    expect(listDir(path.join(p.root, 'masked_out')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('a compaction killed with SIGKILL leaves its temporary file only until the next compaction', { timeout: 90_000 }, async () => {
    const p = project();
    for (let i = 0; i < 6; i++) p.drop(`events_${i}.csv`, eventsCsv(i * 40_000, 40_000));
    expect((await runCli(p, ['watch', '--drain']).exit).code).toBe(0);
    const out = path.join(p.root, 'masked_out');
    // Killed the moment its temporary file appears: surely mid-compaction.
    const k = runCli(p, ['compact']);
    const isTmp = (n: string) => /^cleaned\.parquet\.\d+\.tmp$/.test(n);
    await waitFor(() => listDir(out).some(isTmp), 30_000, 'the compaction to start writing', 2);
    k.proc.kill('SIGKILL');
    await k.exit;
    expect(listDir(out).filter(isTmp), 'a temporary file left by the kill').toHaveLength(1);
    const r = spawnSync(process.execPath, [CLI, 'compact'], { cwd: p.root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(listDir(out).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(r.stdout).toMatch(/240000 rows from 6 parts/);
  });
});
