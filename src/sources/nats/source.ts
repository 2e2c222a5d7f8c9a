// `medetl worker`: a durable pull consumer on the work-queue stream, one message at a time. Each delivery names a
// raw file in the shared folder (resolved against this machine's mount of it) and maps the source contract onto
// JetStream: done() = archive the raw file, then ack (confirmed); quarantine() = move it to quarantine/ with its
// reason, then term; retryLater() = nak with a delay, or quarantine once the attempts are used up; keepAlive() =
// working. While a delivery is open, a timer sends working every ack_wait/3, so a long batch is never handed to a
// second worker. The consumer's max_deliver is one above nats.max_deliveries: that spare delivery only happens
// when every attempt died without an answer (a worker killed by the file, say) and quarantines the file unread.
//
// Nothing here crashes on a lost connection: the client reconnects; an ack that does not arrive means the
// message comes back later, and the runner's ledger check turns that re-run into a skip.
import { promises as fs } from 'node:fs';
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Config } from '../../config/load.js';
import { errorCode } from '../../core/errors.js';
import { freeName, moveFile } from '../../core/fsx.js';
import { sleep } from '../../core/retry.js';
import type { Logger } from '../../ops/log.js';
import { quarantineFile } from '../quarantine.js';
import type { Delivery, QuarantineReason, Source } from '../source.js';
import { connectNats, drainWithin, type NatsConnection } from './connect.js';
import { WorkerHeartbeat, type WorkerCounts } from './heartbeat.js';
import { decodeWorkItem, resolveRef, type WorkItem } from './message.js';
import { natsSettings, type NatsSettings } from './settings.js';
import { SHARED_MARKER, sharedDirVisible } from './shared-folder.js';
import { effectiveConsumer, ensureConsumer, ensureStream, ensureWorkersStream, type EffectiveConsumer } from './stream.js';

export interface NatsSourceOptions {
  connection: NatsConnection;
  /** Paths (quarantine, archive), watch.on_success and the nats block. */
  config: Config;
  logger: Logger;
  /** Close (drain) the connection in close(). Default true. */
  ownsConnection?: boolean;
  /** Publish worker heartbeats for `status`. Default true. */
  heartbeat?: boolean;
  workerId?: string;
  /** Send working every ack_wait/3 while a delivery is open. Default true (off only to test keepAlive() itself). */
  autoKeepAlive?: boolean;
  /** How long one pull waits for a message before asking again. Default 3000 ms. */
  pullWaitMs?: number;
  /** Create the stream and consumer when missing (else they must exist). Default true. */
  ensure?: boolean;
}

const STOP = Symbol('stop');
/** close() waits this long for the connection to drain. */
const DRAIN_LIMIT_MS = 5000;
/** How often a worker that cannot see the shared folder looks again. */
const SHARED_RECHECK_MS = 1000;

/** One file handed to this worker. Extra fields beyond the contract: the reference as published. */
export class NatsDelivery implements Delivery {
  readonly name: string;
  readonly arrivedAtMs: number | null;
  readonly attempt: number;
  readonly signal: AbortSignal;
  /** The reference as published: relative path, size, keyed content hash. */
  readonly item: WorkItem;
  readonly seq: number;
  private readonly abort = new AbortController();
  private settledAs: 'done' | 'quarantined' | 'retry' | 'released' | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWorkingMs = 0;
  private readonly settledWaiters: (() => void)[] = [];

  constructor(
    private readonly src: NatsSource,
    private readonly msg: JsMsg,
    item: WorkItem,
    readonly path: string,
  ) {
    this.item = item;
    this.name = item.name;
    this.arrivedAtMs = item.mtime_ms;
    this.attempt = msg.info.deliveryCount;
    this.seq = msg.seq;
    this.signal = this.abort.signal;
  }

  get settled(): boolean {
    return this.settledAs !== null;
  }

  /** Wait until done/quarantine/retryLater (or release) was called. */
  whenSettled(): Promise<void> {
    return this.settledAs ? Promise.resolve() : new Promise((r) => this.settledWaiters.push(r));
  }

  startKeepAlive(intervalMs: number): void {
    this.timer = setInterval(() => this.sendWorking(), intervalMs);
    this.timer.unref();
  }

  keepAlive(): void {
    if (this.settledAs) return;
    // The runner may call this per row group: one working per second is plenty (ack_wait is seconds or more).
    if (Date.now() - this.lastWorkingMs < Math.min(1000, this.src.consumerInfo.ackWaitMs / 4)) return;
    this.sendWorking();
  }

  async done(): Promise<string | undefined> {
    if (this.wasReleased('done')) return undefined;
    this.settle('done');
    let dest: string | undefined;
    try {
      dest = await this.src.archive(this.path, this.name);
    } catch (err) {
      // The batch is committed; the raw file stays in the shared folder. Ack anyway: a redelivery would only be
      // skipped by the ledger, and the file is reported for the operator.
      this.src.logger.warn({ code: 'archive_failed', cause: errorCode(err), seq: this.seq }, 'a loaded file could not be archived; it stays in the shared folder');
    }
    try {
      const ok = await this.msg.ackAck({ timeout: Math.min(5000, this.src.consumerInfo.ackWaitMs) });
      if (!ok) throw new Error('ack not confirmed');
    } catch (err) {
      this.src.logger.warn({ code: 'ack_failed', cause: errorCode(err), seq: this.seq }, 'the ack did not reach NATS: the message will come back and the ledger will skip it');
    }
    this.src.counts.done++;
    return dest;
  }

  async quarantine(reason: QuarantineReason): Promise<string | undefined> {
    if (this.wasReleased('quarantine')) return undefined;
    this.settle('quarantined');
    return this.src.quarantineAndTerm(this.msg, this.path, this.name, reason, this.seq);
  }

  async retryLater(delayMs: number, code: string): Promise<void> {
    if (this.wasReleased('retryLater')) return;
    const max = this.src.consumerInfo.maxDeliveries;
    if (this.attempt >= max) {
      this.settle('quarantined');
      await this.src.quarantineAndTerm(
        this.msg,
        this.path,
        this.name,
        { code: 'max_deliveries_exceeded', message: `failed ${this.attempt} times for reasons outside the file (last: ${code}); nats.max_deliveries is ${max}` },
        this.seq,
      );
      return;
    }
    this.settle('retry');
    this.src.counts.retried++;
    this.src.safely('nak', () => this.msg.nak(Math.max(0, Math.round(delayMs))));
    this.src.logger.info({ code: 'nats_retry_later', cause: code, attempt: this.attempt, delay_ms: delayMs, seq: this.seq }, 'the file will be offered again');
  }

  /** Hand the message back at once, unprocessed (a stop, or a caller that moved on without settling). */
  release(why: string): void {
    if (this.settledAs) return;
    this.settle('released');
    this.abort.abort();
    this.src.safely('nak', () => this.msg.nak());
    this.src.logger.warn({ code: 'nats_released', cause: why, seq: this.seq }, 'a delivery was handed back unsettled');
  }

  /**
   * After release() (a forced stop handed the message back and aborted the signal) the message is another
   * worker's: a late settle changes nothing; the redelivery decides (a committed batch is then skipped).
   */
  private wasReleased(what: string): boolean {
    if (this.settledAs !== 'released') return false;
    this.src.logger.info({ code: 'nats_settle_after_release', what, seq: this.seq }, 'the delivery was handed back already; the redelivery will settle it');
    return true;
  }

  private sendWorking(): void {
    if (this.settledAs) return;
    this.lastWorkingMs = Date.now();
    this.src.safely('working', () => this.msg.working());
  }

  private settle(as: NonNullable<NatsDelivery['settledAs']>): void {
    if (this.settledAs) throw new Error(`delivery already settled (${this.settledAs}); cannot ${as}`);
    this.settledAs = as;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.settledWaiters.splice(0)) w();
  }
}

export class NatsSource implements Source {
  readonly kind = 'nats' as const;
  readonly settings: NatsSettings;
  readonly counts: WorkerCounts = { done: 0, quarantined: 0, retried: 0 };
  readonly logger: Logger;
  consumerInfo!: EffectiveConsumer;
  private consumer!: Consumer;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private heartbeat: WorkerHeartbeat | null = null;
  private stopped = false;
  private closed = false;
  private wakeStop!: (v: typeof STOP) => void;
  private readonly stopPromise: Promise<typeof STOP>;
  private pendingPull: Promise<unknown> | null = null;
  private inFlight: NatsDelivery | null = null;

  private constructor(private readonly o: NatsSourceOptions) {
    this.settings = natsSettings(o.config);
    this.logger = o.logger;
    this.stopPromise = new Promise((r) => (this.wakeStop = r));
  }

  /** A source on an open connection: checks (or creates) the stream and consumer, starts the heartbeat. */
  static async open(o: NatsSourceOptions): Promise<NatsSource> {
    const s = new NatsSource(o);
    s.js = jetstream(o.connection);
    s.jsm = await jetstreamManager(o.connection);
    if (o.ensure !== false) {
      await ensureStream(s.jsm, s.settings, o.logger);
      s.consumerInfo = await ensureConsumer(s.jsm, s.settings, o.logger);
    } else {
      s.consumerInfo = effectiveConsumer(await s.jsm.consumers.info(s.settings.stream, s.settings.consumer), s.settings);
    }
    s.consumer = await s.js.consumers.get(s.settings.stream, s.settings.consumer);
    if (o.heartbeat !== false) {
      await ensureWorkersStream(s.jsm, s.settings);
      s.heartbeat = new WorkerHeartbeat(s.js, s.settings, o.logger, () => ({ busy: s.inFlight !== null, batches: s.counts }), o.workerId);
      s.heartbeat.start();
    }
    return s;
  }

  get workerId(): string | null {
    return this.heartbeat?.id ?? null;
  }

  async *deliveries(): AsyncIterable<Delivery> {
    let backoff = 500;
    let unseen = false;
    while (!this.stopped) {
      if (!(await sharedDirVisible(this.settings.sharedDir))) {
        // Unmounted or unreachable: take no work (every file would look missing) until it is back.
        if (!unseen) this.logger.warn({ code: 'shared_dir_unavailable' }, `the shared folder (its ${SHARED_MARKER} marker) is not visible: taking no work until it is`);
        unseen = true;
        await Promise.race([sleep(SHARED_RECHECK_MS), this.stopPromise]);
        continue;
      }
      if (unseen) this.logger.info({ code: 'shared_dir_available' }, 'the shared folder is visible again');
      unseen = false;
      const got = await this.pull();
      if (got === STOP) break;
      if (got instanceof Error) {
        await Promise.race([sleep(backoff), this.stopPromise]);
        backoff = Math.min(backoff * 2, 10_000);
        continue;
      }
      backoff = 500;
      if (got === null) continue;
      const d = await this.prepare(got);
      if (!d) continue;
      this.inFlight = d;
      try {
        yield d;
        if (!d.settled) d.release('not_settled');
      } finally {
        // The caller left the loop (break, throw) with the delivery unsettled: hand it back now.
        if (!d.settled) d.release('iteration_ended');
        this.inFlight = null;
      }
    }
  }

  /** Stop handing out deliveries; the one in flight still finishes (its ack is sent). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wakeStop(STOP);
  }

  /** After the loop ended: hand back anything unsettled, send the last heartbeat, drain the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    this.inFlight?.release('closed');
    if (this.pendingPull) await Promise.race([this.pendingPull, sleep((this.o.pullWaitMs ?? 3000) + 1000)]);
    await this.heartbeat?.stop();
    if (this.o.ownsConnection !== false && !(await drainWithin(this.o.connection, DRAIN_LIMIT_MS))) {
      this.logger.warn({ code: 'nats_drain_timeout' }, 'NATS did not answer while closing: unsent acks will come back as redeliveries');
    }
  }

  /** One message, null when the wait ended empty, STOP, or the error that ended the pull. */
  private async pull(): Promise<JsMsg | null | typeof STOP | Error> {
    const p = this.consumer.next({ expires: this.o.pullWaitMs ?? 3000 }).then(
      (m) => m,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    this.pendingPull = p;
    const r = await Promise.race([p, this.stopPromise]);
    if (r === STOP) {
      // The pull may still bring a message: give it straight back for another worker.
      void p.then((m) => {
        if (m && !(m instanceof Error)) this.safely('nak', () => m.nak());
      });
      return STOP;
    }
    this.pendingPull = null;
    if (r instanceof Error) {
      if (this.o.connection.isClosed()) {
        this.stop();
        return STOP;
      }
      this.logger.warn({ code: 'nats_pull_failed', cause: errorCode(r) }, 'fetching the next work item failed; trying again');
      await this.recoverConsumer();
    }
    return r;
  }

  /** A pull that fails may mean the consumer or the stream was deleted under us: put them back (when allowed). */
  private async recoverConsumer(): Promise<void> {
    try {
      await this.jsm.consumers.info(this.settings.stream, this.settings.consumer);
      return; // it exists: the failure was the connection's, and the client reconnects by itself
    } catch (err) {
      const code = err instanceof JetStreamApiError ? err.code : null;
      if (code !== JetStreamApiCodes.ConsumerNotFound && code !== JetStreamApiCodes.StreamNotFound) return;
    }
    if (this.o.ensure === false) {
      this.logger.error({ code: 'nats_consumer_missing' }, 'the stream or consumer is gone and this worker may not create it');
      return;
    }
    try {
      await ensureStream(this.jsm, this.settings, this.logger);
      this.consumerInfo = await ensureConsumer(this.jsm, this.settings, this.logger);
      this.consumer = await this.js.consumers.get(this.settings.stream, this.settings.consumer);
      this.logger.warn({ code: 'nats_consumer_recreated' }, 'the stream or consumer had been deleted: created again');
    } catch (err) {
      this.logger.error({ code: 'nats_consumer_missing', cause: errorCode(err) }, 'the stream or consumer is gone and could not be created again');
    }
  }

  /** The delivery for a message, or null when the message was settled here (invalid, file missing, spare). */
  private async prepare(msg: JsMsg): Promise<NatsDelivery | null> {
    const item = decodeWorkItem(msg.data);
    if (!item) {
      this.logger.error({ code: 'message_invalid', seq: msg.seq }, 'a message on the work queue is not a medetl work item: terminated');
      this.safely('term', () => msg.term());
      return null;
    }
    const file = await resolveRef(this.settings.sharedDir, item.path);
    if (!file) {
      this.logger.error({ code: 'message_invalid', seq: msg.seq }, 'a work item names a path outside the shared folder: terminated');
      this.safely('term', () => msg.term());
      return null;
    }
    let size: number | null = null;
    try {
      const st = await fs.stat(file);
      size = st.isFile() ? st.size : null;
    } catch {
      size = null;
    }
    if (size === null && !(await sharedDirVisible(this.settings.sharedDir))) {
      this.safely('nak', () => msg.nak(SHARED_RECHECK_MS)); // the share went away just now: not the file's fault
      return null;
    }
    if (size === null) {
      // Loaded and archived already (an ack that got lost), or removed by hand: either way nothing to load here.
      this.logger.warn({ code: 'file_missing', seq: msg.seq, attempt: msg.info.deliveryCount }, 'the file a work item names is not in the shared folder: terminated');
      this.safely('term', () => msg.term());
      return null;
    }
    const d = new NatsDelivery(this, msg, item, file);
    const max = this.consumerInfo.maxDeliveries;
    if (d.attempt > max) {
      // The spare delivery: every attempt ended without an answer (killed, timed out). Do not run it again.
      await d.quarantine({ code: 'max_deliveries_exceeded', message: `delivered ${d.attempt} times without finishing; nats.max_deliveries is ${max}` });
      return null;
    }
    if (size !== item.size) {
      // A shared file system may show a file before all of it (attribute caching); a changed file is not the
      // content that was published. Wait, and after the last attempt quarantine it.
      this.logger.warn({ code: 'file_size_mismatch', seq: msg.seq, attempt: d.attempt }, 'the file in the shared folder is not the size published');
      await d.retryLater(Math.min(30_000, 1000 * d.attempt), 'file_size_mismatch');
      return null;
    }
    if (this.o.autoKeepAlive !== false) d.startKeepAlive(Math.max(200, Math.floor(this.consumerInfo.ackWaitMs / 3)));
    return d;
  }

  /** Archive (or delete, per watch.on_success) a loaded raw file; a file already gone is fine. */
  async archive(file: string, name: string): Promise<string | undefined> {
    try {
      await fs.access(file);
    } catch {
      return undefined;
    }
    if (this.o.config.watch.on_success === 'delete') {
      await fs.rm(file, { force: true });
      return undefined;
    }
    const dest = await freeName(this.o.config.resolved.archive, name);
    await moveFile(file, dest);
    return dest;
  }

  /** Quarantine the raw file with its reason (when it is still there), then terminate the message. */
  async quarantineAndTerm(msg: JsMsg, file: string, name: string, reason: QuarantineReason, seq: number): Promise<string | undefined> {
    let dest: string | undefined;
    let present = true;
    try {
      await fs.access(file);
    } catch {
      present = false;
    }
    if (present) {
      // Named as it arrived (not the shared folder's unique name), so `medetl replay` puts back what came in.
      dest = await quarantineFile(file, this.o.config.resolved.quarantine, reason, name);
      this.logger.warn({ code: reason.code, seq, attempt: msg.info.deliveryCount }, 'file quarantined; message terminated');
    } else {
      this.logger.warn({ code: 'file_missing', seq, reason: reason.code }, 'the file to quarantine is gone; message terminated');
    }
    this.counts.quarantined++;
    this.safely('term', () => msg.term());
    return dest;
  }

  /** Fire-and-forget protocol messages never throw out of a delivery (a closed connection is logged). */
  safely(what: string, op: () => void): void {
    try {
      op();
    } catch (err) {
      this.logger.warn({ code: `nats_${what}_failed`, cause: errorCode(err) }, `could not send ${what} to NATS`);
    }
  }
}

/** `medetl worker`'s source: connect from .env, check the stream and consumer, start the heartbeat. */
export async function openNatsSource(config: Config, logger: Logger, opts: Omit<NatsSourceOptions, 'connection' | 'config' | 'logger'> = {}): Promise<NatsSource> {
  natsSettings(config); // a bad shared_dir fails before any connection
  const nc = await connectNats(config.env, 'medetl-worker');
  try {
    return await NatsSource.open({ ...opts, connection: nc, config, logger, ownsConnection: true });
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}
