// Alerts on quarantine and failure: Slack incoming webhook and SMTP email, both configured in .env.
// What an alert may carry is an allow-list: host, file base name (through the name policy of ops/safe-name.ts),
// reason code, numeric counts, time. Never a
// patient value, never the free-text message of an error (it could quote a cell).
// Alerts never block the pipeline: notify() only queues; a background sender retries with backoff. The queue is
// bounded (oldest dropped first) and each kind is rate-limited: within min_interval_ms, further alerts of a kind
// are folded into one digest sent when the interval ends.
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { Config } from '../config/load.js';
import type { Logger } from './log.js';
import { retry } from '../core/retry.js';
import { safeName } from './safe-name.js';

export type AlertKind = 'quarantine' | 'failure' | 'warning';

export interface Alert {
  kind: AlertKind;
  /** The events file; only its base name is sent. */
  file: string;
  /** A reason code such as qc_threshold_exceeded. */
  code: string;
  /** Counts only (rowsIn, rejected...); anything not a finite number is dropped. */
  counts?: Record<string, unknown>;
}

export interface AlertMessage {
  kind: AlertKind;
  subject: string;
  text: string;
}

export interface AlertTransport {
  readonly name: string;
  send(msg: AlertMessage): Promise<void>;
}

/** An error that another attempt will not fix (a webhook URL that answers 404, a recipient refused). */
class PermanentAlertError extends Error {
  readonly permanent = true;
}

const KIND_TITLE: Record<AlertKind, string> = {
  quarantine: 'file quarantined',
  failure: 'file failed',
  warning: 'file loaded with a warning',
};

function safeCode(code: string): string {
  return /^[A-Za-z0-9_.:-]{1,64}$/.test(code) ? code : 'unknown';
}

/** The name policy (ops/safe-name.ts: safe names as they are, others as a keyed id), ASCII only. */
function safeFile(file: string): string {
  return safeName(path.basename(file)).replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}

function safeCounts(counts: Record<string, unknown> | undefined): string {
  if (!counts) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(counts)) {
    if (!/^[A-Za-z0-9_]{1,40}$/.test(k)) continue;
    if (typeof v === 'number' && Number.isFinite(v)) parts.push(`${k}=${v}`);
    else if (v && typeof v === 'object') {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) {
        if (/^[A-Za-z0-9_]{1,40}$/.test(k2) && typeof v2 === 'number' && Number.isFinite(v2)) parts.push(`${k}.${k2}=${v2}`);
      }
    }
  }
  return parts.join(' ');
}

/** The one place an alert's text is made. */
export function formatAlert(alert: Alert, host = os.hostname(), at = new Date()): AlertMessage {
  const file = safeFile(alert.file);
  const code = safeCode(alert.code);
  const counts = safeCounts(alert.counts);
  const lines = [`medetl on ${host}: ${KIND_TITLE[alert.kind]}`, `file: ${file}`, `reason: ${code}`];
  if (counts) lines.push(`counts: ${counts}`);
  lines.push(`time: ${at.toISOString()}`);
  return { kind: alert.kind, subject: `[medetl] ${KIND_TITLE[alert.kind]}: ${file} (${code}) on ${host}`, text: lines.join('\n') };
}

/** The alerts of one kind that the rate limit held back, as one message. */
export function formatDigest(kind: AlertKind, held: Alert[], total: number, host = os.hostname(), at = new Date()): AlertMessage {
  const lines = [`medetl on ${host}: ${total} more ${total === 1 ? 'alert' : 'alerts'} of kind "${kind}" (rate-limited)`];
  for (const a of held) lines.push(`- ${safeFile(a.file)} (${safeCode(a.code)})`);
  if (total > held.length) lines.push(`- ... and ${total - held.length} more`);
  lines.push(`time: ${at.toISOString()}`);
  return { kind, subject: `[medetl] ${total} more: ${KIND_TITLE[kind]} on ${host}`, text: lines.join('\n') };
}

// ---------------------------------------------------------------------------------------------------------
// Slack incoming webhook

export function slackTransport(url: string, timeoutMs = 10_000): AlertTransport {
  return {
    name: 'slack',
    async send(msg) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: msg.text }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new Error(`slack webhook unreachable: ${(err as Error).name}`);
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return;
      const e = `slack webhook answered HTTP ${res.status}`;
      throw res.status === 429 || res.status >= 500 ? new Error(e) : new PermanentAlertError(e);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// SMTP (RFC 5321): EHLO, optional STARTTLS or implicit TLS, optional AUTH PLAIN/LOGIN, one plain-text message.

export interface SmtpOptions {
  host: string;
  port: number;
  from: string;
  to: string[];
  /** Implicit TLS from the first byte (port 465). */
  secure?: boolean;
  /** auto: upgrade when the server offers STARTTLS; require: refuse to send otherwise; never: stay plain. */
  starttls?: 'auto' | 'require' | 'never';
  user?: string;
  pass?: string;
  timeoutMs?: number;
  /** Passed to tls.connect (tests: a self-signed certificate). */
  tlsOptions?: tls.ConnectionOptions;
}

interface Reply {
  code: number;
  lines: string[];
}

class SmtpConnection {
  private socket!: net.Socket;
  private buf = '';
  private replies: Reply[] = [];
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;
  private partial: string[] = [];

  constructor(private readonly timeoutMs: number) {}

  attach(socket: net.Socket): void {
    this.socket = socket;
    this.buf = '';
    socket.setTimeout(this.timeoutMs, () => socket.destroy(new Error('smtp timeout')));
    socket.on('data', (d: Buffer) => this.onData(d.toString('latin1')));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('smtp connection closed')));
  }

  /** Stop listening to the current socket (before STARTTLS wraps it). */
  detach(): net.Socket {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('error');
    this.socket.removeAllListeners('close');
    this.socket.setTimeout(0);
    return this.socket;
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, '');
      this.buf = this.buf.slice(i + 1);
      const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
      if (!m) return this.fail(new Error('smtp: malformed reply'));
      this.partial.push(m[3]);
      if (m[2] !== '-') {
        const reply = { code: Number(m[1]), lines: this.partial };
        this.partial = [];
        if (this.waiting) {
          const w = this.waiting;
          this.waiting = null;
          w.resolve(reply);
        } else this.replies.push(reply);
      }
    }
    if (this.buf.length > 64 * 1024) this.fail(new Error('smtp: reply too long'));
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w.reject(e);
    }
  }

  read(): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  write(s: string): void {
    this.socket.write(s, 'latin1');
  }

  /** Send a command and expect one of the given reply codes. */
  async cmd(line: string | null, expect: number[], what = line?.split(' ')[0] ?? 'greeting'): Promise<Reply> {
    if (line !== null) this.write(`${line}\r\n`);
    const r = await this.read();
    if (!expect.includes(r.code)) {
      const e = `smtp ${what} refused: ${r.code}`;
      // 5xx is permanent (RFC 5321 4.2.1); 4xx may pass on a later attempt
      throw r.code >= 500 ? new PermanentAlertError(e) : new Error(e);
    }
    return r;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolve with the socket once `ready` fires; reject on an error or after `timeoutMs`. */
function whenReady<T extends net.Socket>(s: T, ready: 'connect' | 'secureConnect', timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => s.destroy(new Error(`smtp ${ready} timeout`)), timeoutMs);
    const onError = (e: Error) => {
      clearTimeout(timer);
      reject(e);
    };
    s.once('error', onError);
    s.once(ready, () => {
      clearTimeout(timer);
      s.removeListener('error', onError);
      resolve(s);
    });
  });
}

function tlsTarget(opts: SmtpOptions): tls.ConnectionOptions {
  return { host: opts.host, servername: net.isIP(opts.host) ? undefined : opts.host, ...opts.tlsOptions };
}

function connectSocket(opts: SmtpOptions, timeoutMs: number): Promise<net.Socket> {
  return opts.secure
    ? whenReady(tls.connect({ port: opts.port, ...tlsTarget(opts) }), 'secureConnect', timeoutMs)
    : whenReady(net.connect({ host: opts.host, port: opts.port }), 'connect', timeoutMs);
}

function upgrade(socket: net.Socket, opts: SmtpOptions, timeoutMs: number): Promise<tls.TLSSocket> {
  return whenReady(tls.connect({ socket, ...tlsTarget(opts) }), 'secureConnect', timeoutMs);
}

/** The message as sent after DATA: CRLF line ends, dot-stuffed, ASCII only. */
export function smtpMessage(opts: Pick<SmtpOptions, 'from' | 'to'>, subject: string, text: string, at = new Date()): string {
  const ascii = (s: string) => s.replace(/[^\x20-\x7e\n\t]/g, '?');
  const headers = [
    `From: ${opts.from}`,
    `To: ${opts.to.join(', ')}`,
    `Subject: ${ascii(subject).replace(/\n/g, ' ')}`,
    `Date: ${at.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${at.getTime()}.${Math.random().toString(36).slice(2)}@medetl>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
  ];
  const body = ascii(text)
    .split('\n')
    .map((l) => (l.startsWith('.') ? `.${l}` : l));
  return `${[...headers, '', ...body].join('\r\n')}\r\n.\r\n`;
}

export async function sendSmtp(opts: SmtpOptions, subject: string, text: string): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const conn = new SmtpConnection(timeoutMs);
  conn.attach(await connectSocket(opts, timeoutMs));
  try {
    await conn.cmd(null, [220]);
    const helo = os.hostname().replace(/[^A-Za-z0-9.-]/g, '-') || 'medetl';
    let ehlo = await conn.cmd(`EHLO ${helo}`, [250]);
    const offers = (r: Reply, word: string) => r.lines.some((l) => l.toUpperCase().split(/\s+/)[0] === word);
    let secure = !!opts.secure;
    const starttls = opts.starttls ?? 'auto';
    if (!secure && starttls !== 'never' && offers(ehlo, 'STARTTLS')) {
      await conn.cmd('STARTTLS', [220]);
      conn.attach(await upgrade(conn.detach(), opts, timeoutMs));
      secure = true;
      ehlo = await conn.cmd(`EHLO ${helo}`, [250]);
    }
    if (!secure && starttls === 'require') throw new PermanentAlertError('smtp server offers no STARTTLS and SMTP_STARTTLS=require');
    if (opts.user) {
      const auth = ehlo.lines.find((l) => l.toUpperCase().startsWith('AUTH'))?.toUpperCase().split(/[\s=]+/) ?? [];
      if (auth.includes('PLAIN') || !auth.includes('LOGIN')) {
        const token = Buffer.from(`\0${opts.user}\0${opts.pass ?? ''}`).toString('base64');
        await conn.cmd(`AUTH PLAIN ${token}`, [235], 'AUTH');
      } else {
        await conn.cmd('AUTH LOGIN', [334], 'AUTH');
        await conn.cmd(Buffer.from(opts.user).toString('base64'), [334], 'AUTH');
        await conn.cmd(Buffer.from(opts.pass ?? '').toString('base64'), [235], 'AUTH');
      }
    }
    await conn.cmd(`MAIL FROM:<${opts.from}>`, [250], 'MAIL');
    for (const rcpt of opts.to) await conn.cmd(`RCPT TO:<${rcpt}>`, [250, 251], 'RCPT');
    await conn.cmd('DATA', [354]);
    conn.write(smtpMessage(opts, subject, text));
    await conn.cmd(null, [250], 'message');
    conn.write('QUIT\r\n');
    conn.end();
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

export function smtpTransport(opts: SmtpOptions): AlertTransport {
  return { name: 'smtp', send: (msg) => sendSmtp(opts, msg.subject, msg.text) };
}

/** Transports configured in .env: SLACK_WEBHOOK_URL; SMTP_HOST, SMTP_PORT, SMTP_FROM, SMTP_TO (comma-separated). */
export function transportsFromEnv(env: Record<string, string | undefined>): AlertTransport[] {
  const out: AlertTransport[] = [];
  const slack = env.SLACK_WEBHOOK_URL?.trim();
  if (slack) out.push(slackTransport(slack));
  const host = env.SMTP_HOST?.trim();
  const from = env.SMTP_FROM?.trim();
  const to = (env.SMTP_TO ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (host && from && to.length) {
    const port = Number(env.SMTP_PORT ?? '') || 25;
    const secure = env.SMTP_SECURE ? /^(1|true|yes)$/i.test(env.SMTP_SECURE) : port === 465;
    const st = env.SMTP_STARTTLS?.toLowerCase();
    out.push(
      smtpTransport({
        host,
        port,
        from,
        to,
        secure,
        starttls: st === 'require' || st === 'never' ? st : 'auto',
        user: env.SMTP_USER || undefined,
        pass: env.SMTP_PASS || undefined,
      }),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The queue

export interface AlerterOptions {
  enabled: boolean;
  minIntervalMs: number;
  /** Attempts per alert and transport (at least one). */
  attempts: number;
  transports: AlertTransport[];
  log: Logger;
  /** Messages waiting to be sent; beyond this the oldest is dropped. */
  maxQueue?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** How many held-back alerts a digest names (the rest are counted). */
  digestNames?: number;
  host?: string;
}

export interface AlerterStats {
  queued: number;
  sent: number;
  failed: number;
  dropped: number;
  suppressed: number;
}

interface KindState {
  lastSent: number;
  held: Alert[];
  heldTotal: number;
  timer: NodeJS.Timeout | null;
}

export class Alerter {
  readonly stats: AlerterStats = { queued: 0, sent: 0, failed: 0, dropped: 0, suppressed: 0 };
  private readonly queue: AlertMessage[] = [];
  private readonly kinds = new Map<AlertKind, KindState>();
  private sending: Promise<void> | null = null;
  private readonly stop = new AbortController();
  private readonly maxQueue: number;
  private readonly digestNames: number;

  constructor(private readonly opts: AlerterOptions) {
    this.maxQueue = opts.maxQueue ?? 100;
    this.digestNames = opts.digestNames ?? 10;
  }

  static fromConfig(config: Config, log: Logger, transports = transportsFromEnv(config.env)): Alerter {
    return new Alerter({
      enabled: config.alerts.enabled,
      minIntervalMs: config.alerts.min_interval_ms,
      attempts: Math.max(1, config.alerts.retries),
      transports,
      log,
    });
  }

  get active(): boolean {
    return this.opts.enabled && this.opts.transports.length > 0;
  }

  /** Queue an alert and return at once. Never throws. */
  notify(alert: Alert): void {
    if (!this.active || this.stop.signal.aborted) return;
    const now = Date.now();
    const st = this.kinds.get(alert.kind) ?? { lastSent: -Infinity, held: [], heldTotal: 0, timer: null };
    this.kinds.set(alert.kind, st);
    if (now - st.lastSent >= this.opts.minIntervalMs) {
      st.lastSent = now;
      this.enqueue(formatAlert(alert, this.opts.host));
      return;
    }
    this.stats.suppressed++;
    st.heldTotal++;
    if (st.held.length < this.digestNames) st.held.push(alert);
    if (!st.timer) {
      st.timer = setTimeout(() => this.sendDigest(alert.kind), st.lastSent + this.opts.minIntervalMs - now);
      st.timer.unref();
    }
  }

  private sendDigest(kind: AlertKind): void {
    const st = this.kinds.get(kind);
    if (!st) return;
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    if (st.heldTotal === 0) return;
    this.enqueue(formatDigest(kind, st.held, st.heldTotal, this.opts.host));
    st.lastSent = Date.now();
    st.held = [];
    st.heldTotal = 0;
  }

  private enqueue(msg: AlertMessage): void {
    if (this.queue.length >= this.maxQueue) {
      this.queue.shift();
      this.stats.dropped++;
    }
    this.queue.push(msg);
    this.stats.queued++;
    if (!this.sending) this.sending = this.drain().finally(() => (this.sending = null));
  }

  private async drain(): Promise<void> {
    for (let msg = this.queue.shift(); msg; msg = this.queue.shift()) {
      const m = msg;
      await Promise.all(
        this.opts.transports.map(async (t) => {
          try {
            await retry(() => t.send(m), {
              attempts: this.opts.attempts,
              baseMs: this.opts.backoffBaseMs ?? 1000,
              maxMs: this.opts.backoffMaxMs ?? 60_000,
              retryable: (err) => !(err as { permanent?: boolean }).permanent,
              signal: this.stop.signal,
              onRetry: (err, attempt, delayMs) =>
                this.opts.log.warn({ event: 'alert_retry', transport: t.name, kind: m.kind, attempt, delayMs, err: (err as Error).message }),
            });
            this.stats.sent++;
            this.opts.log.info({ event: 'alert_sent', transport: t.name, kind: m.kind });
          } catch (err) {
            this.stats.failed++;
            this.opts.log.error({ event: 'alert_failed', transport: t.name, kind: m.kind, err: (err as Error).message });
          }
        }),
      );
    }
  }

  /**
   * Send what the rate limit holds back, then wait for the queue to empty, at most `timeoutMs`.
   * Whatever is still unsent after that is given up (and counted as dropped).
   */
  async close(timeoutMs = 5_000): Promise<void> {
    for (const kind of this.kinds.keys()) this.sendDigest(kind);
    const sending = this.sending;
    if (sending) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([sending, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    this.stop.abort();
    this.stats.dropped += this.queue.length;
    this.queue.length = 0;
  }
}
