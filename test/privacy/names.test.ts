// File names: shown only when they match the safe pattern, else as a keyed id; escaped everywhere they are printed;
// never in masked_out/. Replay moves regular files directly inside quarantine/, never folders.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveName } from '../../src/commands/replay.js';
import { loadConfig } from '../../src/config/load.js';
import { parseKey } from '../../src/config/key.js';
import { formatAlert } from '../../src/ops/alerts.js';
import { createLogger } from '../../src/ops/log.js';
import { keyedName, safeName, safePath, setNamePolicy } from '../../src/ops/safe-name.js';
import { applyNamePolicy, namePolicyOf } from '../../src/privacy/names.js';
import { eventsCsv, makeProject, plausibleRows, runCliAsync, scanFor, TEST_KEY, walk } from '../helpers/project.js';

const MRN_FILE = 'events_MRN123456_Smith_2024-01-01.csv';
const cfg = (safe = '^events_[0-9_-]+\\.csv$') => ({ deid: { profile: 'safe_harbor', key_mode: 'hmac', zip3_table: 'census2020', safe_file_names: safe } }) as const;

describe('the name policy', () => {
  it('a safe name is shown as it is; any other as a keyed id, stable under one key, different under another', () => {
    const p = namePolicyOf(cfg(), parseKey(TEST_KEY));
    expect(safeName('events_20240101_0001.csv', p)).toBe('events_20240101_0001.csv');
    const id = safeName(MRN_FILE, p);
    expect(id).toMatch(/^file-[0-9a-f]{12}$/);
    expect(safeName(`/some/dir/${MRN_FILE}`, p)).toBe(id);
    expect(safeName(id, p)).toBe(id); // an id is shown as itself
    expect(safeName(MRN_FILE, namePolicyOf(cfg(), parseKey('cd'.repeat(32))))).not.toBe(id);
    expect(keyedName(MRN_FILE, p.key)).toBe(id);
    expect(safePath(`/q/${MRN_FILE}`, p)).toBe(`/q/${id}`);
  });

  it('control characters are escaped even in a name the pattern lets through', () => {
    const p = namePolicyOf(cfg('.*'), parseKey(TEST_KEY));
    expect(safeName('events_1\n\x1b[31mloaded.csv', p)).toBe('events_1\\x0a\\x1b[31mloaded.csv');
    expect(safeName('a\u202eb.csv', p)).toBe('a\\u{202e}b.csv');
  });

  it('log lines and alerts carry the keyed id, never the name', () => {
    applyNamePolicy(cfg(), parseKey(TEST_KEY));
    const dir = makeProject().file('logs');
    const log = createLogger(dir, 'info');
    log.warn({ event: 'x', file: MRN_FILE, inFlight: MRN_FILE });
    log.flush();
    const text = readFileSync(path.join(dir, 'pipeline.log'), 'utf8');
    expect(text).not.toContain('MRN123456');
    expect(text).toContain(safeName(MRN_FILE));
    const a = formatAlert({ kind: 'quarantine', file: MRN_FILE, code: 'missing_columns' }, 'host');
    expect(`${a.subject}\n${a.text}`).not.toMatch(/MRN123456|Smith/);
    expect(a.text).toContain(safeName(MRN_FILE));
  });
});

describe('a file named with an MRN, end to end', () => {
  it('never appears on the console, in logs, in alerts, in status or under masked_out/', async () => {
    const bodies: string[] = [];
    const server = http.createServer((req, res) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => {
        bodies.push(b);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const p = makeProject('alerts:\n  min_interval_ms: 0\n');
      writeFileSync(p.file('.env'), `MEDETL_HMAC_KEY=${TEST_KEY}\nSLACK_WEBHOOK_URL=http://127.0.0.1:${(server.address() as AddressInfo).port}/hook\n`, { mode: 0o600 });
      writeFileSync(p.file(MRN_FILE), eventsCsv(plausibleRows(30)));
      const bad = 'events_MRN654321_Jones_2024-01-02.csv';
      writeFileSync(p.file(bad), 'patient_id,zip\nx,1\n');
      const r = await runCliAsync(p.dir, ['process', MRN_FILE, bad]);
      expect(r.status).toBe(3);
      const status = await runCliAsync(p.dir, ['status']);
      const console = `${r.stdout}${r.stderr}${status.stdout}${status.stderr}`;
      const policy = namePolicyOf(cfg(), parseKey(TEST_KEY));
      expect(console).toContain(`loaded ${safeName(MRN_FILE, policy)}: in 30`);
      expect(console).toContain(`QUARANTINED ${safeName(bad, policy)}`);
      for (let i = 0; i < 50 && bodies.length === 0; i++) await new Promise((res) => setTimeout(res, 100));
      expect(bodies.length).toBeGreaterThan(0);
      const secrets = ['MRN123456', 'Smith', 'MRN654321', 'Jones'];
      for (const s of secrets) {
        expect(console).not.toContain(s);
        expect(bodies.join('\n')).not.toContain(s);
      }
      expect(bodies.join('\n')).toContain(safeName(bad, policy));
      expect(scanFor([p.file('masked_out'), p.file('logs')], secrets)).toEqual([]);
      expect(walk(p.file('masked_out')).length).toBeGreaterThan(3);
      // The quarantine folder holds raw data and may keep the name in its reason file.
      expect(readdirSync(p.file('quarantine'))).toContain(bad);
    } finally {
      server.close();
    }
  });

  it('a name with a newline and ANSI escapes is printed escaped when the pattern lets it through', async () => {
    const p = makeProject("deid:\n  safe_file_names: '.*'\n");
    const name = 'events_1\n\x1b[32mloaded fake.csv';
    writeFileSync(p.file(name), eventsCsv(plausibleRows(5)));
    const r = await runCliAsync(p.dir, ['process', name]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('loaded events_1\\x0a\\x1b[32mloaded fake.csv: in 5');
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect(readFileSync(p.file('logs/pipeline.log'), 'utf8')).not.toContain('\\u001b');
  });
});

describe('replay accepts only regular files directly inside quarantine/', () => {
  it('refuses ".", "..", a folder, a link, a nested path; moves nothing', async () => {
    const p = makeProject();
    const config = loadConfig(p.file('config.yaml'), { MEDETL_HMAC_KEY: TEST_KEY });
    setNamePolicy(namePolicyOf(config, parseKey(TEST_KEY)));
    mkdirSync(p.file('quarantine/replayed'), { recursive: true });
    writeFileSync(p.file('quarantine/events_1.csv'), 'x\n');
    writeFileSync(p.file('quarantine/replayed/events_1.csv.reason.json'), '{}');
    symlinkSync(p.file('quarantine/events_1.csv'), p.file('quarantine/events_link.csv'));
    const tries = ['.', '..', 'replayed', 'events_link.csv', 'replayed/events_1.csv.reason.json', p.file('quarantine'), p.file('quarantine/replayed'), p.dir];
    for (const t of tries) expect(() => resolveName(config, t), t).toThrow(/directly inside|not a regular file|describes a file|is not in/);
    expect(resolveName(config, 'events_1.csv')).toBe('events_1.csv');
    expect(resolveName(config, p.file('quarantine/events_1.csv'))).toBe('events_1.csv');
    // Through the CLI: exit 2 and the folders stay where they are.
    for (const t of ['.', 'replayed']) {
      const r = await runCliAsync(p.file('quarantine'), ['replay', t, '-c', p.file('config.yaml')]);
      expect(r.status, r.stderr).toBe(2);
    }
    expect(readdirSync(p.file('quarantine')).sort()).toEqual(['events_1.csv', 'events_link.csv', 'replayed']);
    expect(existsSync(p.file('incoming')) ? readdirSync(p.file('incoming')) : []).toEqual([]);
  });
});
