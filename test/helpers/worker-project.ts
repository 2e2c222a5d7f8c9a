// A project for the scale-out commands: store postgres (a database of its own), a NATS stream of its own, and ways
// to run the built CLI in it (spawned, or to completion). cleanup() stops every child, drops both.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { parseConfig } from '../../src/config/load.js';
import { natsSettings, type NatsSettings } from '../../src/sources/nats/settings.js';
import { SHARED_MARKER } from '../../src/sources/nats/shared-folder.js';
import { deleteStreams } from '../../src/sources/nats/stream.js';
import { CLI, cleanEnv, TEST_KEY } from './project.js';
import { NATS_URL, pgDatabase, uniqueName } from './services.js';
import { testDir } from './test-dir.js';

export interface Child {
  proc: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface WorkerProject {
  dir: string;
  env: NodeJS.ProcessEnv;
  settings: NatsSettings;
  jsm: JetStreamManager;
  file(rel: string): string;
  /** Names of the files in a folder of the project (relative), hidden ones and the shared marker left out. */
  list(rel: string): string[];
  spawn(args: string[], env?: NodeJS.ProcessEnv): Child;
  run(args: string[], env?: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string };
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Messages in the work stream, and the consumer's pending / ack pending (zeros when it does not exist yet). */
  queue(): Promise<{ messages: number; pending: number; ackPending: number }>;
  cleanup(): Promise<void>;
}

/** config.yaml `nats:` and `watch:` extras are merged over fast test timings. */
export async function workerProject(extra: { nats?: Record<string, unknown>; yaml?: string } = {}): Promise<WorkerProject> {
  const db = await pgDatabase('medetl_workers');
  const dir = testDir('workers');
  mkdirSync(path.join(dir, 'incoming'), { recursive: true });
  const stream = uniqueName('W').toUpperCase();
  const nats = { stream, subject: `medetl.test.${stream}`, consumer: 'workers', ack_wait_ms: 2000, heartbeat_ms: 300, worker_seen_ms: 10_000, max_deliveries: 20, ...extra.nats };
  const natsYaml = Object.entries(nats).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`).join('\n');
  writeFileSync(path.join(dir, 'config.yaml'), `store: postgres\nwatch:\n  stable_ms: 200\n  rescan_ms: 500\n  retry_park_ms: 1000\nnats:\n${natsYaml}\n${extra.yaml ?? ''}`);
  const env = { MEDETL_HMAC_KEY: TEST_KEY, MEDETL_PG_URL: db.url, MEDETL_NATS_URL: NATS_URL };
  writeFileSync(path.join(dir, '.env'), Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  const settings = natsSettings(parseConfig({ nats }, dir, null, env));
  const nc: NatsConnection = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const children: Child[] = [];
  const childEnv = (more?: NodeJS.ProcessEnv) => ({ ...cleanEnv(), ...env, ...more });
  return {
    dir,
    env,
    settings,
    jsm,
    file: (rel) => path.join(dir, rel),
    list(rel) {
      try {
        return readdirSync(path.join(dir, rel), { withFileTypes: true })
          .filter((e) => e.isFile() && e.name !== SHARED_MARKER && !e.name.startsWith('.'))
          .map((e) => e.name)
          .sort();
      } catch {
        return [];
      }
    },
    spawn(args, more) {
      const proc = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: childEnv(more), stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      proc.stdout.on('data', (c) => (out += c));
      proc.stderr.on('data', (c) => (err += c));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
      const child = { proc, stdout: () => out, stderr: () => err, exited };
      children.push(child);
      return child;
    },
    run(args, more) {
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env: childEnv(more), encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    async query<T>(sql: string) {
      return (await pool.query(sql)).rows as T[];
    },
    async queue() {
      let messages = 0;
      try {
        messages = (await jsm.streams.info(stream)).state.messages;
      } catch {
        return { messages: 0, pending: 0, ackPending: 0 };
      }
      try {
        const ci = await jsm.consumers.info(stream, settings.consumer);
        return { messages, pending: ci.num_pending, ackPending: ci.num_ack_pending };
      } catch {
        return { messages, pending: messages, ackPending: 0 };
      }
    },
    async cleanup() {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      await pool.end();
      try {
        await deleteStreams(jsm, settings);
      } finally {
        await nc.close();
        await db.drop();
      }
    },
  };
}
