// The dashboard end to end in headless Chromium (Debian's chromium through playwright-core): files loaded by the
// real CLI (`process`, then `watch` as a child process), the page showing the SQLite file's counts, a new file
// showing up within 2 s of its commit without a reload, small cells shown as suppressed, every request on
// 127.0.0.1, no page or console errors, and a stopped (SIGKILLed) daemon shown as stopped.
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/serve/dashboard.js';
import { lockFileDaemonState } from '../../src/serve/daemon-state.js';
import { SqliteStore } from '../../src/stores/sqlite/store.js';
import type { LedgerReader } from '../../src/stores/ledger.js';
import { eventsCsv as smallCsv, plausibleRows } from '../helpers/project.js';
import { badCsv, CLI, makeProject, runCli, waitFor, type Child, type Project } from '../helpers/watch-project.js';
import { CHROMIUM, launchChromium, vitalsCsv } from './helpers.js';

let p: Project;
let staging: string;
let watch: Child | null = null;
let ledger: LedgerReader;
let dash: Dashboard;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const problems: string[] = [];

interface Counts { rows: number; patients: number; batches: number; quarantined: number }

function counts(): Counts {
  const db = new Database(p.sqlite, { readonly: true });
  const privFile = path.join(p.root, '.medetl', 'private.sqlite');
  const priv = existsSync(privFile) ? new Database(privFile, { readonly: true }) : null;
  try {
    const one = (sql: string) => db.prepare(sql).pluck().get() as number;
    return {
      rows: one('SELECT COUNT(*) FROM cleaned_events'), patients: one('SELECT COUNT(DISTINCT patient_key) FROM cleaned_events'),
      batches: one('SELECT COUNT(*) FROM batches'),
      // quarantine records are private bookkeeping, outside masked_out/
      quarantined: priv ? (priv.prepare('SELECT COUNT(*) FROM quarantined').pluck().get() as number) : 0,
    };
  } finally {
    db.close();
    priv?.close();
  }
}

/** Wait until a tile's data-value is `value` (polling every 10 ms in the page). */
function waitTile(kpi: string, value: number, timeout = 10_000) {
  // a function, not a string: the page's CSP forbids eval, and playwright would eval a string predicate
  return page.waitForFunction(
    ([k, v]) => (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(a: string): string | null } | null } }).document
      .querySelector(`[data-kpi="${k}"]`)?.getAttribute('data-value') === v,
    [kpi, String(value)] as const,
    { polling: 10, timeout },
  );
}

const tile = (kpi: string) => page.getAttribute(`[data-kpi="${kpi}"]`, 'data-value');

async function expectTiles(c: Counts): Promise<void> {
  expect(await tile('rows_loaded')).toBe(String(c.rows));
  expect(await tile('patients')).toBe(String(c.patients));
  expect(await tile('batches')).toBe(String(c.batches));
  expect(await tile('quarantined')).toBe(String(c.quarantined));
  expect(await page.textContent('[data-kpi="rows_loaded"] .value')).toBe(c.rows.toLocaleString('en-US'));
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  // Drift is judged from the 4th batch here (the default waits for 5 earlier ones): the 4th comes from a device reading high.
  p = makeProject({ watch: { stable_ms: 100, rescan_ms: 500 }, drift: { min_batches: 3 } });
  staging = path.join(p.root, 'staging');
  mkdirSync(staging);
  const years = [2019, 2020, 2021, 2022, 2023, 2024];
  // the fourth file, loaded live, comes from a device that reads 18 mmHg high: QC drift
  for (let b = 1; b <= 4; b++) {
    writeFileSync(path.join(staging, `events_2024060${b}_00${b}.csv`), vitalsCsv({ seed: b, patients: 140, years, month: b, systolicShift: b === 4 ? 18 : 0 }));
  }
  // five patients in 2017: every 2017 cell describes fewer than 11 patients
  writeFileSync(path.join(p.root, 'events_20170101_001.csv'), smallCsv(plausibleRows(40, { patients: 5, startMs: Date.UTC(2017, 2, 1), prefix: 'few' })));
  const files = readdirSync(staging).sort();
  const proc = runCli(p, ['process', path.join(staging, files[0]), 'events_20170101_001.csv', path.join(staging, files[1]), '--archive']);
  expect((await proc.exit).code, proc.stderr()).toBe(0);
  renameSync(path.join(staging, files[2]), path.join(p.incoming, files[2])); // waiting when the daemon starts
  watch = runCli(p, ['watch', '--json']);
  [browser] = await Promise.all([launchChromium(), waitFor(() => counts().batches === 4, 30_000, 'watch to load the waiting file')]);

  ledger = SqliteStore.openReader({ release: p.sqlite, private: path.join(p.root, '.medetl', 'private.sqlite') });
  dash = await startDashboard({ ledger, daemonState: lockFileDaemonState(path.join(p.incoming, '.medetl.lock')), port: 0 });
  page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  await ledger?.close();
  if (watch && watch.proc.exitCode === null && watch.proc.signalCode === null) {
    watch.proc.kill('SIGKILL');
    await watch.exit;
  }
  p?.cleanup();
});

describe('medetl dashboard in a browser', () => {
  it('shows the store, updates live within 2 s of a commit, stays on 127.0.0.1, shows a stopped daemon', async () => {
    await page.goto(dash.url);
    const before = counts();
    await waitTile('batches', before.batches);
    await expectTiles(before);
    await page.waitForSelector('#status[data-daemon="running"]');
    expect(await page.textContent('#daemon-text')).toMatch(/^Daemon running since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(await page.getAttribute('#live', 'data-live')).toBe('open');
    expect(await page.$$eval('#batches tbody tr', (trs) => trs.length)).toBe(4);
    expect(await page.$$eval('.uplot', (els) => els.length)).toBe(4); // vitals, BP, rows per batch, QC
    // the headline ratios are numbers (enough patients in the newest year)
    expect(Number(await tile('hypertension_prevalence'))).toBeGreaterThan(0);
    expect(Number(await tile('tachycardia_share'))).toBeGreaterThanOrEqual(0);

    // small cells: 2017 has five patients, so every 2017 cell reads "suppressed (<11)" and no number
    await page.selectOption('#year', '2017');
    const hr2017 = await page.$$eval('#hr-band tbody td', (tds) => tds.map((t) => t.textContent ?? ''));
    expect(hr2017.length).toBeGreaterThan(0);
    expect(hr2017.filter((t) => !/^\d+-\d+$|^90\+$/.test(t)).every((t) => t === 'suppressed (<11)')).toBe(true);
    const bp2017 = await page.$$eval('#bp-band td[data-cell^="2017|"]', (tds) => tds.map((t) => t.textContent ?? ''));
    expect(bp2017.length).toBeGreaterThan(0);
    expect(bp2017.every((t) => t === 'suppressed (<11)' || t === '\u2013')).toBe(true);
    expect(bp2017).toContain('suppressed (<11)');
    expect(await page.textContent('#foot-vitals')).toContain('2017');

    // live: a new file lands while the daemon runs; the page shows it without a reload
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    const files = readdirSync(staging).sort();
    renameSync(path.join(staging, files[0]), path.join(p.incoming, files[0]));
    const committedAt = await waitFor(() => (counts().batches === before.batches + 1 ? Date.now() : 0), 20_000, 'the commit', 5);
    const after = counts();
    await waitTile('rows_loaded', after.rows, 5000);
    const latencyMs = Date.now() - committedAt;
    console.log(`dashboard update latency: ${latencyMs} ms from commit to tile`);
    expect(latencyMs).toBeLessThan(2000);
    await expectTiles(after);
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42); // not reloaded
    await page.waitForSelector(`#batches tr[data-seq="${after.batches}"]`);
    expect(await page.textContent(`#batches tr[data-seq="${after.batches}"] td.file`)).toBe(files[0]);
    await page.waitForFunction((seq) => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document
      .querySelector('#drift')?.textContent?.includes(`batch #${seq}: systolic_bp median`), after.batches);

    // a bad file: quarantined, its reason code listed, its name withheld (not a timestamp name)
    p.drop('events_visit_smith.csv', badCsv());
    await waitTile('quarantined', 1, 10_000);
    expect(await page.textContent('#quarantine tbody')).toContain('missing_columns');
    expect(await page.textContent('#quarantine tbody')).toContain('(name withheld)');
    expect(await page.textContent('body')).not.toContain('smith');
    expect(counts().quarantined).toBe(1);

    await page.selectOption('#year', { index: 0 });
    await page.waitForTimeout(300);
    const shot = path.join(p.root, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.MEDETL_SCREENSHOT_DIR) copyFileSync(shot, path.join(process.env.MEDETL_SCREENSHOT_DIR, 'dashboard.png'));

    // the daemon dies (SIGKILL leaves its lock behind): the page says stopped, not a frozen "running"
    watch!.proc.kill('SIGKILL');
    await watch!.exit;
    expect(existsSync(path.join(p.incoming, '.medetl.lock'))).toBe(true);
    await page.waitForSelector('#status[data-daemon="stopped"]', { timeout: 3000 });
    expect(await page.textContent('#daemon-text')).toBe('Daemon stopped');

    const port = new URL(dash.url).port;
    expect(requests.length).toBeGreaterThan(5);
    for (const u of requests) expect(new URL(u).host, u).toBe(`127.0.0.1:${port}`);
    expect(problems).toEqual([]);
  });
});
