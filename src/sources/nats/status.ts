// What `status` shows about the work queue: the stream's backlog, the consumer's counters, the workers seen
// recently. Read-only: nothing is created or changed.
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { Config } from '../../config/load.js';
import { connectNats, type NatsConnection } from './connect.js';
import { workersSeen, type WorkerSeen } from './heartbeat.js';
import { natsSettings, type NatsSettings } from './settings.js';

export interface StreamStatus {
  stream: string;
  /** False when no worker or publisher has created it yet. */
  exists: boolean;
  /** Work items stored: waiting plus in flight (a work queue deletes each on ack or term). */
  messages: number;
  bytes: number;
  consumer: {
    name: string;
    exists: boolean;
    /** Not yet delivered to any worker. */
    pending: number;
    /** Delivered, not yet acknowledged (being worked on, or waiting for ack_wait after a crash). */
    ackPending: number;
    /** Messages delivered more than once (crashes, nak'd retries). */
    redelivered: number;
    /** Pull requests waiting: roughly the idle workers. */
    waiting: number;
  };
  workers: WorkerSeen[];
}

const notFound = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

export async function streamStatusWith(jsm: JetStreamManager, s: NatsSettings, nowMs = Date.now()): Promise<StreamStatus> {
  const out: StreamStatus = {
    stream: s.stream,
    exists: false,
    messages: 0,
    bytes: 0,
    consumer: { name: s.consumer, exists: false, pending: 0, ackPending: 0, redelivered: 0, waiting: 0 },
    workers: [],
  };
  try {
    const si = await jsm.streams.info(s.stream);
    out.exists = true;
    out.messages = si.state.messages;
    out.bytes = si.state.bytes;
  } catch (err) {
    if (!notFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
    return out;
  }
  try {
    const ci = await jsm.consumers.info(s.stream, s.consumer);
    out.consumer = { name: s.consumer, exists: true, pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered, waiting: ci.num_waiting };
  } catch (err) {
    if (!notFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
  out.workers = await workersSeen(jsm, s, nowMs);
  return out;
}

/** For `status`: connect from .env, read, disconnect. Pass a connection to reuse one. */
export async function streamStatus(config: Config, nc?: NatsConnection): Promise<StreamStatus> {
  const s = natsSettings(config);
  const conn = nc ?? (await connectNats(config.env, 'medetl-status'));
  try {
    return await streamStatusWith(await jetstreamManager(conn), s);
  } finally {
    if (!nc) await conn.close();
  }
}
