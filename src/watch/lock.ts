// One daemon per incoming/ folder. The lock file holds pid, host and start time; it is created with an
// exclusive open ('wx'), so of two daemons starting together exactly one gets it. A lock whose process is gone
// (crash, SIGKILL, power cut) is taken over: under a short-lived guard file, the new lock is written under a
// temporary name and renamed over the old one, then read back to confirm.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, promises as fs, readFileSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../commands/common.js';
import { sleep } from '../core/fsx.js';

export interface LockInfo {
  pid: number;
  hostname: string;
  /** ISO time the holder started. */
  started: string;
  /** Random per holder: tells two holders with the same pid apart (containers restart at the same pid). */
  token: string;
}

export class LockHeldError extends UserError {
  constructor(
    readonly lockFile: string,
    readonly holder: LockInfo | null,
  ) {
    const who = holder ? `pid ${holder.pid} on ${holder.hostname}, since ${holder.started}` : 'holder unknown';
    super(
      `another medetl daemon is watching ${path.dirname(lockFile)} (${who}). Stop it first; ` +
        `if it is gone for sure, delete ${lockFile}.`,
      'lock_held',
    );
  }
}

export interface LockHandle {
  readonly file: string;
  readonly info: LockInfo;
  /** Whether a stale lock was taken over, and whose it was. */
  readonly tookOverFrom: LockInfo | null;
  /** Whether the lock file still names this holder (someone may have deleted it by hand). */
  stillHeld(): boolean;
  /** Remove the lock if it is still ours. Safe to call twice; synchronous so it works in an 'exit' handler. */
  release(): void;
}

/** How long a guard file may live before it is considered left over from a crash. */
const GUARD_STALE_MS = 10_000;
/** How long a lock file may stay empty or unreadable (a holder between open and write) before it counts as stale. */
const UNREADABLE_STALE_MS = 5_000;

function parseLock(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, hostname: v.hostname, started: String(v.started ?? ''), token: v.token };
    }
  } catch {
    // torn or foreign content
  }
  return null;
}

async function readLock(file: string): Promise<{ info: LockInfo | null; text: string; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    return { info: parseLock(text), text, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Linux: clock ticks after boot at which `pid` started, and whether it is a zombie; null where /proc is absent. */
function procStart(pid: number): { startMs: number; zombie: boolean } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!btime) return null;
    // field 3 is the state, field 22 the start time in clock ticks (USER_HZ, 100 on every Linux that matters)
    return { startMs: Number(btime[1]) * 1000 + (Number(fields[19]) / 100) * 1000, zombie: fields[0] === 'Z' };
  } catch {
    return null;
  }
}

/** Whether the process named in a lock written on this host is still the one that wrote it. */
export function holderAlive(info: LockInfo): boolean {
  if (info.pid === process.pid || !Number.isInteger(info.pid) || info.pid <= 0) return false;
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    // ESRCH: no such process. EPERM: it exists, owned by someone else.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const proc = procStart(info.pid);
  if (proc) {
    if (proc.zombie) return false;
    const started = Date.parse(info.started);
    // A process that started well after the lock was written reuses the pid of a dead holder.
    if (Number.isFinite(started) && proc.startMs > started + 10_000) return false;
  }
  return true;
}

/**
 * A guard left by a taker that died (SIGKILL mid-takeover): its process is gone, or it is older than a takeover
 * can take. (Two waiters removing the same dead guard could, in a tiny window, remove a fresh one; a daemon
 * re-reads its lock every rescan and stops if it is no longer its own, which bounds that case.)
 */
async function removeStaleGuard(guard: string): Promise<void> {
  const g = await readLock(guard).catch(() => null);
  if (!g) return;
  const dead = g.info ? g.info.hostname === os.hostname() && !holderAlive(g.info) : false;
  if (dead || Date.now() - g.mtimeMs > GUARD_STALE_MS) await fs.rm(guard, { force: true });
}

/** Temporary locks (`<lock>.<pid>.<token>.tmp`) of takers that died before their rename. */
async function removeDeadTemps(file: string): Promise<void> {
  const prefix = `${path.basename(file)}.`;
  for (const name of await fs.readdir(path.dirname(file))) {
    const m = name.startsWith(prefix) ? /^(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = pid !== process.pid;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') alive = false;
    }
    if (!alive) await fs.rm(path.join(path.dirname(file), name), { force: true });
  }
}

function newInfo(): LockInfo {
  return { pid: process.pid, hostname: os.hostname(), started: new Date().toISOString(), token: randomBytes(8).toString('hex') };
}

function writeExclusive(file: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function handle(file: string, info: LockInfo, tookOverFrom: LockInfo | null): LockHandle {
  let released = false;
  const ours = () => {
    try {
      return parseLock(readFileSync(file, 'utf8'))?.token === info.token;
    } catch {
      return false;
    }
  };
  return {
    file,
    info,
    tookOverFrom,
    stillHeld: () => !released && ours(),
    release() {
      if (released) return;
      released = true;
      try {
        if (ours()) unlinkSync(file);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Take the lock, or throw LockHeldError when a live daemon holds it. A lock from another host is never taken
 * over (its process cannot be checked from here).
 */
export async function acquireLock(file: string): Promise<LockHandle> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const me = newInfo();
  const content = `${JSON.stringify(me)}\n`;
  for (let round = 0; round < 50; round++) {
    if (writeExclusive(file, content)) return handle(file, me, null);

    const seen = await readLock(file);
    if (!seen) continue; // released meanwhile: try the exclusive create again
    if (seen.info) {
      if (seen.info.hostname !== me.hostname || holderAlive(seen.info)) throw new LockHeldError(file, seen.info);
    } else if (Date.now() - seen.mtimeMs < UNREADABLE_STALE_MS) {
      await sleep(100); // another daemon between its open and its write
      continue;
    }

    // Stale. Only the holder of the guard may replace the lock; the others wait and look again.
    const guard = `${file}.takeover`;
    if (!writeExclusive(guard, content)) {
      await removeStaleGuard(guard);
      await sleep(50 + Math.random() * 100);
      continue;
    }
    try {
      const again = await readLock(file);
      if (!again || again.text !== seen.text) continue; // removed or taken over meanwhile: start again
      await removeDeadTemps(file);
      const tmp = `${file}.${process.pid}.${me.token}.tmp`;
      await fs.writeFile(tmp, content, { flag: 'wx' });
      await fs.rename(tmp, file);
      const confirm = await readLock(file);
      if (confirm?.info?.token === me.token) return handle(file, me, seen.info);
    } finally {
      await fs.rm(guard, { force: true });
    }
  }
  const last = await readLock(file);
  throw new LockHeldError(file, last?.info ?? null);
}
