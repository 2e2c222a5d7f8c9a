// Alerts against real servers on 127.0.0.1: a webhook (Slack's shape) and an SMTP server.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Alerter, formatAlert, sendSmtp, slackTransport, smtpTransport, transportsFromEnv, type AlertTransport } from '../../src/ops/alerts.js';
import { silentLogger } from '../../src/ops/log.js';
import { waitFor } from '../helpers/watch-project.js';
import { selfSignedCert, startHttpHook, startSmtpServer, type HttpHook, type SmtpServer } from '../helpers/watch-servers.js';

const log = silentLogger();
let hook: HttpHook;
let smtp: SmtpServer;

beforeAll(async () => {
  hook = await startHttpHook();
  smtp = await startSmtpServer();
});
afterAll(async () => {
  await hook.close();
  await smtp.close();
});
afterEach(() => {
  hook.bodies.length = 0;
  hook.failNext.length = 0;
  smtp.mails.length = 0;
  smtp.failNext.length = 0;
  smtp.failRcpt.length = 0;
  smtp.dropNext = 0;
});

function alerter(transports: AlertTransport[], over: Partial<ConstructorParameters<typeof Alerter>[0]> = {}): Alerter {
  return new Alerter({ enabled: true, minIntervalMs: 0, attempts: 4, transports, log, backoffBaseMs: 10, backoffMaxMs: 50, host: 'testhost', ...over });
}

const smtpOpts = () => ({ host: '127.0.0.1', port: smtp.port, from: 'medetl@example.org', to: ['team@example.org', 'oncall@example.org'] });

describe('alert text', () => {
  it('carries file name, reason code and counts only', () => {
    const m = formatAlert(
      { kind: 'quarantine', file: '/data/incoming/events_3.csv', code: 'missing_columns', counts: { rowsIn: 12, note: 'Ann Lee 1984-02-03' as unknown as number, rejectedByReason: { invalid_event_ts: 2 } } },
      'host1',
      new Date('2024-05-01T00:00:00Z'),
    );
    expect(m.subject).toBe('[medetl] file quarantined: events_3.csv (missing_columns) on host1');
    expect(m.text).toContain('file: events_3.csv');
    expect(m.text).toContain('counts: rowsIn=12 rejectedByReason.invalid_event_ts=2');
    expect(m.text).not.toMatch(/Ann|1984|\/data/);
    // a code that is not a code is not sent
    expect(formatAlert({ kind: 'failure', file: 'x.csv', code: 'value pt-0042 is bad' }).text).toContain('reason: unknown');
  });
});

describe('transports', () => {
  it('posts to a Slack webhook', async () => {
    await slackTransport(hook.url).send({ kind: 'quarantine', subject: 's', text: 'hello' });
    expect(JSON.parse(hook.bodies[0])).toEqual({ text: 'hello' });
  });

  it('sends mail over SMTP to every recipient, as plain text', async () => {
    await sendSmtp(smtpOpts(), '[medetl] test', 'body line\n.dot line');
    expect(smtp.mails).toHaveLength(1);
    const m = smtp.mails[0];
    expect(m.from).toBe('medetl@example.org');
    expect(m.to).toEqual(['team@example.org', 'oncall@example.org']);
    expect(m).toMatchObject({ tls: false, auth: null });
    expect(m.data).toContain('Subject: [medetl] test');
    expect(m.data).toMatch(/^Content-Type: text\/plain/m);
    expect(m.data).toMatch(/^Message-ID: </m);
    expect(m.data).toMatch(/\n\nbody line\n\.dot line$/);
  });

  it('dot-stuffs: a line that is only a dot, or starts with two, arrives as written', async () => {
    // unstuffed, the lone "." would end the message early and the rest would be read as commands
    await sendSmtp(smtpOpts(), 's', 'one\n.\n..two\nlast');
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0].data).toMatch(/\n\none\n\.\n\.\.two\nlast$/);
  });

  it('reads transports from .env variables', () => {
    expect(transportsFromEnv({}).map((t) => t.name)).toEqual([]);
    const t = transportsFromEnv({ SLACK_WEBHOOK_URL: hook.url, SMTP_HOST: '127.0.0.1', SMTP_PORT: '2525', SMTP_FROM: 'a@b', SMTP_TO: 'c@d, e@f' });
    expect(t.map((x) => x.name)).toEqual(['slack', 'smtp']);
    expect(transportsFromEnv({ SMTP_HOST: 'x', SMTP_FROM: 'a@b' })).toHaveLength(0); // no recipient
  });

  it('a 5xx reply is permanent, a 4xx reply or a dropped connection is not', async () => {
    smtp.failNext.push(554);
    const e5 = await sendSmtp(smtpOpts(), 's', 't').catch((e: unknown) => e);
    expect(e5).toMatchObject({ message: expect.stringMatching(/refused: 554/), permanent: true });
    smtp.failNext.push(451);
    const e4 = await sendSmtp(smtpOpts(), 's', 't').catch((e: unknown) => e);
    expect(e4).toBeInstanceOf(Error);
    expect(e4).toMatchObject({ message: expect.stringMatching(/refused: 451/) });
    expect((e4 as { permanent?: boolean }).permanent).toBeUndefined();
    smtp.dropNext = 1;
    const en = await sendSmtp(smtpOpts(), 's', 't').catch((e: unknown) => e);
    expect(en).toBeInstanceOf(Error);
    expect((en as { permanent?: boolean }).permanent).toBeUndefined();
    // nothing reached the mailbox; a recipient refused (550) is permanent too
    expect(smtp.mails).toHaveLength(0);
    smtp.failRcpt.push(550, 550);
    await expect(sendSmtp(smtpOpts(), 's', 't')).rejects.toMatchObject({ permanent: true });
    // one of two refused: the other got it; sending again would repeat it to them
    smtp.failRcpt.push(550);
    await expect(sendSmtp(smtpOpts(), 's', 't')).rejects.toMatchObject({ message: 'smtp RCPT refused for 1 of 2 recipients', permanent: true });
    expect(smtp.mails.map((m) => m.to)).toEqual([['oncall@example.org']]);
  });

  const cert = selfSignedCert();
  it.runIf(cert !== null)('upgrades with STARTTLS and authenticates (PLAIN and LOGIN); refuses what it must', async () => {
    const secure = await startSmtpServer({ tls: cert!, requireAuth: { user: 'medetl', pass: 's3cret' } });
    try {
      const base = { host: '127.0.0.1', port: secure.port, from: 'a@example.org', to: ['b@example.org'], user: 'medetl', pass: 's3cret', tlsOptions: { ca: cert!.cert } };
      await sendSmtp(base, 'tls', 'over tls');
      expect(secure.mails[0]).toMatchObject({ tls: true, auth: 'medetl', authMechanism: 'PLAIN' });
      await expect(sendSmtp({ ...base, pass: 'wrong' }, 's', 't')).rejects.toMatchObject({ message: expect.stringMatching(/AUTH refused: 535/), permanent: true });
      // an untrusted certificate is refused (and may be fixed by the operator: not permanent)
      const untrusted = await sendSmtp({ ...base, tlsOptions: {} }, 's', 't').catch((e: unknown) => e);
      expect(untrusted).toBeInstanceOf(Error);
      expect((untrusted as { permanent?: boolean }).permanent).toBeUndefined();
      // starttls: never + a server that insists on auth over plain: refused, permanently
      await expect(sendSmtp({ ...base, user: undefined, starttls: 'never' }, 's', 't')).rejects.toMatchObject({ message: expect.stringMatching(/MAIL refused: 530/), permanent: true });
      expect(secure.mails).toHaveLength(1);
    } finally {
      await secure.close();
    }
    const login = await startSmtpServer({ tls: cert!, requireAuth: { user: 'medetl', pass: 's3cret' }, authMechanisms: ['LOGIN'] });
    try {
      await sendSmtp({ host: '127.0.0.1', port: login.port, from: 'a@b', to: ['c@d'], user: 'medetl', pass: 's3cret', tlsOptions: { ca: cert!.cert } }, 's', 't');
      expect(login.mails[0]).toMatchObject({ tls: true, auth: 'medetl', authMechanism: 'LOGIN' });
    } finally {
      await login.close();
    }
    const plain = await startSmtpServer({ requireAuth: { user: 'u', pass: 'p' } });
    try {
      await expect(sendSmtp({ host: '127.0.0.1', port: plain.port, from: 'a@b', to: ['c@d'], starttls: 'require' }, 's', 't')).rejects.toMatchObject({
        message: expect.stringMatching(/STARTTLS/),
        permanent: true,
      });
      expect(plain.mails).toHaveLength(0);
    } finally {
      await plain.close();
    }
  });

  it.runIf(cert !== null)('implicit TLS (port 465 style, secure: true; the default when SMTP_PORT=465)', async () => {
    const s465 = await startSmtpServer({ tls: cert!, implicitTls: true });
    try {
      await sendSmtp({ host: '127.0.0.1', port: s465.port, from: 'a@b', to: ['c@d'], secure: true, tlsOptions: { ca: cert!.cert } }, 's', 'implicit');
      expect(s465.mails).toHaveLength(1);
      expect(s465.mails[0].tls).toBe(true);
      // a plain client talking to a TLS port gets no greeting it understands: an error, not a hang
      await expect(sendSmtp({ host: '127.0.0.1', port: s465.port, from: 'a@b', to: ['c@d'], timeoutMs: 500 }, 's', 't')).rejects.toThrow();
    } finally {
      await s465.close();
    }
  });
});

describe('Alerter', () => {
  it('returns at once and delivers in the background, retrying with backoff', async () => {
    hook.failNext.push(500, 503);
    smtp.failNext.push(451);
    const started: string[] = [];
    const spy: AlertTransport = { name: 'spy', send: async (m) => void started.push(m.subject) };
    const a = alerter([slackTransport(hook.url), smtpTransport(smtpOpts()), spy]);
    a.notify({ kind: 'quarantine', file: 'events_1.csv', code: 'missing_columns', counts: { rowsIn: 3 } });
    expect(started).toEqual([]); // no transport was started before notify() returned
    await waitFor(() => hook.bodies.length === 1 && smtp.mails.length === 1, 5_000, 'delivery');
    expect(started).toHaveLength(1);
    // the server has the message a moment before the client counts it as sent
    await waitFor(() => a.stats.sent === 3, 5_000, 'the sends counted');
    expect(a.stats).toMatchObject({ sent: 3, failed: 0 });
    await a.close();
  });

  it('SMTP through the queue: a dropped connection and a 4xx are retried until delivered; a 5xx is tried once', async () => {
    const own = await startSmtpServer(); // its connections are this test's alone
    const a = alerter([smtpTransport({ ...smtpOpts(), port: own.port })]);
    try {
      own.dropNext = 1;
      own.failNext.push(421);
      a.notify({ kind: 'failure', file: 'events_1.csv', code: 'EBUSY' });
      await waitFor(() => a.stats.sent === 1, 5_000, 'delivery after retries');
      expect(own.connections).toBe(3);
      expect(own.mails).toHaveLength(1);
      own.failNext.push(554, 554);
      a.notify({ kind: 'failure', file: 'events_2.csv', code: 'EBUSY' });
      await waitFor(() => a.stats.failed === 1, 5_000, 'permanent failure');
      expect(own.connections).toBe(4); // one attempt only
      expect(own.failNext).toEqual([554]);
    } finally {
      await a.close();
      await own.close();
    }
  });

  it('gives up after the attempts, and at once on a permanent refusal', async () => {
    hook.failNext.push(500, 500, 500, 500, 500);
    const a = alerter([slackTransport(hook.url)], { attempts: 3 });
    a.notify({ kind: 'failure', file: 'events_1.csv', code: 'EBUSY' });
    await waitFor(() => a.stats.failed === 1, 5_000, 'give up');
    expect(hook.failNext).toHaveLength(2); // 3 attempts used
    hook.failNext.length = 0;
    hook.failNext.push(404, 404);
    a.notify({ kind: 'failure', file: 'events_2.csv', code: 'EBUSY' });
    await waitFor(() => a.stats.failed === 2, 5_000, 'permanent failure');
    expect(hook.failNext).toHaveLength(1); // one attempt only
    await a.close();
  });

  it('rate-limits per kind and sends what it held back as one digest', async () => {
    const a = alerter([slackTransport(hook.url)], { minIntervalMs: 400, digestNames: 2 });
    for (let i = 0; i < 5; i++) a.notify({ kind: 'quarantine', file: `events_${i}.csv`, code: 'missing_columns' });
    a.notify({ kind: 'failure', file: 'events_9.csv', code: 'EBUSY' }); // another kind: not held back
    await waitFor(() => hook.bodies.length === 2, 5_000, 'first alerts');
    expect(a.stats.suppressed).toBe(4);
    await waitFor(() => hook.bodies.length === 3, 5_000, 'digest');
    const digest = JSON.parse(hook.bodies[2]).text as string;
    expect(digest).toContain('4 more alerts of kind "quarantine"');
    expect(digest).toContain('events_1.csv (missing_columns)');
    expect(digest).toContain('... and 2 more');
    await a.close();
  });

  it('keeps a bounded queue, dropping the oldest', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: string[] = [];
    const slow: AlertTransport = { name: 'slow', send: async (m) => (await gate, void sent.push(m.subject)) };
    const a = alerter([slow], { maxQueue: 3 });
    for (let i = 0; i < 10; i++) a.notify({ kind: 'quarantine', file: `events_${i}.csv`, code: 'x' });
    release();
    await a.close();
    // the first went out at once (in flight), then the queue held the newest 3
    expect(sent.map((s) => /events_(\d)/.exec(s)![1])).toEqual(['0', '7', '8', '9']);
    expect(a.stats.dropped).toBe(6);
  });

  it('does nothing when disabled or unconfigured, and close() never hangs on a dead server', async () => {
    const off = alerter([slackTransport(hook.url)], { enabled: false });
    off.notify({ kind: 'quarantine', file: 'events_1.csv', code: 'x' });
    await off.close();
    expect(hook.bodies).toHaveLength(0);
    const dead = alerter([slackTransport('http://127.0.0.1:9/hook')], { attempts: 50, backoffBaseMs: 1000 });
    dead.notify({ kind: 'quarantine', file: 'events_1.csv', code: 'x' });
    const t0 = Date.now();
    await dead.close(300);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});
