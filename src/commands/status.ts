// medetl status: what is waiting, what was loaded or quarantined, whether the store and Parquet agree, and whether
// a daemon is running. Reads only (the ledger reader); safe while the daemon runs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import { KEY_VARIABLE, parseKey } from '../config/key.js';
import { holderAlive, type LockInfo } from '../core/lock.js';
import { openLedger } from '../compose.js';
import { printable, safeName } from '../ops/safe-name.js';
import { listParts, readPartCounts, UnreadablePartError } from '../sinks/parquet/read.js';
import { nameFilter } from '../sources/folder/scan.js';
import { describeServers, NATS_URL_VARIABLE, streamStatus, type StreamStatus, type WorkerSeen } from '../sources/nats/index.js';
import { errorCode } from '../core/errors.js';
import { REASON_SUFFIX, REJECTS_SUFFIX } from '../sources/quarantine.js';
import { action, configFrom, withConfigOption } from './common.js';

export interface StatusReport {
  waiting: number;
  processed: number;
  quarantinedFiles: number;
  quarantinedByReason: Record<string, number>;
  rows: { store: number; parquet: number; agree: boolean; unreadableParts: string[] };
  patients: number;
  lastBatch: { batchId: string; file: string | null; committedAt: string | null; ms: number | null; latencyMs: number | null; rowsIn: number; loaded: number } | null;
  /** QC drift: departures of batch statistics from the rolling baseline (qc_drift), newest first. */
  drift: { rows: number; alerts: number; latest: { batchId: string; column: string; statistic: string; baseline: number; observed: number; severity: 'warn' | 'alert' }[] };
  keyId: string | null;
  keyIdsInLedger: string[];
  daemon: { running: boolean; pid?: number; host?: string; since?: string };
  /** The NATS work queue, when MEDETL_NATS_URL is set (scale-out): its backlog and the workers seen recently. */
  workQueue?: WorkQueueStatus;
}

export type WorkQueueStatus =
  | {
      reachable: true;
      servers: string;
      stream: string;
      exists: boolean;
      /** Not yet delivered to a worker. */
      waiting: number;
      /** Delivered, not yet acknowledged (being loaded, or waiting for ack_wait after a crash). */
      inFlight: number;
      redelivered: number;
      /** Workers heard from within nats.worker_seen_ms, newest first. */
      workers: Pick<WorkerSeen, 'id' | 'host' | 'pid' | 'state' | 'busy' | 'batches' | 'last_seen_ms'>[];
    }
  | { reachable: false; servers: string; error: string };

/** The work queue as NATS sees it; unreachable (or misconfigured) is reported, never thrown. */
export async function workQueueStatus(config: Config): Promise<WorkQueueStatus> {
  const servers = describeServers(config.env[NATS_URL_VARIABLE]);
  let st: StreamStatus;
  try {
    st = await streamStatus(config);
  } catch (err) {
    const msg = (err as { userFacing?: boolean }).userFacing ? (err as Error).message : `NATS at ${servers} did not answer (${errorCode(err)})`;
    return { reachable: false, servers, error: msg };
  }
  return {
    reachable: true, servers, stream: st.stream, exists: st.exists,
    waiting: st.consumer.exists ? st.consumer.pending : st.messages,
    inFlight: st.consumer.ackPending, redelivered: st.consumer.redelivered,
    workers: st.workers.map((w) => ({ id: w.id, host: w.host, pid: w.pid, state: w.state, busy: w.busy, batches: w.batches, last_seen_ms: w.last_seen_ms })),
  };
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return [];
  }
}

function daemonState(lockFile: string): StatusReport['daemon'] {
  if (!existsSync(lockFile)) return { running: false };
  try {
    const info = JSON.parse(readFileSync(lockFile, 'utf8')) as LockInfo;
    return { running: holderAlive(info), pid: info.pid, host: info.hostname, since: info.started };
  } catch {
    return { running: false };
  }
}

export async function collectStatus(config: Config): Promise<StatusReport> {
  const p = config.resolved;
  const match = nameFilter(config.watch.glob);
  const waiting = listFiles(p.incoming).filter(match).length;
  const quarantinedFiles = listFiles(p.quarantine).filter((n) => !n.startsWith('.') && !n.endsWith(REASON_SUFFIX) && !n.endsWith(REJECTS_SUFFIX)).length;
  let keyId: string | null = null;
  try {
    keyId = parseKey(config.env[KEY_VARIABLE]).id;
  } catch {
    keyId = null;
  }
  let parquet = 0;
  const unreadableParts: string[] = [];
  for (const part of await listParts(p.parts)) {
    try {
      for (const n of (await readPartCounts(part)).values()) parquet += n;
    } catch (err) {
      if (!(err instanceof UnreadablePartError)) throw err;
      unreadableParts.push(path.basename(part));
    }
  }
  // Started first: NATS answers (or fails) while the ledger is read.
  const queue = config.env[NATS_URL_VARIABLE]?.trim() ? workQueueStatus(config) : null;
  const ledger = await openLedger(config).catch(async (err: unknown) => {
    await queue;
    throw err;
  });
  try {
    const s = await ledger.summary();
    const [last] = await ledger.batches({ newestFirst: true, limit: 1 });
    const drift = await ledger.drift();
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
    return {
      waiting,
      processed: s.batches,
      quarantinedFiles,
      quarantinedByReason: s.quarantinedByReason,
      rows: { store: s.rows, parquet, agree: s.rows === parquet && unreadableParts.length === 0, unreadableParts },
      patients: s.patients,
      lastBatch: last
        ? {
            batchId: last.batchId, file: last.sourceName === null ? null : safeName(last.sourceName), committedAt: iso(last.committedAtMs), ms: last.ms,
            latencyMs: last.committedAtMs !== null && last.arrivedAtMs !== null ? Math.max(0, last.committedAtMs - last.arrivedAtMs) : null,
            rowsIn: last.rowsIn, loaded: last.loaded,
          }
        : null,
      drift: { rows: drift.length, alerts: drift.filter((d) => d.severity === 'alert').length, latest: drift.slice(0, 5) },
      keyId,
      keyIdsInLedger: s.keyIds,
      daemon: daemonState(p.lock),
      ...(queue ? { workQueue: await queue } : {}),
    };
  } finally {
    await ledger.close();
  }
}

const fmtNum = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

function human(r: StatusReport, config: Config): string {
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  const q = Object.entries(r.quarantinedByReason).map(([k, v]) => `${k} ${v}`).join(', ');
  const otherKeys = r.keyIdsInLedger.filter((k) => k !== r.keyId);
  const lb = r.lastBatch;
  const lines = [
    `daemon:       ${r.daemon.running ? `running (pid ${r.daemon.pid} on ${r.daemon.host}, since ${r.daemon.since})` : 'not running'}`,
    `waiting:      ${r.waiting} file(s) in ${rel(config.resolved.incoming)}`,
    `processed:    ${r.processed} batch(es), ${r.patients} patient(s)`,
    `quarantined:  ${r.quarantinedFiles} file(s) in ${rel(config.resolved.quarantine)}${q ? ` (ever, by reason: ${q})` : ''}`,
    `rows:         store ${r.rows.store}, Parquet ${r.rows.parquet} -> ${r.rows.agree ? 'agree' : 'DISAGREE: run medetl verify'}` +
      (r.rows.unreadableParts.length ? ` (${r.rows.unreadableParts.length} unreadable part(s): ${r.rows.unreadableParts.slice(0, 3).join(', ')})` : ''),
    `last batch:   ${
      lb
        ? `${lb.file === null ? lb.batchId : safeName(lb.file)}${lb.committedAt ? ` committed ${lb.committedAt} UTC` : ''}, ${lb.loaded}/${lb.rowsIn} rows` +
          `${lb.ms === null ? '' : `, processing ${lb.ms} ms`}${lb.latencyMs === null ? '' : `, latency ${(lb.latencyMs / 1000).toFixed(0)} s from arrival`}`
        : 'none yet'
    }`,
    `QC drift:     ${
      r.drift.rows === 0
        ? 'none (no batch statistic departed from the rolling baseline)'
        : `${r.drift.rows} departure(s), ${r.drift.alerts} alert(s); latest: ` +
          r.drift.latest.slice(0, 3).map((d) => `${d.column} ${d.statistic} ${fmtNum(d.observed)} vs baseline ${fmtNum(d.baseline)} (${d.severity}, batch ${d.batchId.slice(0, 8)})`).join('; ')
    }`,
    `key:          ${r.keyId ? `key id ${r.keyId}` : 'MEDETL_HMAC_KEY missing or invalid'}` +
      (otherKeys.length ? ` (WARNING: the ledger has batches under key id(s) ${otherKeys.join(', ')}: patient_key values will not join across keys)` : ''),
    ...(r.workQueue ? workQueueLines(r.workQueue, config) : []),
  ];
  return `${lines.join('\n')}\n`;
}

function workQueueLines(q: WorkQueueStatus, config: Config): string[] {
  if (!q.reachable) return [`work queue:   UNREACHABLE: ${q.error}`];
  if (!q.exists) return [`work queue:   stream ${q.stream} at ${q.servers} not created yet (the first worker or publisher creates it)`];
  const seenS = Math.round(config.nats.worker_seen_ms / 1000);
  const ago = (ms: number) => `${Math.max(0, Math.round((Date.now() - ms) / 1000))} s ago`;
  return [
    `work queue:   stream ${q.stream} at ${q.servers}: ${q.waiting} waiting, ${q.inFlight} in flight, ${q.redelivered} redelivered`,
    `workers:      ${q.workers.length} seen in the last ${seenS} s${q.workers.length ? ':' : ''}`,
    ...q.workers.map(
      (w) => `  ${w.id}  ${w.state === 'stopped' ? 'stopped' : w.busy ? 'busy' : 'idle'}, ${w.batches.done} done, ${w.batches.quarantined} quarantined, ${w.batches.retried} retried; seen ${ago(w.last_seen_ms)}`,
    ),
  ];
}

export function registerStatus(program: Command): void {
  withConfigOption(
    program
      .command('status')
      .summary('waiting, processed, quarantined, rows in the store and Parquet, last batch, QC drift, key, daemon, work queue')
      .description(
        'files waiting, batches processed and quarantined (by reason), rows in the store and in Parquet and whether they agree, last batch, ' +
          'QC drift (departures from the rolling baseline), key id, daemon; ' +
          'with MEDETL_NATS_URL set, the NATS work queue\'s backlog (waiting, in flight, redelivered) and the workers seen within nats.worker_seen_ms',
      )
      .option('--json', 'print the report as one JSON object'),
  ).action(
    action(async (opts: { config?: string; json?: boolean }) => {
      const config = configFrom(opts);
      const r = await collectStatus(config);
      process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : human(r, config));
    }),
  );
}
