// The daemon lock: exclusive create, refusal while the holder lives, safe takeover of a stale lock.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, LockHeldError } from '../../src/core/lock.js';
import { testDir } from '../helpers/test-dir.js';
import { REPO } from '../helpers/watch-project.js';

const tmp = testDir('lock');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
const lockPath = () => path.join(tmp, `d${++n}`, '.medetl.lock');

function lockJson(pid: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ pid, hostname: os.hostname(), started: new Date().toISOString(), token: 'abc', ...extra });
}

function sleeper(): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

async function write(file: string, content: string): Promise<void> {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
}

describe('acquireLock', () => {
  it('creates the lock with pid, host and start time, and removes it on release', async () => {
    const f = lockPath();
    const h = await acquireLock(f);
    const info = JSON.parse(readFileSync(f, 'utf8'));
    expect(info).toMatchObject({ pid: process.pid, hostname: os.hostname() });
    expect(Date.parse(info.started)).toBeGreaterThan(Date.now() - 10_000);
    expect(h.tookOverFrom).toBeNull();
    expect(h.stillHeld()).toBe(true);
    h.release();
    h.release();
    expect(existsSync(f)).toBe(false);
  });

  it('refuses while the holder lives, with a message naming it', async () => {
    const f = lockPath();
    const c = sleeper();
    await write(f, lockJson(c.pid!));
    const err = await acquireLock(f).catch((e) => e);
    expect(err).toBeInstanceOf(LockHeldError);
    expect(err.message).toContain(`pid ${c.pid}`);
    expect(err.message).toContain(f);
    expect(JSON.parse(readFileSync(f, 'utf8')).pid).toBe(c.pid); // untouched
  });

  it('refuses a lock from another host (its process cannot be checked)', async () => {
    const f = lockPath();
    await write(f, lockJson(await deadPid(), { hostname: 'some-other-host' }));
    await expect(acquireLock(f)).rejects.toBeInstanceOf(LockHeldError);
  });

  it('takes over a lock whose process is gone', async () => {
    const f = lockPath();
    const pid = await deadPid();
    await write(f, lockJson(pid));
    const h = await acquireLock(f);
    expect(h.tookOverFrom?.pid).toBe(pid);
    expect(JSON.parse(readFileSync(f, 'utf8')).pid).toBe(process.pid);
    expect(existsSync(`${f}.takeover`)).toBe(false);
    h.release();
  });

  it('takes over a lock naming its own pid (a container restarted) and a torn lock left long ago', async () => {
    const f = lockPath();
    await write(f, lockJson(process.pid, { token: 'old' }));
    (await acquireLock(f)).release();
    await write(f, '{"pid": 12');
    const old = Date.now() / 1000 - 60;
    utimesSync(f, old, old);
    const h = await acquireLock(f);
    expect(h.tookOverFrom).toBeNull();
    h.release();
  });

  it.runIf(process.platform === 'linux')('treats a live pid that started after the lock was written as reused', async () => {
    const f = lockPath();
    const c = sleeper();
    await new Promise((r) => setTimeout(r, 100));
    await write(f, lockJson(c.pid!, { started: new Date(Date.now() - 3600_000).toISOString() }));
    const h = await acquireLock(f);
    expect(h.tookOverFrom?.pid).toBe(c.pid);
    h.release();
  });

  it('lets exactly one of several racing processes take over a stale lock', async () => {
    const f = lockPath();
    await write(f, lockJson(await deadPid()));
    const lockJs = pathToFileURL(path.join(REPO, 'dist', 'core', 'lock.js')).href;
    const script = `
      const { acquireLock } = await import(${JSON.stringify(lockJs)});
      try { const h = await acquireLock(process.argv[1]); console.log('got'); setTimeout(() => { h.release(); }, 2500); }
      catch (e) { console.log(e.code === 'lock_held' ? 'held' : 'error ' + e.message); }`;
    const outs = await Promise.all(
      Array.from({ length: 6 }, () => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script, f], { stdio: ['ignore', 'pipe', 'inherit'] });
        children.push(c);
        let out = '';
        c.stdout!.on('data', (d) => (out += d));
        return new Promise<string>((r) => c.on('exit', () => r(out.trim())));
      }),
    );
    expect(outs.filter((o) => o === 'got')).toHaveLength(1);
    expect(outs.filter((o) => o === 'held')).toHaveLength(5);
    expect(existsSync(f)).toBe(false); // the winner released it
  });

  it('clears what a taker killed mid-takeover left: its guard and its temporary lock', async () => {
    const f = lockPath();
    const dead = await deadPid();
    await write(f, lockJson(dead));
    writeFileSync(`${f}.takeover`, lockJson(dead, { token: 'g' }));
    writeFileSync(`${f}.${dead}.0badc0de.tmp`, lockJson(dead, { token: 't' }));
    const t0 = Date.now();
    const h = await acquireLock(f);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(existsSync(`${f}.takeover`)).toBe(false);
    expect(existsSync(`${f}.${dead}.0badc0de.tmp`)).toBe(false);
    h.release();
  });

  it('notices when the lock file is taken away', async () => {
    const f = lockPath();
    const h = await acquireLock(f);
    rmSync(f);
    expect(h.stillHeld()).toBe(false);
    h.release();
  });
});
