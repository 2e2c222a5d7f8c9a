// Helpers for the dashboard tests: raw HTTP over a socket (nothing normalises the request line), a server-sent
// events reader that counts only complete events (as EventSource does), and Debian's Chromium via playwright-core.
import net from 'node:net';
import http from 'node:http';
import { chromium, type Browser } from 'playwright-core';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Send `request` (a whole HTTP/1.1 request, CRLF line ends) as bytes and read the response until the server closes. */
export function rawRequest(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.setTimeout(5000, () => sock.destroy(new Error('raw request timed out')));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
    sock.end(request);
  });
}

/** GET `target` exactly as written, on a connection that closes after the response. */
export function rawGet(port: number, target: string, extra: Record<string, string> = {}, method = 'GET'): Promise<RawResponse> {
  const head = Object.entries({ Host: `127.0.0.1:${port}`, Connection: 'close', ...extra }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return rawRequest(port, `${method} ${target} HTTP/1.1\r\n${head}\r\n`);
}

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** A live SSE connection: complete events in `events`, comment lines counted, `drop()` to cut it. */
export interface SseStream {
  events: SseEvent[];
  comments: number;
  status: number;
  headers: http.IncomingHttpHeaders;
  waitFor(pred: (evs: SseEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Destroy the socket now: whatever is buffered and not yet a complete event is lost. */
  drop(): void;
}

/**
 * Open `path` as an event stream. `dropAfter`: cut the connection right after the first complete event it matches;
 * whatever else had arrived is discarded, as a connection lost mid-stream loses it.
 */
export function openSse(port: number, path: string, headers: Record<string, string> = {}, dropAfter?: (ev: SseEvent) => boolean): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const s: SseStream = {
        events: [],
        comments: 0,
        status: res.statusCode ?? 0,
        headers: res.headers,
        async waitFor(pred, timeoutMs = 10_000) {
          const until = Date.now() + timeoutMs;
          while (!pred(s.events)) {
            if (Date.now() > until) throw new Error(`SSE: timed out; got ${JSON.stringify(s.events.map((e) => [e.event, e.id]))}`);
            await new Promise((r) => setTimeout(r, 20));
          }
        },
        drop: () => req.destroy(),
      };
      let buf = '';
      let dropped = false;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (dropped) return;
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: SseEvent = { id: null, event: 'message', data: '' };
          let fields = 0;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) {
              s.comments++;
              continue;
            }
            const c = line.indexOf(':');
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (k === 'id') ev.id = v;
            else if (k === 'event') ev.event = v;
            else if (k === 'data') ev.data += (ev.data ? '\n' : '') + v;
            else continue;
            fields++;
          }
          if (fields > 0 && (ev.data || ev.id !== null)) s.events.push(ev);
          if (dropAfter?.(ev)) {
            dropped = true;
            req.destroy();
            return;
          }
        }
      });
      res.on('error', () => undefined);
      resolve(s);
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
  });
}

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
  });
}

/**
 * An events CSV of `patients` people over `years`, one reading each a year in month `month` (so files with
 * different months never hold the same event): blood pressure rising with age, children's faster heart rates, and
 * a little noise (a unit slip now and then, an unreadable value) for QC to find; `systolicShift` moves every systolic
 * reading (a drifting device). Seeded: the same file every run.
 */
export function vitalsCsv(opts: { seed: number; patients: number; years: readonly number[]; month: number; systolicShift?: number }): string {
  let s = opts.seed >>> 0;
  const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  const normal = (mean: number, sd: number) => mean + sd * Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const out = ['patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate'];
  for (const year of opts.years) {
    for (let i = 0; i < opts.patients; i++) {
      const born = 1930 + ((i * 37) % 92);
      const age = year - born;
      if (age < 0) continue;
      const day = 1 + ((i * 7) % 27);
      const ts = `${year}-${String(opts.month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${String(8 + (i % 10)).padStart(2, '0')}:${String((i * 13) % 60).padStart(2, '0')}:00Z`;
      const child = age < 13;
      let sys: number | string = Math.round(normal(child ? 100 : 100 + age * 0.3, child ? 7 : 10) + (opts.systolicShift ?? 0));
      const dia = Math.round(normal(child ? 60 : 63 + age * 0.1, child ? 5 : 6));
      const hr = Math.round(normal(age < 2 ? 128 : child ? 92 : 74, age < 2 ? 14 : 11));
      const noise = rnd();
      if (noise < 0.01) sys = sys * 10; // a unit slip: clipped or flagged
      else if (noise < 0.015) sys = 'N/A';
      out.push(`syn-${i},Given${i},Family${i},${born}-0${1 + (i % 9)}-1${i % 9},0${1000 + (i % 90) * 11},${ts},${sys},${dia},${hr}`);
    }
  }
  return `${out.join('\n')}\n`;
}
