// `watch --publish`: one work item per stable file. The file first moves from incoming/ into the shared folder
// (under a name no other publisher can pick), then its reference is published. A crash between the two leaves a
// file in the shared folder without a message: `Publisher.recover()` (run at start) publishes every file there,
// and the duplicate window (Nats-Msg-Id = keyed content hash) makes a second publish of one already sent harmless.
// A publish JetStream calls a duplicate means a message for the same content went out within the window, perhaps
// naming another copy: this copy is published again once the window has passed, and the ledger then skips it, so
// no copy is stranded in the shared folder and no judgement about "which copy" is made here.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { Config } from '../../config/load.js';
import type { HmacKey } from '../../config/key.js';
import { TransientError, errorCode } from '../../core/errors.js';
import { retryFs } from '../../core/fsx.js';
import type { Logger } from '../../ops/log.js';
import { WORK_ITEM_VERSION, contentHash, encodeWorkItem, originalName, relativeRef, sharedName, type WorkItem } from './message.js';
import { connectNats, drainWithin, type NatsConnection } from './connect.js';
import { natsSettings, type NatsSettings } from './settings.js';
import { markSharedDir } from './shared-folder.js';
import { ensureStream } from './stream.js';

export interface PublishOptions {
  settings: NatsSettings;
  key: HmacKey;
}

export interface PublishResult {
  /** JetStream had seen this content within its duplicate window: no new message. */
  duplicate: boolean;
  /** The stream sequence of the message (of the earlier one, for a duplicate). */
  seq: number;
  /** Where the file is now (absolute, this machine's view of the shared folder). */
  sharedPath: string;
  item: WorkItem;
}

/** The file is in the shared folder but its message did not go out (a lost connection): publish it again later. */
export class PublishFailedError extends TransientError {
  constructor(
    readonly sharedPath: string,
    readonly causeCode: string,
  ) {
    super('nats_publish_failed', `the work item could not be published (${causeCode}); the file is kept in the shared folder`);
  }
}

/** Temporary names in the shared folder (a copy across volumes in progress): never published, cleaned when old. */
const PART_PREFIX = '.medetl-part-';
const STALE_PART_MS = 3_600_000;

/** Whether a name in the shared folder is a file to publish (not hidden, not a copy in progress). */
export function isPublishable(name: string): boolean {
  return !name.startsWith('.') && !name.endsWith('.tmp');
}

/**
 * Move `from` to `to` in the shared folder. A rename when both are on one volume; otherwise a copy under a hidden
 * temporary name, flushed, then renamed, so a crash never leaves a partial file under a publishable name.
 */
async function moveIntoShared(from: string, to: string): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  try {
    await retryFs(() => fs.rename(from, to));
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const st = await fs.stat(from);
  const tmp = path.join(path.dirname(to), `${PART_PREFIX}${randomBytes(6).toString('hex')}`);
  try {
    await retryFs(() => fs.copyFile(from, tmp, constants.COPYFILE_EXCL));
    const fh = await fs.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.utimes(tmp, st.atime, st.mtime); // the arrival time travels with the file
    await retryFs(() => fs.rename(tmp, to));
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await retryFs(() => fs.rm(from, { force: true }));
}

/** Publish the reference to a file that is already in the shared folder. */
async function publishShared(js: JetStreamClient, o: PublishOptions, file: string, name: string): Promise<PublishResult> {
  const rel = relativeRef(o.settings.sharedDir, file);
  if (rel === null) throw new Error('publishShared: the file is not inside the shared folder');
  const st = await fs.stat(file);
  const { hash, size } = await contentHash(o.key, file);
  const item: WorkItem = { v: WORK_ITEM_VERSION, path: rel, name, size, hash, mtime_ms: Math.round(st.mtimeMs) };
  const { data, headers } = encodeWorkItem(item);
  try {
    const ack = await js.publish(o.settings.subject, data, { msgID: hash, headers, expect: { streamName: o.settings.stream } });
    return { duplicate: ack.duplicate, seq: ack.seq, sharedPath: file, item };
  } catch (err) {
    throw new PublishFailedError(file, errorCode(err));
  }
}

/**
 * Move one stable file into the shared folder and publish its reference. A file already inside the shared folder is
 * published where it is. Throws before the move (the file is still where it was: retry it later) or a
 * PublishFailedError after it (the file is in the shared folder: publish `err.sharedPath` later, or let recover()).
 */
export async function publishFile(js: JetStreamClient, o: PublishOptions, file: string): Promise<PublishResult> {
  if (relativeRef(o.settings.sharedDir, file) !== null) return publishShared(js, o, file, originalName(path.basename(file)));
  const name = path.basename(file);
  const dest = path.join(o.settings.sharedDir, sharedName(name, randomBytes(6).toString('hex')));
  await markSharedDir(o.settings.sharedDir);
  await moveIntoShared(file, dest);
  return publishShared(js, o, dest, name);
}

interface Later {
  dueAtMs: number;
  why: 'duplicate' | 'failed';
  tries: number;
}

export interface PublisherOptions extends PublishOptions {
  js: JetStreamClient;
  logger: Logger;
  /** First delay before a failed publish is tried again (doubles, up to a minute). */
  retryMs?: number;
}

export type PublishOutcome = (PublishResult & { deferred: false }) | { deferred: true; sharedPath: string; code: string };

/**
 * The publisher `watch --publish` runs: publishFile() plus the files whose publish must be repeated (a duplicate,
 * once the window has passed; a failed publish, with backoff), and recover() for what a crash left behind.
 */
export class Publisher {
  private readonly later = new Map<string, Later>();
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private closed = false;
  private readonly retryMs: number;

  constructor(private readonly o: PublisherOptions) {
    this.retryMs = o.retryMs ?? 1000;
    this.timer = setInterval(() => void this.sweep(), Math.min(1000, this.retryMs));
    this.timer.unref();
  }

  /** Files waiting for another publish. */
  get pending(): number {
    return this.later.size;
  }

  /**
   * Move + publish one file. Rejects only while the file is still where it was (the move failed: keep it and try
   * again); once it is in the shared folder, a failed publish is kept here and repeated.
   */
  async publishFile(file: string): Promise<PublishOutcome> {
    try {
      const r = await publishFile(this.o.js, this.o, file);
      this.settled(r);
      return { ...r, deferred: false };
    } catch (err) {
      if (!(err instanceof PublishFailedError)) throw err;
      this.defer(err.sharedPath, 'failed', 0, err.causeCode);
      return { deferred: true, sharedPath: err.sharedPath, code: err.causeCode };
    }
  }

  /** At start: publish every file in the shared folder (a crash may have left some without a message). */
  async recover(): Promise<{ files: number; published: number; duplicates: number; deferred: number }> {
    const dir = this.o.settings.sharedDir;
    await markSharedDir(dir);
    const counts = { files: 0, published: 0, duplicates: 0, deferred: 0 };
    for (const ent of await fs.readdir(dir, { withFileTypes: true })) {
      const file = path.join(dir, ent.name);
      if (ent.name.startsWith(PART_PREFIX)) {
        await this.removeIfStale(file);
        continue;
      }
      if (!ent.isFile() || !isPublishable(ent.name)) continue;
      counts.files++;
      const r = await this.publishFile(file).catch((err: unknown) => {
        this.o.logger.warn({ code: errorCode(err) }, 'recover: a file in the shared folder could not be read');
        return null;
      });
      if (!r) continue;
      if (r.deferred) counts.deferred++;
      else if (r.duplicate) counts.duplicates++;
      else counts.published++;
    }
    this.o.logger.info({ code: 'nats_recovered', ...counts }, 'published what the shared folder held');
    return counts;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
  }

  private settled(r: PublishResult): void {
    if (r.duplicate) this.defer(r.sharedPath, 'duplicate', 0);
    else this.later.delete(r.sharedPath);
  }

  private defer(file: string, why: Later['why'], tries: number, code?: string): void {
    const delay = why === 'duplicate' ? this.o.settings.duplicateWindowMs + 1000 : Math.min(60_000, this.retryMs * 2 ** tries);
    this.later.set(file, { dueAtMs: Date.now() + delay, why, tries });
    this.o.logger.info({ code: why === 'duplicate' ? 'nats_duplicate' : 'nats_publish_deferred', cause: code, delay_ms: delay }, 'work item to be published again');
  }

  private async removeIfStale(file: string): Promise<void> {
    try {
      const st = await fs.stat(file);
      if (Date.now() - st.mtimeMs > STALE_PART_MS) await fs.rm(file, { force: true });
    } catch {
      // gone already
    }
  }

  private sweep(): void {
    if (this.busy || this.closed || this.later.size === 0) return;
    this.busy = (async () => {
      const now = Date.now();
      for (const [file, l] of [...this.later]) {
        if (this.closed) break;
        if (l.dueAtMs > now) continue;
        try {
          await fs.access(file);
        } catch {
          this.later.delete(file); // a worker archived it meanwhile: nothing to publish
          continue;
        }
        try {
          const r = await publishFile(this.o.js, this.o, file);
          if (r.duplicate && l.why === 'duplicate') this.defer(file, 'duplicate', l.tries + 1);
          else this.settled(r);
        } catch (err) {
          this.defer(file, 'failed', l.tries + 1, err instanceof PublishFailedError ? err.causeCode : errorCode(err));
        }
      }
    })().finally(() => {
      this.busy = null;
    });
  }
}

/** `watch --publish`'s publisher: connect from .env, make sure the stream exists. close() also drains the connection. */
export async function openPublisher(config: Config, logger: Logger, key: HmacKey): Promise<Publisher & { connection: NatsConnection }> {
  const settings = natsSettings(config);
  const nc = await connectNats(config.env, 'medetl-publisher');
  try {
    await ensureStream(await jetstreamManager(nc), settings, logger);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
  const p = new Publisher({ js: jetstream(nc), settings, key, logger }) as Publisher & { connection: NatsConnection };
  const close = p.close.bind(p);
  p.connection = nc;
  p.close = async () => {
    await close();
    await drainWithin(nc);
  };
  return p;
}
