// Alerts on quarantine and failure: Slack incoming webhook and SMTP email, both configured in .env.
// What an alert may carry is an allow-list: host, file base name (through the name policy of ops/safe-name.ts),
// reason code, numeric counts, time. Never a
// patient value, never the free-text message of an error (it could quote a cell).
// Alerts never block the pipeline: notify() only queues; a background sender retries with backoff. The queue is
// bounded (oldest dropped first) and each kind is rate-limited: within min_interval_ms, further alerts of a kind
// are folded into one digest sent when the interval ends.
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import nodemailer from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
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
// SMTP through nodemailer: implicit TLS (port 465) or STARTTLS (auto: when the server offers it; require: refuse
// to send otherwise; never: stay plain), optional AUTH (PLAIN or LOGIN, whichever the server offers), one
// plain-text message per alert. A 5xx reply is permanent (RFC 5321 4.2.1); a 4xx reply, a lost connection, a
// timeout or a failed TLS handshake is worth another attempt (the Alerter's retry loop makes it).

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
  /** Passed to tls.connect (tests: a self-signed certificate as `ca`). */
  tlsOptions?: tls.ConnectionOptions;
}

/** nodemailer's transport options for these SMTP options. */
export function smtpTransportOptions(opts: SmtpOptions): SMTPTransportOptions {
  const timeout = opts.timeoutMs ?? 15_000;
  const starttls = opts.starttls ?? 'auto';
  return {
    host: opts.host,
    port: opts.port,
    secure: !!opts.secure,
    requireTLS: !opts.secure && starttls === 'require',
    ignoreTLS: !opts.secure && starttls === 'never',
    auth: opts.user ? { user: opts.user, pass: opts.pass ?? '' } : undefined,
    tls: opts.tlsOptions,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    // an alert is text we wrote: nodemailer never needs to read a file or fetch a URL for it
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  };
}

/** nodemailer codes that name a configuration problem: another attempt fails the same way. */
const PERMANENT_CODES = new Set(['EAUTH', 'ENOAUTH', 'ECONFIG', 'EENVELOPE', 'EREQUIRETLS']);

/** nodemailer's error as ours: permanent on a 5xx reply or a configuration error, otherwise retryable. */
export function smtpError(err: unknown): Error {
  if (err instanceof PermanentAlertError) return err;
  const e = (err ?? {}) as { responseCode?: unknown; command?: unknown; code?: unknown; message?: unknown };
  const verb = typeof e.command === 'string' ? e.command.split(' ')[0] : 'reply';
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
    const msg = `smtp ${verb} refused: ${e.responseCode}`;
    return e.responseCode >= 500 ? new PermanentAlertError(msg, { cause: err }) : new Error(msg, { cause: err });
  }
  const code = typeof e.code === 'string' ? e.code : 'error';
  const msg = `smtp ${code}: ${typeof e.message === 'string' ? e.message : String(err)}`;
  return PERMANENT_CODES.has(code) ? new PermanentAlertError(msg, { cause: err }) : new Error(msg, { cause: err });
}

/** Send one plain-text message over one connection. Throws smtpError()s. */
export async function sendSmtp(opts: SmtpOptions, subject: string, text: string): Promise<void> {
  const transporter = nodemailer.createTransport(smtpTransportOptions(opts));
  try {
    const info = await transporter.sendMail({ from: opts.from, to: opts.to, subject, text });
    // some recipients refused: sending again would repeat the alert to the others
    if (info.rejected.length) throw new PermanentAlertError(`smtp RCPT refused for ${info.rejected.length} of ${opts.to.length} recipients`);
  } catch (err) {
    throw smtpError(err);
  } finally {
    transporter.close();
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
      // notify() returns before any transport work (building the message, connecting): that starts on a later
      // turn of the event loop
      await new Promise<void>((resolve) => setImmediate(resolve));
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
