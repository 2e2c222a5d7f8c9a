// The dashboard's HTTP hygiene, with raw requests on a socket (no client normalises the request line): GET and HEAD
// only, an allow-list of paths (every traversal attempt is a 404), the security headers everywhere, a Host check,
// and nothing but masked aggregates in any response. Real CLI loads, real SQLite file, real server.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/serve/dashboard.js';
import { lockFileDaemonState } from '../../src/serve/daemon-state.js';
import { SqliteStore } from '../../src/stores/sqlite/store.js';
import type { LedgerReader } from '../../src/stores/ledger.js';
import { badCsv, CLI, eventsCsv, makeProject, runCli, type Project } from '../helpers/watch-project.js';
import { openSse, rawGet, rawRequest } from './helpers.js';

const CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

let p: Project;
let ledger: LedgerReader;
let dash: Dashboard;
let port: number;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  p = makeProject();
  // a safe name, a name that could name a patient, and a bad file with such a name (quarantined)
  writeFileSync(path.join(p.root, 'events_20240101_001.csv'), eventsCsv(0, 200));
  writeFileSync(path.join(p.root, 'jane-doe-visit.csv'), eventsCsv(200, 150));
  writeFileSync(path.join(p.root, 'events_smith_john.csv'), badCsv());
  const c = runCli(p, ['process', 'events_20240101_001.csv', 'jane-doe-visit.csv', 'events_smith_john.csv']);
  expect((await c.exit).code, c.stderr()).toBe(3);
  ledger = SqliteStore.openReader({ release: p.sqlite, private: path.join(p.root, '.medetl', 'private.sqlite') });
  dash = await startDashboard({ ledger, daemonState: lockFileDaemonState(path.join(p.incoming, '.medetl.lock')), port: 0, pollMs: 100 });
  port = Number(new URL(dash.url).port);
});

afterAll(async () => {
  await dash?.close();
  await ledger?.close();
  p?.cleanup();
});

describe('dashboard HTTP', () => {
  it('binds 127.0.0.1 and serves the page, its assets and its data', async () => {
    expect(dash.url).toBe(`http://127.0.0.1:${port}/`);
    for (const [target, type] of [
      ['/', 'text/html'], ['/index.html', 'text/html'], ['/assets/dashboard.js', 'text/javascript'], ['/assets/dashboard.css', 'text/css'],
      ['/assets/uPlot.iife.min.js', 'text/javascript'], ['/assets/uPlot.min.css', 'text/css'], ['/assets/favicon.svg', 'image/svg+xml'],
      ['/api/snapshot', 'application/json'], ['/api/series?after=0', 'application/json'],
    ]) {
      const r = await rawGet(port, target);
      expect(r.status, target).toBe(200);
      expect(r.headers['content-type'], target).toContain(type);
      expect(r.body.length, target).toBeGreaterThan(10);
    }
    expect((await rawGet(port, '/assets/uPlot.iife.min.js')).body).toContain('uPlot');
  });

  it('path traversal and anything off the allow-list: 404, never a file', async () => {
    const attempts = [
      '/../package.json', '/assets/../package.json', '/assets/../../package.json', '/%2e%2e/package.json', '/%2E%2E/%2E%2E/etc/passwd',
      '/assets/%2e%2e/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/assets/..%5c..%5cpackage.json', '/assets/%5c..%5c.env',
      '/..%5c..%5c.env', '/assets\\..\\..\\.env', '//etc/passwd', '/etc/passwd', '/.env', '/config.yaml', '/package.json',
      '/masked_out/cleaned.sqlite', '/assets/', '/assets', '/assets/dashboard.js/..', '/assets/./dashboard.js', '/assets//dashboard.js',
      '/assets/dashboard.js%00.png', '/%00', '/assets/%2e%2e%2fpackage.json', '/.%2e/.%2e/package.json', '/api/../package.json',
      '/api/snapshot/../../package.json', '/node_modules/uplot/dist/uPlot.iife.min.js', '/src/serve/dashboard.ts', '/dist/cli.js',
      'http://127.0.0.1/../../etc/passwd', `http://127.0.0.1:${port}/package.json`, '*', '../package.json', 'C:\\Windows\\win.ini',
      '/C:/Windows/win.ini', '/%c0%ae%c0%ae/package.json', '/%252e%252e/package.json',
    ];
    for (const target of attempts) {
      const r = await rawGet(port, target);
      if (r.status === 400) continue; // Node's parser refused the request line itself: no file either
      expect(r.status, target).toBe(404);
      expect(r.body, target).toBe('not found\n');
    }
  });

  it('GET and HEAD only: 405 with Allow', async () => {
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']) {
      const r = await rawRequest(port, `${m} /api/snapshot HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      expect(r.status, m).toBe(405);
      expect(r.headers.allow, m).toBe('GET, HEAD');
    }
    const head = await rawGet(port, '/', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(1000);
  });

  it('security headers on every response, data never cached', async () => {
    const responses = [
      await rawGet(port, '/'), await rawGet(port, '/api/snapshot'), await rawGet(port, '/api/series?after=0'),
      await rawGet(port, '/assets/dashboard.js'), await rawGet(port, '/nope'), await rawGet(port, '/', {}, 'DELETE'),
      await rawGet(port, '/', { Host: 'evil.example' }),
    ];
    for (const r of responses) {
      expect(r.headers['content-security-policy']?.startsWith(CSP), String(r.status)).toBe(true);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.headers['cache-control']).toBe('no-store');
    }
    // no inline script: the page's scripts are files from this origin
    const html = (await rawGet(port, '/')).body;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\son[a-z]+=/);
    expect(html).not.toMatch(/style=/);
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('answers only its own loopback Host names (DNS rebinding)', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1.nip.io', '']) {
      expect((await rawGet(port, '/api/snapshot', { Host: host })).status, host).toBe(421);
    }
    expect((await rawGet(port, '/api/snapshot', { Host: `localhost:${port}` })).status).toBe(200);
    expect((await rawGet(port, '/api/series?after=x')).status).toBe(400);
  });

  it('only masked aggregates: no patient_key, no raw hash, no unsafe file name in any response', async () => {
    const db = new Database(p.sqlite, { readonly: true });
    const keys = db.prepare('SELECT DISTINCT patient_key FROM cleaned_events').pluck().all() as string[];
    const hashes = db.prepare('SELECT content_key FROM batches UNION SELECT head_key FROM batches').pluck().all() as string[];
    db.close();
    const priv = new Database(path.join(p.root, '.medetl', 'private.sqlite'), { readonly: true });
    hashes.push(...(priv.prepare('SELECT content_key FROM quarantined WHERE content_key IS NOT NULL').pluck().all() as string[]));
    priv.close();
    expect(keys.length).toBe(37);
    const sse = await openSse(port, '/api/events', { 'Last-Event-ID': '0' });
    await sse.waitFor((evs) => evs.filter((e) => e.event === 'batch').length === 2);
    sse.drop();
    const bodies = [
      (await rawGet(port, '/')).body, (await rawGet(port, '/api/snapshot')).body, (await rawGet(port, '/api/series?after=0')).body,
      sse.events.map((e) => e.data).join('\n'),
    ];
    const all = bodies.join('\n');
    for (const k of keys) expect(all).not.toContain(k);
    for (const h of hashes) expect(all).not.toContain(h);
    for (const word of ['jane', 'doe', 'smith', 'john', 'pt-0', '02139', p.root]) expect(all.toLowerCase()).not.toContain(word.toLowerCase());
    const snap = JSON.parse(bodies[1]);
    expect(snap.recentBatches.map((b: { file: string }) => b.file)).toEqual(['(name withheld)', 'events_20240101_001.csv']);
    expect(snap.quarantinedFiles).toEqual([{ atMs: expect.any(Number), file: '(name withheld)', reasonCode: 'missing_columns' }]);
    expect(snap.tiles).toMatchObject({ rows_loaded: 350, patients: 37, batches: 2, quarantined: 1 });
  });
});
