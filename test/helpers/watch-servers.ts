// Loopback servers for alert tests: an HTTP endpoint standing in for a Slack webhook, and a small SMTP server
// (RFC 5321 subset: EHLO/HELO, optional STARTTLS or implicit TLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
// QUIT), which can refuse a message with a chosen reply code or drop a connection on accept.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { testDir } from './test-dir.js';

export interface HttpHook {
  url: string;
  bodies: string[];
  /** Status to answer for the next requests, in order; then 200. */
  failNext: number[];
  close(): Promise<void>;
}

export async function startHttpHook(): Promise<HttpHook> {
  const hook: Omit<HttpHook, 'url' | 'close'> = { bodies: [], failNext: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const status = hook.failNext.shift() ?? 200;
      if (status === 200) hook.bodies.push(body);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return Object.assign(hook, {
    url: `http://127.0.0.1:${port}/services/T000/B000/XXXX`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

export interface SmtpMail {
  from: string;
  to: string[];
  data: string;
  tls: boolean;
  auth: string | null;
  /** The AUTH mechanism the client used (PLAIN, LOGIN), or null. */
  authMechanism: string | null;
}

export interface SmtpServer {
  port: number;
  mails: SmtpMail[];
  /** Reply codes to send instead of 250 after DATA for the next messages (e.g. 451). */
  failNext: number[];
  /** Reply codes to send instead of 250 to RCPT, in order (e.g. 550 for an unknown mailbox). */
  failRcpt: number[];
  /** How many of the next connections to close at once, before the greeting (a network error). */
  dropNext: number;
  /** Connections accepted so far (dropped ones included). */
  connections: number;
  close(): Promise<void>;
}

export interface SmtpServerOptions {
  /** Certificate and key: STARTTLS is offered (or, with implicitTls, TLS from the first byte). */
  tls?: { key: string; cert: string };
  /** TLS from the first byte, as on port 465 (needs tls). */
  implicitTls?: boolean;
  requireAuth?: { user: string; pass: string };
  /** Mechanisms offered in EHLO when requireAuth is set (default PLAIN and LOGIN). */
  authMechanisms?: ('PLAIN' | 'LOGIN')[];
}

/** A self-signed certificate for 127.0.0.1 made with openssl, or null where openssl is missing. */
export function selfSignedCert(): { key: string; cert: string } | null {
  const dir = testDir('cert');
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(path.join(dir, 'k.pem'), 'utf8'), cert: readFileSync(path.join(dir, 'c.pem'), 'utf8') };
  } catch {
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startSmtpServer(opts: SmtpServerOptions = {}): Promise<SmtpServer> {
  if (opts.implicitTls && !opts.tls) throw new Error('implicitTls needs tls');
  const state = { mails: [] as SmtpMail[], failNext: [] as number[], failRcpt: [] as number[], dropNext: 0, connections: 0 };
  const { mails, failNext } = state;
  const mechanisms = opts.authMechanisms ?? ['PLAIN', 'LOGIN'];
  const sockets = new Set<net.Socket>();
  const onConnection = (raw: net.Socket) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    state.connections++;
    if (state.dropNext > 0) {
      state.dropNext--;
      raw.on('error', () => undefined);
      raw.destroy();
      return;
    }
    let sock: net.Socket = raw;
    let secure = !!opts.implicitTls;
    let buf = '';
    let inData = false;
    let data: string[] = [];
    let mail: { from: string; to: string[] } | null = null;
    let auth: string | null = null;
    let authMechanism: string | null = null;
    let loginStep: 0 | 1 | 2 = 0;
    let loginUser = '';
    const say = (s: string) => sock.write(`${s}\r\n`);
    const authOk = (user: string, pass: string) => !opts.requireAuth || (user === opts.requireAuth.user && pass === opts.requireAuth.pass);
    const onLine = (line: string) => {
      if (inData) {
        if (line === '.') {
          inData = false;
          const code = failNext.shift();
          if (code) return say(`${code} try later`);
          mails.push({ from: mail!.from, to: mail!.to, data: data.join('\n'), tls: secure, auth, authMechanism });
          mail = null;
          return say('250 queued');
        }
        data.push(line.startsWith('..') ? line.slice(1) : line);
        return;
      }
      if (loginStep === 1) {
        loginUser = Buffer.from(line, 'base64').toString();
        loginStep = 2;
        return say('334 UGFzc3dvcmQ6');
      }
      if (loginStep === 2) {
        loginStep = 0;
        const pass = Buffer.from(line, 'base64').toString();
        if (!authOk(loginUser, pass)) return say('535 bad credentials');
        auth = loginUser;
        authMechanism = 'LOGIN';
        return say('235 ok');
      }
      const [verb, ...rest] = line.split(' ');
      const arg = rest.join(' ');
      switch (verb.toUpperCase()) {
        case 'EHLO': {
          const ext = [opts.tls && !secure ? 'STARTTLS' : null, opts.requireAuth ? `AUTH ${mechanisms.join(' ')}` : null, '8BITMIME'].filter(Boolean);
          return say(['250-localhost hello', ...ext.map((e, i) => `250${i === ext.length - 1 ? ' ' : '-'}${e}`)].join('\r\n'));
        }
        case 'HELO':
          return say('250 localhost');
        case 'STARTTLS': {
          if (!opts.tls) return say('502 no');
          say('220 go ahead');
          raw.removeAllListeners('data');
          const t = new tls.TLSSocket(raw, { isServer: true, key: opts.tls.key, cert: opts.tls.cert });
          sock = t;
          secure = true;
          t.setEncoding('latin1');
          t.on('data', onData);
          t.on('error', () => raw.destroy());
          return;
        }
        case 'AUTH': {
          const [mech, token] = arg.split(' ');
          if (!mechanisms.some((m) => m === mech?.toUpperCase())) return say('504 unknown mechanism');
          if (mech?.toUpperCase() === 'PLAIN') {
            const [, user, pass] = Buffer.from(token ?? '', 'base64').toString().split('\0');
            if (!authOk(user, pass)) return say('535 bad credentials');
            auth = user;
            authMechanism = 'PLAIN';
            return say('235 ok');
          }
          if (mech?.toUpperCase() === 'LOGIN') {
            loginStep = 1;
            return say('334 VXNlcm5hbWU6');
          }
          return say('504 unknown mechanism');
        }
        case 'MAIL':
          if (opts.requireAuth && !auth) return say('530 authentication required');
          mail = { from: /<(.*)>/.exec(arg)?.[1] ?? '', to: [] };
          return say('250 ok');
        case 'RCPT': {
          if (!mail) return say('503 need MAIL');
          const refuse = state.failRcpt.shift();
          if (refuse) return say(`${refuse} no such mailbox`);
          mail.to.push(/<(.*)>/.exec(arg)?.[1] ?? '');
          return say('250 ok');
        }
        case 'DATA':
          if (!mail?.to.length) return say('503 need RCPT');
          inData = true;
          data = [];
          return say('354 end with .');
        case 'RSET':
          mail = null;
          return say('250 ok');
        case 'NOOP':
          return say('250 ok');
        case 'QUIT':
          say('221 bye');
          return sock.end();
        default:
          return say('500 unknown');
      }
    };
    const onData = (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        onLine(line);
      }
    };
    raw.setEncoding('latin1');
    raw.on('data', onData);
    raw.on('error', () => undefined);
    say('220 localhost test smtp');
  };
  const server = opts.implicitTls ? tls.createServer({ key: opts.tls!.key, cert: opts.tls!.cert }, onConnection) : net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
}
