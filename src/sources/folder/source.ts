// The folder source behind `medetl watch`: the incoming/ lock, chokidar plus a periodic rescan, a bounded queue of
// settling/ready files (stable.ts decides when a file is complete), oldest first. It hands out one delivery at a
// time and owns the raw file's fate: archive or delete when loaded, quarantine/ with a reason when bad, parked for a
// while when the machine failed. What it promises: no file is lost, none is read half-written.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Config } from '../../config/load.js';
import { ensureDir } from '../../core/fsx.js';
import { acquireLock, type LockHandle } from '../../core/lock.js';
import { sleep } from '../../core/retry.js';
import type { Logger } from '../../ops/log.js';
import { quarantineFile, settleLoaded, sweepQuarantineTemps } from '../quarantine.js';
import type { Delivery, QuarantineReason, Source } from '../source.js';
import { FileQueue, type QueueEntry } from './queue.js';
import { nameFilter, renameInvalidNames, scanIncoming } from './scan.js';
import { endsWithNewline, judge } from './stable.js';

export type FolderEnd = 'drained' | 'stopped' | 'lock_lost';

export interface FolderSourceOptions {
  /** Hand out the backlog and whatever arrives until incoming/ is empty and nothing is queued, then end. */
  drain?: boolean;
  log: Logger;
  /** Called once when the lock is found removed or taken by another process (the source then ends). */
  onLockLost?: (lockFile: string) => void;
}

const NEVER = new AbortController().signal;

export class FolderSource implements Source {
  readonly kind = 'folder' as const;
  /** Why the iteration ended. */
  endedBy: FolderEnd = 'stopped';
  private readonly incoming: string;
  private readonly accept: (name: string) => boolean;
  private readonly queue: FileQueue;
  private readonly parked = new Map<string, number>();
  /** Loaded files kept in incoming/ until idle for watch.archive_after_ms (they may grow: appends load again). */
  private readonly held = new Map<string, { name: string; size: number; mtimeMs: number; since: number }>();
  private nextSweepAt = 0;
  private watcher: FSWatcher | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private inFlight: string | null = null;
  private scanOwed = false;
  private stopped = false;
  private waking: AbortController | null = null;
  private wakePending = false;
  private readonly log: Logger;
  private readonly releaseOnExit = () => this.lock.release();

  private constructor(
    private readonly config: Config,
    readonly lock: LockHandle,
    private readonly opts: FolderSourceOptions,
  ) {
    this.incoming = path.resolve(config.resolved.incoming);
    this.accept = nameFilter(config.watch.glob);
    this.queue = new FileQueue(config.watch.queue_limit);
    this.log = opts.log;
  }

  /** Take the incoming/ lock (LockHeldError if another watcher holds it), scan the backlog, start watching. */
  static async open(config: Config, opts: FolderSourceOptions): Promise<FolderSource> {
    ensureDir(config.resolved.incoming);
    const lock = await acquireLock(config.resolved.lock);
    const s = new FolderSource(config, lock, opts);
    process.on('exit', s.releaseOnExit);
    try {
      sweepQuarantineTemps(config.resolved.quarantine, opts.log);
      s.startRescanTimer();
      await s.scan(); // the backlog, and the watcher unless the backlog is larger than the queue
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private wake(): void {
    if (this.waking) this.waking.abort();
    else this.wakePending = true;
  }

  private async nap(ms: number): Promise<void> {
    if (this.wakePending || ms <= 0) {
      this.wakePending = false;
      return;
    }
    this.waking = new AbortController();
    await sleep(ms, this.waking.signal);
    this.waking = null;
    this.wakePending = false;
  }

  private isParked(file: string, now: number): boolean {
    const until = this.parked.get(file);
    if (until === undefined) return false;
    if (now < until) return true;
    this.parked.delete(file);
    return false;
  }

  /** A path the watcher reported: queue it if it is an events file directly in incoming/. */
  private onEvent(file: string): void {
    const abs = path.resolve(file);
    const name = path.basename(abs);
    if (path.dirname(abs) !== this.incoming || !this.accept(name)) return;
    if (this.inFlight === abs) {
      this.log.warn({ event: 'watch_changed_while_reading', file: name });
      return;
    }
    if (this.isParked(abs, Date.now()) || this.held.has(abs)) return;
    if (this.queue.offer(abs, name, Date.now())) this.wake();
    else this.pauseWatcher(); // more arrive than the queue holds: scans take over until the backlog is down
  }

  /** Check the lock and owe a scan every rescan_ms. */
  private startRescanTimer(): void {
    this.rescanTimer = setInterval(() => {
      if (!this.lock.stillHeld()) {
        this.log.error({ event: 'watch_lock_lost', lock: this.lock.file });
        this.endedBy = 'lock_lost';
        this.opts.onLockLost?.(this.lock.file);
        this.stop();
        return;
      }
      this.scanOwed = true;
      this.wake();
    }, this.config.watch.rescan_ms);
    this.rescanTimer.unref();
  }

  private async resumeWatcher(): Promise<void> {
    if (this.watcher || this.stopped) return;
    const incoming = this.incoming;
    const watcher = watch(incoming, {
      depth: 0,
      ignoreInitial: true,
      persistent: true,
      awaitWriteFinish: false,
      ignored: (p: string, stats?: import('node:fs').Stats) => {
        const abs = path.resolve(p);
        if (abs === incoming) return false;
        if (stats?.isDirectory() || path.dirname(abs) !== incoming) return true;
        return !this.accept(path.basename(abs));
      },
    });
    watcher.on('add', (p) => this.onEvent(p));
    watcher.on('change', (p) => this.onEvent(p));
    watcher.on('unlink', (p) => {
      const abs = path.resolve(p);
      if (this.queue.has(abs)) this.queue.delete(abs);
    });
    watcher.on('error', (err) => {
      // The periodic rescan covers whatever the watcher misses (ENOSPC: out of inotify watches, a network share...).
      this.log.warn({ event: 'watch_watcher_error', code: (err as NodeJS.ErrnoException).code ?? (err as Error).name });
    });
    this.watcher = watcher;
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.scanOwed = true; // what arrived before the watcher was ready
    this.log.debug({ event: 'watch_watcher_on' });
  }

  /**
   * Backlog mode. chokidar re-lists the whole folder (an lstat per entry) on every change in it, so with thousands
   * of files waiting its cost grows with the square of the backlog, and its events could not be queued anyway.
   * Scans (oldest first) fill the queue instead; the watcher comes back once the backlog fits in half the queue.
   */
  private pauseWatcher(): void {
    const w = this.watcher;
    if (!w) return;
    this.watcher = null;
    this.queue.overflowed = true;
    this.log.info({ event: 'watch_backlog_mode', queueLimit: this.queue.limit });
    void w.close().catch(() => undefined);
  }

  /**
   * Fill the queue from disk, oldest first, then switch the watcher on or off for the size of the backlog.
   * Returns how many events files are on disk and not parked (queued ones included).
   */
  private async scan(): Promise<number> {
    this.scanOwed = false;
    const now = Date.now();
    const room = this.queue.limit - this.queue.size;
    this.queue.overflowed = false;
    let result;
    try {
      await renameInvalidNames(this.incoming, this.accept, (to) => this.log.warn({ event: 'watch_renamed_invalid_name', file: to }, 'a file name that was not valid UTF-8 was renamed'));
      result = await scanIncoming(this.incoming, (name) => this.accept(name) && !this.isParked(path.join(this.incoming, name), now), {
        limit: room,
        skip: (f) => this.queue.has(f) || this.inFlight === f || this.held.has(f),
      });
    } catch (err) {
      this.log.warn({ event: 'watch_scan_failed', code: (err as NodeJS.ErrnoException).code ?? (err as Error).name });
      return this.queue.size;
    }
    const seen = Date.now();
    for (const c of result.files) {
      if (this.queue.offer(c.path, c.name, seen)) this.queue.apply(c.path, judge(undefined, c, seen, this.config.watch.stable_ms));
    }
    // more on disk than the queue took: refill as soon as it has room
    if (result.matched > this.queue.size + (this.inFlight ? 1 : 0)) this.queue.overflowed = true;
    if (result.matched > this.queue.limit) this.pauseWatcher();
    else if (result.matched <= this.queue.limit / 2) await this.resumeWatcher();
    return result.matched;
  }

  /**
   * Loaded files kept in incoming/: one that grew (or changed) goes back through the stability gate, and the runner
   * loads what was appended; one idle for watch.archive_after_ms is archived (or deleted).
   */
  private async sweepHeld(force = false): Promise<void> {
    const now = Date.now();
    if (this.held.size === 0 || (!force && now < this.nextSweepAt)) return;
    const after = this.config.watch.archive_after_ms;
    this.nextSweepAt = now + Math.max(100, Math.min(1000, after / 4));
    for (const [file, h] of [...this.held]) {
      if (this.stopped) return;
      let st;
      try {
        st = await fs.stat(file);
      } catch {
        this.held.delete(file); // gone: moved or removed by someone else
        continue;
      }
      if (st.size !== h.size || st.mtimeMs !== h.mtimeMs) {
        this.held.delete(file);
        this.log.info({ event: 'watch_loaded_file_changed', file: h.name, grew: st.size > h.size }, 'a loaded file changed: what was appended loads as a new batch');
        if (this.queue.offer(file, h.name, now)) this.wake();
        continue;
      }
      if (force || now - Math.max(h.since, st.mtimeMs) >= after) {
        this.held.delete(file);
        try {
          await settleLoaded(file, this.config.watch.on_success, this.config.resolved.archive);
        } catch (err) {
          // a full or read-only archive: the file stays, found committed next time
          this.log.warn({ event: 'watch_archive_failed', file: h.name, code: (err as NodeJS.ErrnoException).code });
        }
      }
    }
  }

  /** A loaded file: settle it now, or hold it in incoming/ while it may still grow. */
  private async loaded(e: QueueEntry): Promise<string | undefined> {
    const { watch } = this.config;
    if (this.opts.drain || watch.archive_after_ms === 0) return settleLoaded(e.path, watch.on_success, this.config.resolved.archive);
    // As read (judged stable just before): a write since then shows as a change in the next sweep.
    this.held.set(e.path, { name: e.name, size: e.state?.size ?? -1, mtimeMs: e.state?.mtimeMs ?? -1, since: Date.now() });
    return undefined;
  }

  /** Look at every settling file whose time has come. */
  private async settle(): Promise<void> {
    const stableMs = this.config.watch.stable_ms;
    for (const e of this.queue.due(Date.now())) {
      if (this.stopped) return;
      try {
        const st = await fs.stat(e.path);
        if (!st.isFile()) {
          this.queue.delete(e.path);
          continue;
        }
        const same = e.state && e.state.size === st.size && e.state.mtimeMs === st.mtimeMs;
        const tail = same ? await endsWithNewline(e.path, st.size) : undefined;
        this.queue.apply(e.path, judge(e.state, { size: st.size, mtimeMs: st.mtimeMs, endsWithNewline: tail }, Date.now(), stableMs));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.queue.delete(e.path);
        else this.queue.apply(e.path, { kind: 'settling', checkAt: Date.now() + Math.max(stableMs, 250), state: e.state ?? { size: -1, mtimeMs: -1, since: Date.now() } });
      }
    }
  }

  /** A ready file, re-checked: still the size and mtime it was judged stable at. */
  private async stillReady(e: QueueEntry): Promise<boolean> {
    try {
      const st = await fs.stat(e.path);
      if (st.size !== e.state?.size || st.mtimeMs !== e.state?.mtimeMs) {
        this.queue.offer(e.path, e.name, Date.now()); // changed since it was judged stable: settle again
        return false;
      }
      return true;
    } catch {
      return false; // gone (or unreadable: the next scan brings it back)
    }
  }

  async *deliveries(): AsyncGenerator<Delivery> {
    const drain = this.opts.drain === true;
    while (!this.stopped) {
      const refill = this.queue.overflowed && this.queue.size <= this.queue.limit / 2;
      if ((this.scanOwed || refill) && this.queue.size < this.queue.limit) await this.scan();
      await this.settle();
      await this.sweepHeld();
      if (this.stopped) break;
      const next = this.queue.takeReady();
      if (next) {
        if (!(await this.stillReady(next))) continue;
        this.inFlight = next.path;
        try {
          yield this.delivery(next);
        } finally {
          this.inFlight = null;
        }
        continue;
      }
      if (drain && this.queue.size === 0) {
        if ((await this.scan()) === 0 && this.queue.size === 0) {
          this.endedBy = 'drained';
          break;
        }
        continue;
      }
      const at = Math.min(this.queue.nextCheckAt() ?? Infinity, this.held.size ? this.nextSweepAt : Infinity);
      await this.nap(at === Infinity ? this.config.watch.rescan_ms : Math.max(0, at - Date.now()));
    }
  }

  private delivery(e: QueueEntry): Delivery {
    const { config } = this;
    return {
      name: e.name,
      path: e.path,
      arrivedAtMs: e.state?.mtimeMs ?? null,
      attempt: 1,
      signal: NEVER,
      done: () => this.loaded(e),
      quarantine: (reason: QuarantineReason) => quarantineFile(e.path, config.resolved.quarantine, reason),
      retryLater: async (delayMs: number) => {
        // Drain mode: not again in this run (the file stays in incoming/ for the next one).
        this.parked.set(e.path, this.opts.drain ? Infinity : Date.now() + delayMs);
      },
      keepAlive: () => undefined,
    };
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    await this.watcher?.close().catch(() => undefined);
    this.watcher = null;
    this.lock.release();
    process.removeListener('exit', this.releaseOnExit);
  }
}
