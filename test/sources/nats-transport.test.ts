// The NATS transport against the real server: publishing (de-duplication, crash recovery), the stream and consumer
// (creation, incompatible settings), the delivery contract observed on the server, missing files, status, stop.
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mkdirSync, symlinkSync } from 'node:fs';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { UserError } from '../../src/core/errors.js';
import { connectNats, describeServers, natsConnectOptions } from '../../src/sources/nats/connect.js';
import { natsSettings } from '../../src/sources/nats/settings.js';
import { markSharedDir, SHARED_MARKER } from '../../src/sources/nats/shared-folder.js';
import { NatsSource } from '../../src/sources/nats/source.js';
import { decodeWorkItem, MSG_ID_HEADER } from '../../src/sources/nats/message.js';
import { publishFile, Publisher } from '../../src/sources/nats/publisher.js';
import { streamStatusWith } from '../../src/sources/nats/status.js';
import { ensureConsumer, ensureStream } from '../../src/sources/nats/stream.js';
import { eventsCsv, plausibleRows } from '../helpers/project.js';
import { natsAvailable } from '../helpers/services.js';
import { natsFixture, puller, sleep, waitFor, type NatsFixture } from './nats-fixture.js';

const up = await natsAvailable();
let fx: NatsFixture | null = null;
afterEach(async () => {
  await fx?.cleanup();
  fx = null;
});

describe('NATS settings and connection (no server needed)', () => {
  it('keeps credentials out of every message and refuses a shared folder where raw files must not be', async () => {
    expect(describeServers('nats://medetl:s3cretpw@nats-1.example:4333, tls://tok3n@nats-2.example')).toBe('nats-1.example:4333, nats-2.example:4222');
    expect(() => natsConnectOptions({ MEDETL_NATS_USER: 'u', MEDETL_NATS_PASS: 'p', MEDETL_NATS_TOKEN: 't' }, 'x')).toThrow(/only one of/);
    expect(() => natsConnectOptions({ MEDETL_NATS_USER: 'u' }, 'x')).toThrow(/go together/);
    const err = await connectNats({ MEDETL_NATS_URL: 'nats://medetl:s3cretpw@127.0.0.1:1' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe('cannot reach NATS at 127.0.0.1:1: ECONNREFUSED');
    const root = path.join(process.env.TMPDIR ?? '/tmp', 'medetl-nats-settings');
    expect(() => natsSettings(parseConfig({ nats: { shared_dir: 'masked_out/raw' } }, root, null, {}))).toThrow(/must not be under paths.masked_out/);
    expect(() => natsSettings(parseConfig({ nats: { shared_dir: 'incoming' } }, root, null, {}))).toThrow(/must not be paths.incoming/);
    expect(() => parseConfig({ nats: { subject: 'medetl.>' } }, root, null, {})).toThrow(/literal subject/);
    expect(natsSettings(parseConfig({}, root, null, {}))).toMatchObject({ stream: 'MEDETL_BATCHES', subject: 'medetl.batches', consumer: 'medetl-workers', sharedDir: path.join(root, 'incoming', 'published') });
  });
});

describe.skipIf(!up)('NATS transport (real server)', () => {

  it('publishes a keyed reference per file; the same content again within the window is a duplicate', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    const body = eventsCsv(plausibleRows(20, { prefix: 'secretpatient' }));
    const a = f.drop('events_a.csv', body);
    const r1 = await publishFile(f.js, f, a);
    expect(r1.duplicate).toBe(false);
    expect(existsSync(a)).toBe(false); // moved out of incoming/
    expect(f.list('incoming/published')).toEqual([path.basename(r1.sharedPath)]);
    expect(path.basename(r1.sharedPath)).toMatch(/^events_a\.[0-9a-f]{12}\.csv$/);
    expect(readFileSync(r1.sharedPath, 'utf8')).toBe(body);

    const stored = await f.jsm.streams.getMessage(f.settings.stream, { seq: r1.seq });
    const item = decodeWorkItem(stored!.data)!;
    expect(item).toMatchObject({ v: 1, name: 'events_a.csv', path: path.basename(r1.sharedPath), size: Buffer.byteLength(body) });
    expect(stored!.header.get(MSG_ID_HEADER)).toBe(item.hash);
    // keyed: not the plain SHA-256 of the bytes, and not computable without the key
    expect(item.hash).not.toBe(createHash('sha256').update(body).digest('hex'));
    expect(item.hash).toBe(createHmac('sha256', f.key.bytes).update('medetl/content/v1\0').update(body).digest('hex'));
    // a reference, never content
    expect(new TextDecoder().decode(stored!.data)).not.toMatch(/secretpatient|Given|Family/);

    const b = f.drop('events_b.csv', body); // same bytes, another name
    const r2 = await publishFile(f.js, f, b);
    expect(r2).toMatchObject({ duplicate: true, seq: r1.seq });
    expect(await f.streamMessages()).toBe(1);
    const c = f.drop('events_c.csv', eventsCsv(plausibleRows(3, { prefix: 'other' })));
    expect((await publishFile(f.js, f, c)).duplicate).toBe(false);
    expect(await f.streamMessages()).toBe(2);
  });

  it('publishes a duplicate copy again once the window has passed; recover() publishes what a crash left behind', async () => {
    const f = (fx = await natsFixture({ duplicate_window_ms: 1000 }));
    await ensureStream(f.jsm, f.settings);
    const pub = new Publisher({ js: f.js, settings: f.settings, key: f.key, logger: f.logger, retryMs: 100 });
    try {
      const body = eventsCsv(plausibleRows(4));
      const first = await pub.publishFile(f.drop('events_1.csv', body));
      const second = await pub.publishFile(f.drop('events_2.csv', body));
      expect(first).toMatchObject({ deferred: false, duplicate: false });
      expect(second).toMatchObject({ deferred: false, duplicate: true });
      expect(pub.pending).toBe(1);
      // the copy is not stranded: past the window it gets a message of its own (the ledger will skip it)
      await waitFor(async () => (await f.streamMessages()) === 2, 5000, 'the re-publish');
      expect(pub.pending).toBe(0);

      // a crash between the move and the publish: the file is in the shared folder, no message names it
      const orphan = path.join(f.settings.sharedDir, 'events_3.0123456789ab.csv');
      writeFileSync(orphan, eventsCsv(plausibleRows(6, { prefix: 'o' })));
      writeFileSync(path.join(f.settings.sharedDir, '.medetl-part-abc'), 'partial copy');
      const r = await pub.recover();
      expect(r).toEqual({ files: 3, published: 1, duplicates: 2, deferred: 0 });
      const last = await f.jsm.streams.getMessage(f.settings.stream, { last_by_subj: f.settings.subject });
      expect(decodeWorkItem(last!.data)).toMatchObject({ name: 'events_3.csv', path: 'events_3.0123456789ab.csv' });
      expect(await f.streamMessages()).toBe(3);
    } finally {
      await pub.close();
    }
  });

  it('creates the work-queue stream and the durable pull consumer, and names each incompatible setting', async () => {
    const f = (fx = await natsFixture({ max_deliveries: 4, duplicate_window_ms: 60_000, max_ack_pending: 8 }));
    const info = await ensureStream(f.jsm, f.settings, f.logger);
    expect(info.config).toMatchObject({ retention: 'workqueue', storage: 'file', subjects: [f.settings.subject], duplicate_window: nanos(60_000) });
    const eff = await ensureConsumer(f.jsm, f.settings, f.logger);
    expect(eff).toEqual({ ackWaitMs: 2000, maxDeliveries: 4, maxAckPending: 8 });
    const ci = await f.jsm.consumers.info(f.settings.stream, f.settings.consumer);
    expect(ci.config).toMatchObject({ durable_name: 'workers', ack_policy: 'explicit', max_deliver: 5, ack_wait: nanos(2000), filter_subject: f.settings.subject });
    expect(ci.config.deliver_subject).toBeUndefined(); // pull
    await ensureStream(f.jsm, f.settings, f.logger); // idempotent
    await ensureConsumer(f.jsm, f.settings, f.logger);

    // a stream of the same name made by someone else, with settings medetl cannot use
    const other = { ...f.settings, stream: `${f.settings.stream}_X`, subject: `${f.settings.subject}.x` };
    await f.jsm.streams.add({ name: other.stream, subjects: [`${other.subject}.other`], retention: RetentionPolicy.Limits, storage: StorageType.Memory });
    try {
      const err = await ensureStream(f.jsm, other).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      const msg = (err as Error).message;
      expect(msg).toContain(`stream ${other.stream} exists`);
      expect(msg).toContain('retention is "limits" (medetl needs "workqueue")');
      expect(msg).toContain('storage is "memory" (medetl needs "file")');
      expect(msg).toContain(`(medetl needs "${other.subject}", from nats.subject)`);
    } finally {
      await f.jsm.streams.delete(other.stream);
    }

    // tuning that differs is the server's to keep, with a warning
    const tuned = { ...f.settings, duplicateWindowMs: 90_000, ackWaitMs: 9000 };
    await ensureStream(f.jsm, tuned, f.logger);
    expect((await ensureConsumer(f.jsm, tuned, f.logger)).ackWaitMs).toBe(2000);
    const codes = f.log().map((l) => l.code);
    expect(codes).toContain('nats_stream_differs');
    expect(codes).toContain('nats_consumer_differs');
  });

  it('maps done / quarantine / retryLater / keepAlive onto ack / term / nak / working, as the server sees it', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    for (const n of ['events_1.csv', 'events_2.csv', 'events_3.csv']) await publishFile(f.js, f, f.drop(n, eventsCsv(plausibleRows(3, { prefix: n }))));
    const src = await f.source({ heartbeat: false });
    const p = puller(src);

    const d1 = (await p.next())!;
    expect(d1).toMatchObject({ name: 'events_1.csv', attempt: 1 });
    expect(existsSync(d1.path)).toBe(true);
    expect(await f.consumerInfo()).toEqual({ pending: 2, ackPending: 1, redelivered: 0 });
    d1.keepAlive(); // working: nothing to see but that it is accepted
    const archived = await d1.done();
    expect(archived).toBe(path.join(f.root, 'incoming', 'processed', 'events_1.csv'));
    expect(existsSync(d1.path)).toBe(false);
    expect(await f.streamMessages()).toBe(2); // the ack removed it from the work queue

    const d2 = (await p.next())!;
    const q = await d2.quarantine({ code: 'schema_missing_columns', message: 'no heart_rate column', columns: ['heart_rate'] });
    expect(q).toBe(path.join(f.root, 'quarantine', 'events_2.csv'));
    expect(JSON.parse(readFileSync(`${q}.reason.json`, 'utf8'))).toMatchObject({ reason: 'schema_missing_columns', source_name: 'events_2.csv' });
    await waitFor(async () => (await f.streamMessages()) === 1, 3000, 'term');

    const d3 = (await p.next())!;
    await d3.retryLater(0, 'ECONNREFUSED');
    const d3b = (await p.next())!;
    expect(d3b).toMatchObject({ name: 'events_3.csv', attempt: 2 });
    expect((await f.consumerInfo()).redelivered).toBe(1);
    await d3b.done();
    expect(await f.streamMessages()).toBe(0);
    expect(await f.consumerInfo()).toEqual({ pending: 0, ackPending: 0, redelivered: 0 });
    await expect(d3b.done()).rejects.toThrow(/already settled/);
    expect(f.list('incoming/processed')).toEqual(['events_1.csv', 'events_3.csv']);
    expect(f.list('incoming/published')).toEqual([]);
  });

  it('terminates a message whose file is missing (file_missing) and one that is no work item, without a crash', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    const r = await publishFile(f.js, f, f.drop('events_gone.csv'));
    rmSync(r.sharedPath);
    await f.js.publish(f.settings.subject, 'not json at all');
    const evil = { v: 1, path: '../../etc/passwd', name: 'passwd', size: 1, hash: 'a'.repeat(64), mtime_ms: null };
    await f.js.publish(f.settings.subject, JSON.stringify(evil), { msgID: 'evil' });
    const ok = await publishFile(f.js, f, f.drop('events_ok.csv'));
    const src = await f.source({ heartbeat: false });
    const p = puller(src);
    const d = (await p.next())!;
    expect(d.name).toBe('events_ok.csv'); // the three bad ones were settled on the way
    await d.done();
    expect(await f.streamMessages()).toBe(0);
    const codes = f.log().map((l) => l.code);
    expect(codes.filter((c) => c === 'file_missing')).toHaveLength(1);
    expect(codes.filter((c) => c === 'message_invalid')).toHaveLength(2);
    expect(ok.duplicate).toBe(false);
  });

  it('status: the backlog, the consumer counters and the workers seen, with their batches', async () => {
    const f = (fx = await natsFixture());
    expect((await streamStatusWith(f.jsm, f.settings)).exists).toBe(false);
    await ensureStream(f.jsm, f.settings);
    for (const n of ['events_1.csv', 'events_2.csv', 'events_3.csv']) await publishFile(f.js, f, f.drop(n, eventsCsv(plausibleRows(3, { prefix: n }))));
    const src = await f.source({ workerId: 'test-worker-1' });
    const p = puller(src);
    const d = (await p.next())!;
    await waitFor(async () => (await streamStatusWith(f.jsm, f.settings)).workers.some((w) => w.busy), 3000, 'a busy heartbeat');
    let st = await streamStatusWith(f.jsm, f.settings);
    expect(st).toMatchObject({ exists: true, messages: 3, consumer: { exists: true, pending: 2, ackPending: 1, redelivered: 0 } });
    expect(st.workers).toHaveLength(1);
    expect(st.workers[0]).toMatchObject({ id: 'test-worker-1', pid: process.pid, state: 'running', busy: true, batches: { done: 0, quarantined: 0, retried: 0 } });
    await d.done();
    await waitFor(async () => (await streamStatusWith(f.jsm, f.settings)).workers[0]?.batches.done === 1, 3000, 'the count in a heartbeat');
    st = await streamStatusWith(f.jsm, f.settings);
    expect(st).toMatchObject({ messages: 2, consumer: { ackPending: 0 } });
    src.stop();
    await src.close();
    st = await streamStatusWith(f.jsm, f.settings);
    expect(st.workers[0]).toMatchObject({ id: 'test-worker-1', state: 'stopped' });
    // not seen within the window any more: not listed
    expect(await streamStatusWith(f.jsm, f.settings, Date.now() + 60_000).then((s) => s.workers)).toEqual([]);
  });

  it('resolves a reference against the worker\'s own mount of the shared folder', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    await publishFile(f.js, f, f.drop('events_m.csv'));
    // another machine: its own project folder, the shared folder mounted elsewhere (here: a symbolic link)
    const other = path.join(f.root, 'machine-b');
    mkdirSync(other);
    symlinkSync(f.settings.sharedDir, path.join(other, 'mnt-shared'));
    const workerConfig = parseConfig({ ...f.configInput, nats: { ...(f.configInput.nats as object), shared_dir: 'mnt-shared' } }, other, null, f.config.env);
    const src = await NatsSource.open({ connection: f.nc, config: workerConfig, logger: f.logger, heartbeat: false, ownsConnection: false, pullWaitMs: 1000 });
    try {
      const d = (await puller(src).next())!;
      expect(d.path.startsWith(path.join(other, 'mnt-shared') + path.sep)).toBe(true);
      expect(readFileSync(d.path, 'utf8')).toContain('patient_id');
      expect(await d.done()).toBe(path.join(other, 'incoming', 'processed', 'events_m.csv'));
    } finally {
      await src.close();
    }
  });

  it('takes no work while the shared folder is not visible (an unmounted share), and resumes when it is back', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    await publishFile(f.js, f, f.drop('events_u.csv'));
    rmSync(path.join(f.settings.sharedDir, SHARED_MARKER)); // what an empty mount point looks like
    const p = puller(await f.source({ heartbeat: false }));
    expect(await p.next(1500)).toBeNull();
    expect(await f.consumerInfo()).toEqual({ pending: 1, ackPending: 0, redelivered: 0 }); // not taken, not terminated
    expect(f.log().map((l) => l.code)).toContain('shared_dir_unavailable');
    await markSharedDir(f.settings.sharedDir);
    const d = (await p.next(3000))!;
    expect(d).toMatchObject({ name: 'events_u.csv', attempt: 1 });
    await d.done();
    expect(await f.streamMessages()).toBe(0);
  });

  it('puts back a consumer deleted under a running worker, and goes on', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    const p = puller(await f.source({ heartbeat: false }));
    expect(await p.next(200)).toBeNull(); // pulling
    await f.jsm.consumers.delete(f.settings.stream, f.settings.consumer);
    await publishFile(f.js, f, f.drop('events_r.csv'));
    const d = await p.next(8000);
    expect(d).toMatchObject({ name: 'events_r.csv', attempt: 1 });
    await d!.done();
    expect(f.log().map((l) => l.code)).toContain('nats_consumer_recreated');
    expect(await f.streamMessages()).toBe(0);
  });

  it('stop(): the delivery in flight still finishes and its ack arrives; the iteration ends; the rest stays queued', async () => {
    const f = (fx = await natsFixture());
    await ensureStream(f.jsm, f.settings);
    for (const n of ['events_1.csv', 'events_2.csv']) await publishFile(f.js, f, f.drop(n, eventsCsv(plausibleRows(3, { prefix: n }))));
    const src = await f.source({ heartbeat: false });
    const p = puller(src);
    const d = (await p.next())!;
    src.stop();
    await sleep(100);
    await d.done();
    expect(await p.ended(2000)).toBe(true);
    await src.close();
    expect(await f.streamMessages()).toBe(1);
    await waitFor(async () => (await f.consumerInfo()).ackPending === 0, 3000, 'nothing held');
    expect((await f.consumerInfo()).pending).toBe(1);
  });
});
