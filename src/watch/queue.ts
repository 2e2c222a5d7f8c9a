// The files the daemon holds in memory: settling (waiting to hold still) or ready (oldest first).
// Bounded: beyond `limit` a file is refused and stays on disk for the next scan, so 10,000 files dropped at once
// cost the same memory as 1,000. One entry per path, however many events the watcher fires for it.
import { byAge } from './scan.js';
import type { FileState, Verdict } from './stable.js';

export interface QueueEntry {
  path: string;
  name: string;
  /** Last look at the file; undefined until the first stat. */
  state?: FileState;
  ready: boolean;
  /** When to look at it next (settling entries). */
  checkAt: number;
}

export class FileQueue {
  private readonly entries = new Map<string, QueueEntry>();
  /** Set when a file was refused for lack of room; the daemon then rescans as soon as there is room. */
  overflowed = false;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  has(file: string): boolean {
    return this.entries.has(file);
  }

  /**
   * Track a file. Already tracked: look at it again soon (the watcher saw it change), and return true.
   * No room: return false and remember that a scan is owed.
   */
  offer(file: string, name: string, now: number): boolean {
    const e = this.entries.get(file);
    if (e) {
      e.ready = false;
      e.checkAt = now;
      return true;
    }
    if (this.entries.size >= this.limit) {
      this.overflowed = true;
      return false;
    }
    this.entries.set(file, { path: file, name, ready: false, checkAt: now });
    return true;
  }

  /** Settling entries whose next look is due. */
  due(now: number): QueueEntry[] {
    const out: QueueEntry[] = [];
    for (const e of this.entries.values()) if (!e.ready && e.checkAt <= now) out.push(e);
    return out;
  }

  /** The earliest next look among settling entries, or undefined when none is settling. */
  nextCheckAt(): number | undefined {
    let min: number | undefined;
    for (const e of this.entries.values()) if (!e.ready && (min === undefined || e.checkAt < min)) min = e.checkAt;
    return min;
  }

  apply(file: string, verdict: Verdict): void {
    const e = this.entries.get(file);
    if (!e) return;
    if (verdict.kind === 'stable') {
      e.ready = true;
    } else {
      e.ready = false;
      e.state = verdict.state;
      e.checkAt = verdict.checkAt;
    }
  }

  /** Forget a file (gone, or handed over). */
  delete(file: string): void {
    this.entries.delete(file);
  }

  /** Remove and return the oldest ready file (mtime, then name). */
  takeReady(): QueueEntry | undefined {
    let best: QueueEntry | undefined;
    for (const e of this.entries.values()) {
      if (!e.ready || !e.state) continue;
      if (!best || byAge({ mtimeMs: e.state.mtimeMs, name: e.name }, { mtimeMs: best.state!.mtimeMs, name: best.name }) < 0) best = e;
    }
    if (best) this.entries.delete(best.path);
    return best;
  }
}
