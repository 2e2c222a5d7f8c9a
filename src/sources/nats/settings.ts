// The NATS part of the config, resolved: names, timings and this machine's view of the shared raw-file folder.
import path from 'node:path';
import type { Config } from '../../config/load.js';
import { UserError } from '../../core/errors.js';

export interface NatsSettings {
  stream: string;
  subject: string;
  consumer: string;
  ackWaitMs: number;
  /** Attempts the runner gets per file; the server allows one more, which quarantines without running. */
  maxDeliveries: number;
  duplicateWindowMs: number;
  maxAckPending: number;
  replicas: number;
  /** Absolute path of the shared raw-file folder as this machine sees it. */
  sharedDir: string;
  heartbeatMs: number;
  workerSeenMs: number;
  /** The heartbeat stream (one message per worker subject, aged out). */
  workersStream: string;
  /** Heartbeats go to `<workersSubject>.<worker id>`. */
  workersSubject: string;
}

function inside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The resolved settings; refuses a shared folder under masked_out (raw PHI) or equal to the watched incoming/. */
export function natsSettings(config: Config): NatsSettings {
  const n = config.nats;
  const sharedDir = path.resolve(config.resolved.root, n.shared_dir);
  if (inside(config.resolved.maskedOut, sharedDir)) {
    throw new UserError('nats.shared_dir must not be under paths.masked_out: it holds raw files (PHI)', 'config_invalid');
  }
  if (path.resolve(sharedDir) === path.resolve(config.resolved.incoming)) {
    throw new UserError('nats.shared_dir must not be paths.incoming itself: use a subfolder such as incoming/published', 'config_invalid');
  }
  return {
    stream: n.stream,
    subject: n.subject,
    consumer: n.consumer,
    ackWaitMs: n.ack_wait_ms,
    maxDeliveries: n.max_deliveries,
    duplicateWindowMs: n.duplicate_window_ms,
    maxAckPending: n.max_ack_pending,
    replicas: n.replicas,
    sharedDir,
    heartbeatMs: n.heartbeat_ms,
    workerSeenMs: n.worker_seen_ms,
    workersStream: `${n.stream}_WORKERS`,
    workersSubject: `${n.subject}.workers`,
  };
}
