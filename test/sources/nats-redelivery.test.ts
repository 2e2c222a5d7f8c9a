// The NATS source in real time (ack_wait 2 s): working() holds a long batch, a SIGKILLed worker process gives its
// message to another, max deliveries quarantine, and a server that goes away mid-batch crashes nothing.
import { testDir } from '../helpers/test-dir.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { publishFile } from '../../src/sources/nats/publisher.js';
import { ensureStream } from '../../src/sources/nats/stream.js';
import { REPO, TEST_KEY } from '../helpers/project.js';
import { NATS_URL, natsAvailable } from '../helpers/services.js';
import { natsFixture, puller, sleep, waitFor, type NatsFixture } from './nats-fixture.js';

const up = await natsAvailable();
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'nats-consumer.mjs');
const fixtures: NatsFixture[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
});
async function fixture(...args: Parameters<typeof natsFixture>): Promise<NatsFixture> {
  const f = await natsFixture(...args);
  fixtures.push(f);
  await ensureStream(f.jsm, f.settings);
  return f;
}

describe.skipIf(!up)('NATS redelivery in real time (ack_wait 2 s)', () => {
  it('working() keeps a 5 s batch from a second worker; without it, the message moves on after ack_wait', async () => {
    // Three streams at once: the source's own timer, keepAlive() called by the "runner", and neither.
    const scenario = async (mode: 'timer' | 'manual' | 'none') => {
      const f = await fixture();
      await publishFile(f.js, f, f.drop(`events_${mode}.csv`));
      const a = puller(await f.source({ heartbeat: false, autoKeepAlive: mode === 'timer' }));
      const b = puller(await f.source({ heartbeat: false }));
      const da = (await a.next())!;
      const ticker = mode === 'manual' ? setInterval(() => da.keepAlive(), 500) : null;
      const stolen = await b.next(5000); // the long job runs meanwhile
      if (ticker) clearInterval(ticker);
      return { f, da, stolen };
    };
    const [timer, manual, none] = await Promise.all([scenario('timer'), scenario('manual'), scenario('none')]);
    for (const r of [timer, manual]) {
      expect(r.stolen).toBeNull();
      expect(await r.f.consumerInfo()).toEqual({ pending: 0, ackPending: 1, redelivered: 0 });
      await r.da.done();
      expect(await r.f.streamMessages()).toBe(0);
    }
    expect(none.stolen).toMatchObject({ name: 'events_none.csv', attempt: 2 });
    expect((await none.f.consumerInfo()).redelivered).toBe(1);
    await none.stolen!.done();
    expect(await none.f.streamMessages()).toBe(0);
  });

  it('a SIGKILLed worker process: its message goes to another worker after ack_wait, not before', async () => {
    expect(existsSync(path.join(REPO, 'dist', 'sources', 'nats', 'source.js')), 'build first: npx tsc -p tsconfig.json').toBe(true);
    const f = await fixture();
    const pub = await publishFile(f.js, f, f.drop('events_k.csv'));
    const child = spawn(process.execPath, [CHILD, f.root, JSON.stringify(f.configInput)], {
      env: { ...process.env, MEDETL_NATS_URL: NATS_URL, MEDETL_HMAC_KEY: TEST_KEY },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const first = await new Promise<{ seq: number; attempt: number }>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l)));
      child.once('exit', (code) => reject(new Error(`the consumer exited early (${code})`)));
    });
    expect(first).toMatchObject({ seq: pub.seq, attempt: 1 });
    const other = puller(await f.source({ heartbeat: false }));
    expect(await other.next(2600)).toBeNull(); // alive and working past ack_wait: nobody else gets it
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const killedAt = Date.now();
    const d = await other.next(6000);
    expect(d).toMatchObject({ name: 'events_k.csv', attempt: 2 });
    expect(Date.now() - killedAt).toBeGreaterThan(500); // it waited for ack_wait, it was not handed over at once
    await d!.done();
    expect(await f.streamMessages()).toBe(0);
  });

  it('quarantines a file after max_deliveries transient failures, and on the spare delivery when every attempt died', async () => {
    const transient = async () => {
      const f = await fixture({ max_deliveries: 2 });
      await publishFile(f.js, f, f.drop('events_t.csv'));
      const p = puller(await f.source({ heartbeat: false }));
      const d1 = (await p.next())!;
      await d1.retryLater(0, 'ECONNREFUSED');
      const d2 = (await p.next())!;
      expect(d2.attempt).toBe(2);
      await d2.retryLater(0, 'ECONNREFUSED'); // the last attempt: quarantined instead
      await waitFor(async () => (await f.streamMessages()) === 0, 3000, 'term');
      expect(await p.next(300)).toBeNull();
      return f;
    };
    const crashed = async () => {
      const f = await fixture({ max_deliveries: 1 });
      await publishFile(f.js, f, f.drop('events_c.csv'));
      const a = puller(await f.source({ heartbeat: false }));
      expect((await a.next())!.attempt).toBe(1);
      await f.lastConnection().close(); // the worker dies mid-batch: no ack, no working (its timer keeps failing quietly)
      const b = puller(await f.source({ heartbeat: false }));
      void b.next(100); // pull: after ack_wait the spare delivery comes, and is quarantined without reaching the runner
      await waitFor(() => f.list('quarantine').length === 2, 6000, 'the quarantine');
      expect(await b.next(300)).toBeNull();
      return f;
    };
    const [t, c] = await Promise.all([transient(), crashed()]);
    for (const [f, name] of [[t, 'events_t.csv'], [c, 'events_c.csv']] as const) {
      await waitFor(async () => (await f.streamMessages()) === 0, 3000, 'term');
      expect(f.list('quarantine')).toEqual([name, `${name}.reason.json`]);
      expect(JSON.parse(readFileSync(path.join(f.root, 'quarantine', `${name}.reason.json`), 'utf8')).reason).toBe('max_deliveries_exceeded');
      expect(f.list('incoming/published')).toEqual([]);
    }
  });

  const natsServer = spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!natsServer)('survives its server going away mid-batch: done() returns, the client reconnects, the message is settled later', async () => {
    const port = await freePort();
    const store = testDir('natsd');
    const start = async () => {
      const s = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(s);
      // Ours, ready (not some other process that took the port): it says so on stderr.
      await new Promise<void>((resolve, reject) => {
        let err = '';
        s.stderr!.on('data', (c: Buffer) => {
          err += c.toString();
          if (err.includes('Server is ready')) resolve();
        });
        s.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${err.slice(-300)}`)));
      });
      return s;
    };
    let server = await start();
    try {
      const f = await fixture({}, {}, `nats://127.0.0.1:${port}`);
      await publishFile(f.js, f, f.drop('events_l.csv'));
      const src = await f.source({ heartbeat: true });
      const p = puller(src);
      const d = (await p.next())!;
      server.kill('SIGKILL');
      await new Promise((r) => server.once('exit', r));
      const archived = await d.done(); // the batch was committed: archive, then an ack that cannot arrive
      expect(archived && existsSync(archived), JSON.stringify({ archived, log: f.log().map((l) => [l.code, l.cause]) })).toBe(true);
      expect(f.log().map((l) => l.code)).toContain('ack_failed');
      server = await start();
      // The worker pulls on: the message comes back, finds its file archived already and is terminated as
      // file_missing (the ledger had it), or a buffered ack reached the restarted server. Either way the queue
      // empties and nothing reaches the runner again.
      void p.next(100); // pull again (the pull stays open inside the puller)
      await waitFor(async () => (await f.streamMessages().catch(() => -1)) === 0, 8000, 'an empty stream');
      expect(await p.next(300)).toBeNull();
      src.stop();
      await src.close();
    } finally {
      for (const f of fixtures.splice(0)) await f.cleanup().catch(() => undefined);
      server.kill('SIGKILL');
      rmSync(store, { recursive: true, force: true });
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

