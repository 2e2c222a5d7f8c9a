// The runner of `watch --publish`: instead of loading a stable file, hand it on to the work queue. The publisher
// (sources/nats/publisher.ts) moves it from incoming/ into the shared folder and publishes a reference to it (path,
// size, keyed content hash: never a cell of the file). The drive loop (drive.ts) runs it exactly as it runs the
// batch runner, so the folder source's stability gate, backlog mode, rescans, retries and signals are the same.
//
// The file leaves incoming/ with the move, so the delivery is not settled here (done() would archive it): the
// workers settle it. A failed move leaves the file where it was and is retried (a transient error for the loop); a
// failed publish after the move is the publisher's to repeat, with backoff, and its recover() at the next start.
import { TransientError, errorCode } from './core/errors.js';
import type { Logger } from './ops/log.js';
import { safeName } from './ops/safe-name.js';
import type { BatchRunner } from './drive.js';
import type { BatchResult } from './runner.js';
import type { PublishOutcome } from './sources/nats/index.js';
import type { Delivery } from './sources/source.js';

/** What happened to one file, beside the counts the loop keeps (all zero: nothing was loaded here). */
export interface PublishedFile extends BatchResult {
  published: {
    /** published: a new work item; duplicate: the same content was queued within the window (published again after
     * it); deferred: in the shared folder, the publish failed and is repeated. */
    outcome: 'published' | 'duplicate' | 'deferred';
    /** Stream sequence of the work item (of the earlier one for a duplicate), null when deferred. */
    seq: number | null;
    /** Why a publish was deferred (an error code). */
    code?: string;
  };
}

export interface PublishCounts {
  published: number;
  duplicates: number;
  deferred: number;
}

/** The part of the publisher this runner needs (sources/nats/publisher.ts). */
export interface FilePublisher {
  publishFile(file: string): Promise<PublishOutcome>;
  readonly pending: number;
}

export function isPublished(r: BatchResult): r is PublishedFile {
  return (r as Partial<PublishedFile>).published !== undefined;
}

export class PublishRunner implements BatchRunner {
  readonly counts: PublishCounts = { published: 0, duplicates: 0, deferred: 0 };

  constructor(
    private readonly publisher: FilePublisher,
    private readonly log: Logger,
  ) {}

  async run(d: Delivery): Promise<PublishedFile> {
    const t0 = performance.now();
    let out: PublishOutcome;
    try {
      out = await this.publisher.publishFile(d.path);
    } catch (err) {
      // Still in incoming/ (the move into the shared folder failed, or the file could not be read): the loop retries
      // it with backoff, then parks it; nothing is quarantined for a share that is away.
      throw new TransientError(`publish_${errorCode(err)}`.slice(0, 60), `the file could not be moved into the shared folder (${errorCode(err)})`);
    }
    const base: BatchResult = {
      file: safeName(d.name), status: 'loaded', batchId: null, rowsIn: 0, loaded: 0, rejected: 0, rejectedByReason: {}, duplicates: 0,
      flagged: 0, clipped: 0, ms: Math.round(performance.now() - t0),
    };
    if (out.deferred) {
      this.counts.deferred++;
      this.log.warn({ event: 'publish_deferred', file: d.name, code: out.code }, 'file in the shared folder; its work item is published later');
      return { ...base, published: { outcome: 'deferred', seq: null, code: out.code } };
    }
    if (out.duplicate) {
      this.counts.duplicates++;
      this.log.info({ event: 'publish_duplicate', file: d.name, seq: out.seq }, 'same content queued within the duplicate window');
      return { ...base, status: 'skipped_duplicate', published: { outcome: 'duplicate', seq: out.seq } };
    }
    this.counts.published++;
    this.log.info({ event: 'published', file: d.name, seq: out.seq, bytes: out.item.size }, 'work item published');
    return { ...base, published: { outcome: 'published', seq: out.seq } };
  }
}

/** The line `watch --publish` ends with (counts only). */
export function publishStopLine(why: string, c: PublishCounts, failed: number, pending: number, ms: number): string {
  return (
    `${why}: ${c.published} file(s) published, ${c.duplicates} duplicate(s), ${c.deferred} deferred, ${failed} failed` +
    `${pending ? `; ${pending} in the shared folder wait for another publish (the next start publishes them)` : ''}; ${(ms / 1000).toFixed(1)} s`
  );
}
