// Power BI push against a local HTTP server that enforces Power BI's limits, with an outage,
// 429s with Retry-After, and a sender killed with SIGKILL and restarted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { eventsCsv, makeProject, plausibleRows, runCliAsync, spawnCli } from '../helpers/project.js';

interface FakePowerBi {
  url: string;
  posts: { rows: Record<string, unknown>[]; at: number }[];
  statuses: number[];
  server: Server;
}

/** Enforces <= maxRows per POST (400 otherwise) and <= perWindow POSTs per windowMs (429 + Retry-After). */
async function fakePowerBi(opts: { maxRows?: number; perWindow: number; windowMs: number; outageFirst?: number }): Promise<FakePowerBi> {
  const posts: FakePowerBi['posts'] = [];
  const statuses: number[] = [];
  const recent: number[] = [];
  let seen = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const now = Date.now();
      seen++;
      const reply = (status: number, headers: Record<string, string> = {}) => {
        statuses.push(status);
        res.writeHead(status, headers).end();
      };
      if (seen <= (opts.outageFirst ?? 0)) return reply(503);
      while (recent.length && now - recent[0] >= opts.windowMs) recent.shift();
      if (recent.length >= opts.perWindow) return reply(429, { 'Retry-After': String(Math.ceil(opts.windowMs / 1000)) });
      recent.push(now);
      const parsed = JSON.parse(body) as { rows: Record<string, unknown>[] };
      if (parsed.rows.length > (opts.maxRows ?? 10_000)) return reply(400);
      posts.push({ rows: parsed.rows, at: now });
      reply(200);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rows?key=test`, posts, statuses, server };
}

let open: Server[] = [];
afterEach(() => {
  for (const s of open) s.close();
  open = [];
});

function projectWith(url: string, rowsPerPost: number) {
  const p = makeProject(`sinks:\n  powerbi:\n    enabled: true\n    rows_per_post: ${rowsPerPost}\n    posts_per_minute: 120\n`);
  appendFileSync(p.file('.env'), `POWERBI_PUSH_URL=${url}\n`);
  return p;
}

describe('Power BI push', () => {
  it('queues masked rows with the batch and delivers them all within the limits, through an outage and 429s', async () => {
    const pbi = await fakePowerBi({ maxRows: 10_000, perWindow: 3, windowMs: 1000, outageFirst: 2 });
    open.push(pbi.server);
    const p = projectWith(pbi.url, 500);
    writeFileSync(p.file('events_a.csv'), eventsCsv(plausibleRows(2600, { seed: 3, patients: 40 })));
    expect(p.run(['process', 'events_a.csv']).status).toBe(0);
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS c, SUM(rows) AS r FROM outbox').get()).toEqual({ c: 6, r: 2600 });
    db.close();

    const r = await runCliAsync(p.dir, ['push']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/pushed 6 chunk\(s\), 2600 row\(s\)/);
    expect(pbi.statuses.slice(0, 2)).toEqual([503, 503]);
    expect(pbi.statuses).toContain(429);
    expect(pbi.posts.map((x) => x.rows.length)).toEqual([500, 500, 500, 500, 500, 100]);
    // After a 429 the sender waited as told: never more than 3 accepted POSTs in any 1 s window.
    for (let i = 3; i < pbi.posts.length; i++) expect(pbi.posts[i].at - pbi.posts[i - 3].at).toBeGreaterThanOrEqual(1000);
    const sent = pbi.posts.flatMap((x) => x.rows);
    expect(Object.keys(sent[0]).sort()).toEqual(
      ['age_years', 'batch_id', 'diastolic_bp', 'dob_year', 'event_date', 'event_year', 'heart_rate', 'outlier_flags', 'patient_key', 'systolic_bp', 'zip3'].sort(),
    );
    const wire = JSON.stringify(sent);
    expect(wire).not.toMatch(/pt-\d|Given\d|Family\d|T\d\d:\d\d/);
    const after = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    expect(after.prepare('SELECT COUNT(*) FROM outbox').pluck().get()).toBe(0);
    expect(after.prepare('SELECT SUM(rows) FROM outbox_delivered').pluck().get()).toBe(2600);
    after.close();
  });

  it('survives a sender killed with SIGKILL: restarted, it delivers every row', async () => {
    const pbi = await fakePowerBi({ perWindow: 4, windowMs: 1000 });
    open.push(pbi.server);
    const p = projectWith(pbi.url, 100);
    writeFileSync(p.file('events_b.csv'), eventsCsv(plausibleRows(1500, { seed: 4, patients: 30 })));
    expect(p.run(['process', 'events_b.csv']).status).toBe(0);
    let kills = 0;
    for (const delay of [700, 1300, 900]) {
      const child = spawnCli(p.dir, ['push']);
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      kills++;
    }
    const r = await runCliAsync(p.dir, ['push']);
    expect(r.status).toBe(0);
    const perBatchRows = pbi.posts.reduce((a, x) => a + x.rows.length, 0);
    // Every row arrived. A chunk Power BI accepted in the instant before a kill may arrive twice
    // (the push API has no idempotency key): at most one chunk per kill.
    expect(perBatchRows).toBeGreaterThanOrEqual(1500);
    expect(perBatchRows - 1500).toBeLessThanOrEqual(kills * 100);
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) FROM outbox').pluck().get()).toBe(0);
    db.close();
  });

  it('the daemon sends each committed batch while it watches', async () => {
    const pbi = await fakePowerBi({ perWindow: 10, windowMs: 1000 });
    open.push(pbi.server);
    const p = projectWith(pbi.url, 1000);
    mkdirSync(p.file('incoming'), { recursive: true });
    writeFileSync(p.file('incoming/events_1.csv'), eventsCsv(plausibleRows(1200, { seed: 5, patients: 20 })));
    writeFileSync(p.file('incoming/events_2.csv'), eventsCsv(plausibleRows(300, { seed: 6, patients: 20, prefix: 'q' })));
    const r = await runCliAsync(p.dir, ['watch', '--drain', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(pbi.posts.map((x) => x.rows.length).sort((a, b) => a - b)).toEqual([200, 300, 1000]);
    expect(new Set(pbi.posts.flatMap((x) => x.rows.map((row) => row.batch_id))).size).toBe(2);
  });

  it('refuses to load with the sink enabled but no push URL', () => {
    const p = makeProject('sinks:\n  powerbi:\n    enabled: true\n');
    writeFileSync(p.file('events_c.csv'), eventsCsv(plausibleRows(5)));
    const r = p.run(['process', 'events_c.csv']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/POWERBI_PUSH_URL is not set/);
  });
});
