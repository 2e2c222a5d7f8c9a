// A project folder, a config and a NATS stream of the test's own (on the real server), removed by cleanup().
import { testDir } from '../helpers/test-dir.js';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseKey, type HmacKey } from '../../src/config/key.js';
import { parseConfig, type Config } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/ops/log.js';
import { natsSettings, type NatsSettings } from '../../src/sources/nats/settings.js';
import { SHARED_MARKER } from '../../src/sources/nats/shared-folder.js';
import { deleteStreams } from '../../src/sources/nats/stream.js';
import { NatsSource, type NatsSourceOptions } from '../../src/sources/nats/source.js';
import type { Delivery } from '../../src/sources/source.js';
import { eventsCsv, plausibleRows, TEST_KEY } from '../helpers/project.js';
import { NATS_URL, uniqueName } from '../helpers/services.js';

export interface NatsFixture {
  root: string;
  config: Config;
  configInput: Record<string, unknown>;
  settings: NatsSettings;
  key: HmacKey;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  /** Write an events file into incoming/ and return its path. */
  drop(name: string, body?: string): string;
  /** Names in a folder of the project (relative), sorted. */
  list(rel: string): string[];
  /** The pino log lines so far. */
  log(): Record<string, unknown>[];
  /** A source on a connection of its own (closed by cleanup if the test did not). */
  source(opts?: Partial<NatsSourceOptions>): Promise<NatsSource>;
  /** The connection of the last source made (to cut it as a crash would). */
  lastConnection(): NatsConnection;
  streamMessages(): Promise<number>;
  consumerInfo(): Promise<{ pending: number; ackPending: number; redelivered: number }>;
  cleanup(): Promise<void>;
}

export async function natsFixture(nats: Record<string, unknown> = {}, more: Record<string, unknown> = {}, url = NATS_URL): Promise<NatsFixture> {
  const root = testDir('nats');
  for (const d of ['incoming', 'quarantine', 'logs']) mkdirSync(path.join(root, d), { recursive: true });
  const stream = uniqueName('T').toUpperCase();
  const configInput = {
    ...more,
    nats: { stream, subject: `medetl.test.${stream}`, consumer: 'workers', ack_wait_ms: 2000, heartbeat_ms: 200, worker_seen_ms: 5000, ...nats },
  };
  const env = { MEDETL_HMAC_KEY: TEST_KEY, MEDETL_NATS_URL: url };
  const config = parseConfig(configInput, root, null, env);
  const settings = natsSettings(config);
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const logger = createLogger(path.join(root, 'logs'), 'debug');
  const sources: NatsSource[] = [];
  const conns: NatsConnection[] = [nc];
  return {
    root,
    config,
    configInput,
    settings,
    key: parseKey(TEST_KEY),
    nc,
    js,
    jsm,
    logger,
    drop(name, body = eventsCsv(plausibleRows(5, { prefix: name }))) {
      const p = path.join(root, 'incoming', name);
      writeFileSync(p, body);
      return p;
    },
    list(rel) {
      try {
        return readdirSync(path.join(root, rel), { withFileTypes: true })
          .filter((e) => e.isFile() && e.name !== SHARED_MARKER)
          .map((e) => e.name)
          .sort();
      } catch {
        return [];
      }
    },
    log() {
      const f = path.join(root, 'logs', 'pipeline.log');
      try {
        return readFileSync(f, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        return [];
      }
    },
    async source(opts = {}) {
      const c = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      conns.push(c);
      const s = await NatsSource.open({ connection: c, config, logger, pullWaitMs: 1000, ...opts });
      sources.push(s);
      return s;
    },
    lastConnection() {
      return conns[conns.length - 1];
    },
    async streamMessages() {
      return (await jsm.streams.info(stream)).state.messages;
    },
    async consumerInfo() {
      const ci = await jsm.consumers.info(stream, settings.consumer);
      return { pending: ci.num_pending, ackPending: ci.num_ack_pending, redelivered: ci.num_redelivered };
    },
    async cleanup() {
      await Promise.all(sources.map((s) => s.close().catch(() => undefined)));
      try {
        await deleteStreams(jsm, settings);
      } finally {
        for (const c of conns) if (!c.isClosed()) await c.close();
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}

const TIMEOUT = Symbol('timeout');

/** Deliveries of a source one by one, with a time limit; a pull that timed out is kept for the next call. */
export function puller(source: NatsSource) {
  const it = source.deliveries()[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<Delivery>> | null = null;
  return {
    async next(ms = 5000): Promise<Delivery | null> {
      pending ??= it.next();
      let t: NodeJS.Timeout | undefined;
      const r = await Promise.race([pending, new Promise<typeof TIMEOUT>((res) => (t = setTimeout(() => res(TIMEOUT), ms)))]);
      clearTimeout(t);
      if (r === TIMEOUT) return null;
      pending = null;
      return r.done ? null : r.value;
    },
    /** Whether the iteration has ended (after stop()). */
    async ended(ms = 5000): Promise<boolean> {
      pending ??= it.next();
      let t: NodeJS.Timeout | undefined;
      const r = await Promise.race([pending, new Promise<typeof TIMEOUT>((res) => (t = setTimeout(() => res(TIMEOUT), ms)))]);
      clearTimeout(t);
      return r !== TIMEOUT && r.done === true;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => Promise<boolean> | boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}
