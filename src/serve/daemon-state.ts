// Whether a medetl daemon is running, as the dashboard shows it: read from the daemon's lock file
// (incoming/.medetl.lock, src/watch/lock.ts). `medetl watch --dashboard` passes its own state instead.
import { promises as fs } from 'node:fs';
import { holderAlive, type LockInfo } from '../core/lock.js';

export interface DaemonState {
  running: boolean;
  /** ISO time the daemon started. */
  since?: string;
  pid?: number;
}

export type DaemonStateFn = () => Promise<DaemonState>;

const startedAtMs = Date.now() - process.uptime() * 1000;

/** The daemon state from a lock file: running while the process the lock names is alive. */
export function lockFileDaemonState(lockFile: string): DaemonStateFn {
  return async () => {
    let info: Partial<LockInfo>;
    try {
      info = JSON.parse(await fs.readFile(lockFile, 'utf8')) as Partial<LockInfo>;
    } catch {
      return { running: false }; // no lock (never started, or stopped cleanly), or a torn one
    }
    if (typeof info.pid !== 'number' || typeof info.token !== 'string') return { running: false };
    const lock: LockInfo = { pid: info.pid, hostname: String(info.hostname ?? ''), started: String(info.started ?? ''), token: info.token };
    // holderAlive() treats our own pid as a dead predecessor's; here it is ours when written after we started.
    const ours = lock.pid === process.pid && Date.parse(lock.started) >= startedAtMs - 1000;
    const running = ours || holderAlive(lock);
    return running ? { running, since: lock.started || undefined, pid: lock.pid } : { running: false };
  };
}
