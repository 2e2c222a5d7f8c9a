// "Workers seen recently": each worker publishes {id, host, pid, started, batches, state} every heartbeat_ms to
// `<subject>.workers.<id>` in the stream `<stream>_WORKERS`, which keeps only the latest message per worker and
// ages them out after a day (a KV bucket in all but name, without another package). `status` reads the latest of
// each and lists those whose server timestamp is within worker_seen_ms. The time is the server's, so workers whose
// clocks disagree are still compared fairly; only the reader's clock is compared with the server's.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { errorCode } from '../../core/errors.js';
import type { Logger } from '../../ops/log.js';
import type { NatsSettings } from './settings.js';

export interface WorkerCounts {
  /** Deliveries finished with done() (loaded, or found already loaded). */
  done: number;
  quarantined: number;
  retried: number;
}

export interface WorkerBeat {
  v: 1;
  id: string;
  host: string;
  pid: number;
  started_ms: number;
  /** The worker's own clock when it sent this beat. */
  sent_ms: number;
  state: 'running' | 'stopped';
  /** Whether a file is being worked on right now. */
  busy: boolean;
  batches: WorkerCounts;
}

export interface WorkerSeen extends WorkerBeat {
  /** When the server stored the latest beat, ms (the server's clock). */
  last_seen_ms: number;
}

/** A subject-token-safe id: host, pid and a random suffix (a restarted worker with a reused pid is new). */
export function newWorkerId(host = hostname(), pid = process.pid): string {
  const h = host.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'host';
  return `${h}-${pid}-${randomBytes(3).toString('hex')}`;
}

export class WorkerHeartbeat {
  readonly id: string;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private last: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly s: NatsSettings,
    private readonly logger: Logger,
    private readonly snapshot: () => { busy: boolean; batches: WorkerCounts },
    id?: string,
  ) {
    this.id = id ?? newWorkerId();
  }

  start(): void {
    if (this.timer) return;
    void this.beat('running');
    this.timer = setInterval(() => void this.beat('running'), this.s.heartbeatMs);
    this.timer.unref();
  }

  /** The last beat says "stopped", so `status` shows a clean exit apart from a crash. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beat('stopped');
  }

  beat(state: WorkerBeat['state']): Promise<void> {
    const snap = this.snapshot();
    const body: WorkerBeat = {
      v: 1,
      id: this.id,
      host: hostname(),
      pid: process.pid,
      started_ms: this.started,
      sent_ms: Date.now(),
      state,
      busy: snap.busy,
      batches: { ...snap.batches },
    };
    this.last = this.last.then(async () => {
      try {
        await this.js.publish(`${this.s.workersSubject}.${this.id}`, JSON.stringify(body), { expect: { streamName: this.s.workersStream }, timeout: 2000 });
        this.warned = false;
      } catch (err) {
        // A heartbeat is informational: a lost one only makes `status` show this worker as not seen.
        if (!this.warned) this.logger.warn({ code: 'nats_heartbeat_failed', cause: errorCode(err) }, 'a worker heartbeat could not be sent');
        this.warned = true;
      }
    });
    return this.last;
  }
}

/** The latest beat of every worker heard from within `withinMs` (the server's time), newest first. */
export async function workersSeen(jsm: JetStreamManager, s: NatsSettings, nowMs = Date.now(), withinMs = s.workerSeenMs): Promise<WorkerSeen[]> {
  let subjects: Record<string, number> = {};
  try {
    const info = await jsm.streams.info(s.workersStream, { subjects_filter: `${s.workersSubject}.*` });
    subjects = info.state.subjects ?? {};
  } catch {
    return []; // no worker ever started
  }
  const out: WorkerSeen[] = [];
  for (const subj of Object.keys(subjects)) {
    const m = await jsm.streams.getMessage(s.workersStream, { last_by_subj: subj }).catch(() => null);
    if (!m) continue;
    let beat: WorkerBeat;
    try {
      beat = m.json<WorkerBeat>();
    } catch {
      continue;
    }
    const lastSeen = m.time.getTime();
    if (nowMs - lastSeen <= withinMs) out.push({ ...beat, last_seen_ms: lastSeen });
  }
  return out.sort((a, b) => b.last_seen_ms - a.last_seen_ms);
}
