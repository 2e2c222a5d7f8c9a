// The work-queue stream and the durable pull consumer: created when missing; an existing one is checked.
// Settings medetl cannot work with (retention, storage, subjects, limits that drop messages, a push or
// non-explicit-ack consumer) are a UserError naming each difference. Settings that only tune (duplicate window,
// replicas, ack wait, max deliver, max ack pending) stay as the server has them, with a warning: the server is the
// one truth that N workers with N config files share, so two configs never fight over it.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { UserError } from '../../core/errors.js';
import type { Logger } from '../../ops/log.js';
import type { NatsSettings } from './settings.js';

/** What the consumer on the server actually does (it may differ from the config: see above). */
export interface EffectiveConsumer {
  ackWaitMs: number;
  /** Attempts the runner gets; the server's max_deliver is one more (the spare delivery quarantines). */
  maxDeliveries: number;
  maxAckPending: number;
}

const apiCode = (err: unknown): number | null => (err instanceof JetStreamApiError ? err.code : null);
const ms = (ns: number | undefined): number => Math.round((ns ?? 0) / 1e6);

/** The stream medetl creates. */
export function wantedStream(s: NatsSettings): Partial<StreamConfig> & { name: string } {
  return {
    name: s.stream,
    subjects: [s.subject],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(s.duplicateWindowMs),
    num_replicas: s.replicas,
    max_age: 0,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: -1,
  };
}

/** Each setting of an existing stream that medetl cannot work with, as a sentence. Pure. */
export function incompatibleStream(cfg: StreamConfig, s: NatsSettings): string[] {
  const out: string[] = [];
  if (cfg.retention !== RetentionPolicy.Workqueue) out.push(`retention is "${cfg.retention}" (medetl needs "workqueue")`);
  if (cfg.storage !== StorageType.File) out.push(`storage is "${cfg.storage}" (medetl needs "file")`);
  if (!(cfg.subjects ?? []).includes(s.subject)) {
    out.push(`subjects are ${JSON.stringify(cfg.subjects ?? [])} (medetl needs "${s.subject}", from nats.subject)`);
  }
  if (cfg.sealed) out.push('the stream is sealed (no new messages)');
  if (cfg.discard === DiscardPolicy.Old) {
    const limits = [
      cfg.max_msgs > 0 ? `max_msgs ${cfg.max_msgs}` : '',
      cfg.max_bytes > 0 ? `max_bytes ${cfg.max_bytes}` : '',
      cfg.max_age > 0 ? `max_age ${ms(cfg.max_age)} ms` : '',
      cfg.max_msgs_per_subject > 0 ? `max_msgs_per_subject ${cfg.max_msgs_per_subject}` : '',
    ].filter(Boolean);
    if (limits.length) out.push(`discard "old" with ${limits.join(', ')} drops files nobody processed (use discard "new" or no limits)`);
  }
  return out;
}

/** Tuning differences, reported as warnings. Pure. */
export function streamTuning(cfg: StreamConfig, s: NatsSettings): string[] {
  const out: string[] = [];
  if (ms(cfg.duplicate_window) !== s.duplicateWindowMs) {
    out.push(`duplicate_window is ${ms(cfg.duplicate_window)} ms on the server, ${s.duplicateWindowMs} ms in nats.duplicate_window_ms`);
  }
  if (cfg.num_replicas !== s.replicas) out.push(`replicas are ${cfg.num_replicas} on the server, ${s.replicas} in nats.replicas`);
  return out;
}

function incompatibleError(what: string, name: string, diffs: string[], fix: string): UserError {
  return new UserError(`${what} ${name} exists with settings medetl cannot use:\n  - ${diffs.join('\n  - ')}\n${fix}`, 'nats_incompatible');
}

/** The work-queue stream: created when missing, else checked. Returns its info. */
export async function ensureStream(jsm: JetStreamManager, s: NatsSettings, logger?: Logger): Promise<StreamInfo> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(s.stream);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.StreamNotFound) throw err;
    try {
      info = await jsm.streams.add(wantedStream(s));
      logger?.info({ code: 'nats_stream_created', stream: s.stream, replicas: s.replicas }, 'created the work-queue stream');
      return info;
    } catch (addErr) {
      const e = addErr as Error;
      if (/overlap/i.test(e.message)) {
        throw new UserError(`cannot create stream ${s.stream}: subject "${s.subject}" (nats.subject) is already taken by another stream`, 'nats_incompatible');
      }
      if (!/already in use/i.test(e.message)) throw addErr;
      info = await jsm.streams.info(s.stream); // another worker created it a moment ago
    }
  }
  const diffs = incompatibleStream(info.config, s);
  if (diffs.length) {
    throw incompatibleError('stream', s.stream, diffs, `Delete it (nats stream rm ${s.stream}) to have medetl create it, or set nats.stream to another name.`);
  }
  for (const t of streamTuning(info.config, s)) logger?.warn({ code: 'nats_stream_differs', stream: s.stream }, `${t}: using the server's`);
  return info;
}

/** The durable pull consumer medetl creates. */
export function wantedConsumer(s: NatsSettings): Partial<ConsumerConfig> {
  return {
    durable_name: s.consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: s.subject,
    ack_wait: nanos(s.ackWaitMs),
    max_deliver: s.maxDeliveries + 1,
    max_ack_pending: s.maxAckPending,
  };
}

/** Each setting of an existing consumer that medetl cannot work with. Pure. */
export function incompatibleConsumer(cfg: ConsumerConfig, s: NatsSettings): string[] {
  const out: string[] = [];
  if (cfg.deliver_subject) out.push('it is a push consumer (medetl needs a pull consumer)');
  if (cfg.ack_policy !== AckPolicy.Explicit) out.push(`ack_policy is "${cfg.ack_policy}" (medetl needs "explicit")`);
  const filters = cfg.filter_subjects?.length ? cfg.filter_subjects : cfg.filter_subject ? [cfg.filter_subject] : [];
  if (filters.length && !filters.includes(s.subject)) out.push(`it filters ${JSON.stringify(filters)} (medetl publishes on "${s.subject}")`);
  if (cfg.deliver_policy !== DeliverPolicy.All) out.push(`deliver_policy is "${cfg.deliver_policy}" (medetl needs "all")`);
  return out;
}

export function consumerTuning(cfg: ConsumerConfig, s: NatsSettings): string[] {
  const out: string[] = [];
  if (ms(cfg.ack_wait) !== s.ackWaitMs) out.push(`ack_wait is ${ms(cfg.ack_wait)} ms on the server, ${s.ackWaitMs} ms in nats.ack_wait_ms`);
  if (cfg.max_deliver !== s.maxDeliveries + 1) {
    out.push(`max_deliver is ${cfg.max_deliver} on the server, nats.max_deliveries ${s.maxDeliveries} wants ${s.maxDeliveries + 1} (one spare)`);
  }
  if (cfg.max_ack_pending !== s.maxAckPending) out.push(`max_ack_pending is ${cfg.max_ack_pending} on the server, ${s.maxAckPending} in nats.max_ack_pending`);
  return out;
}

export function effectiveConsumer(info: ConsumerInfo, s: NatsSettings): EffectiveConsumer {
  const md = info.config.max_deliver ?? -1;
  return {
    ackWaitMs: ms(info.config.ack_wait) || s.ackWaitMs,
    maxDeliveries: md > 1 ? md - 1 : md === 1 ? 1 : s.maxDeliveries,
    maxAckPending: info.config.max_ack_pending ?? s.maxAckPending,
  };
}

/** The durable pull consumer every worker shares: created when missing, else checked. */
export async function ensureConsumer(jsm: JetStreamManager, s: NatsSettings, logger?: Logger): Promise<EffectiveConsumer> {
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(s.stream, s.consumer);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.ConsumerNotFound) throw err;
    try {
      info = await jsm.consumers.add(s.stream, wantedConsumer(s));
      logger?.info({ code: 'nats_consumer_created', stream: s.stream, consumer: s.consumer }, 'created the durable consumer');
      return effectiveConsumer(info, s);
    } catch (addErr) {
      const e = addErr as Error;
      if (/not unique|overlap/i.test(e.message)) {
        throw new UserError(
          `cannot create consumer ${s.consumer} on stream ${s.stream}: another consumer already takes "${s.subject}" (a work queue has one consumer per subject; set nats.consumer to its name)`,
          'nats_incompatible',
        );
      }
      if (!/already in use|already exists/i.test(e.message)) throw addErr;
      info = await jsm.consumers.info(s.stream, s.consumer);
    }
  }
  const diffs = incompatibleConsumer(info.config, s);
  if (diffs.length) {
    throw incompatibleError('consumer', `${s.consumer} (stream ${s.stream})`, diffs, `Delete it (nats consumer rm ${s.stream} ${s.consumer}) to have medetl create it, or set nats.consumer to another name.`);
  }
  for (const t of consumerTuning(info.config, s)) logger?.warn({ code: 'nats_consumer_differs', consumer: s.consumer }, `${t}: using the server's`);
  return effectiveConsumer(info, s);
}

/** The heartbeat stream: one message per worker subject (the latest), aged out after a day. */
export async function ensureWorkersStream(jsm: JetStreamManager, s: NatsSettings): Promise<void> {
  try {
    await jsm.streams.info(s.workersStream);
  } catch (err) {
    if (apiCode(err) !== JetStreamApiCodes.StreamNotFound) throw err;
    try {
      await jsm.streams.add({
        name: s.workersStream,
        subjects: [`${s.workersSubject}.*`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_msgs_per_subject: 1,
        max_age: nanos(Math.max(86_400_000, s.workerSeenMs * 2)),
        num_replicas: s.replicas,
      });
    } catch (addErr) {
      if (!/already in use/i.test((addErr as Error).message)) throw addErr;
    }
  }
}

/** Removes the stream, its consumer and the heartbeat stream (tests, `medetl` never does it by itself). */
export async function deleteStreams(jsm: JetStreamManager, s: NatsSettings): Promise<void> {
  for (const name of [s.stream, s.workersStream]) {
    try {
      await jsm.streams.delete(name);
    } catch (err) {
      if (apiCode(err) !== JetStreamApiCodes.StreamNotFound) throw err;
    }
  }
}
