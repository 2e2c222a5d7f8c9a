// A throw-away medetl project folder (config.yaml + .env) and a way to run the built CLI in it.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testDir } from './test-dir.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(REPO, 'dist', 'cli.js');
/** ../shared/fixtures/synthea (may be missing on a plain clone: use describeWithShared/itWithShared from shared.ts). */
export const FIXTURES = path.resolve(REPO, '..', 'shared', 'fixtures', 'synthea');
export const TEST_KEY = '5f'.repeat(32);

export const EVENTS_HEADER = 'patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate';

export interface Project {
  dir: string;
  run(args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): SpawnSyncReturns<string>;
  file(rel: string): string;
}

export function makeProject(configYaml = '', opts: { key?: string | null } = {}): Project {
  const dir = testDir('test');
  writeFileSync(path.join(dir, 'config.yaml'), configYaml);
  const key = opts.key === undefined ? TEST_KEY : opts.key;
  if (key !== null) writeFileSync(path.join(dir, '.env'), `MEDETL_HMAC_KEY=${key}\n`, { mode: 0o600 });
  return {
    dir,
    file: (rel) => path.join(dir, rel),
    run(args, o = {}) {
      return spawnSync(process.execPath, [CLI, ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...cleanEnv(), ...o.env },
        input: o.input,
        timeout: 120_000,
      });
    },
  };
}

/** The environment without a MEDETL_HMAC_KEY of the developer's own. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.MEDETL_HMAC_KEY;
  return env;
}

/** Run the CLI without blocking this process (needed when the test itself serves HTTP). */
export function runCliAsync(dir: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(dir, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

export function spawnCli(dir: string, args: string[]) {
  return spawn(process.execPath, [CLI, ...args], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Every file below a folder, recursively. */
export function walk(dir: string): string[] {
  let out: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else out.push(p);
  }
  return out;
}

const isAlnum = (b: number | undefined) => b !== undefined && ((b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122));

/** Whether `needle` occurs in `bytes` as a token: not inside a longer run of letters and digits. */
function containsToken(bytes: Buffer, needle: Buffer): boolean {
  for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) {
    if (!isAlnum(bytes[at - 1]) && !isAlnum(bytes[at + needle.length])) return true;
  }
  return false;
}

/**
 * Which needles occur in the bytes of the files below `dirs` (UTF-8 or UTF-16), as tokens: a
 * 5-digit ZIP inside a random hex id or an epoch timestamp is chance, not a leak.
 */
export function scanFor(dirs: string[], needles: string[]): { file: string; needle: string }[] {
  const hits: { file: string; needle: string }[] = [];
  for (const d of dirs)
    for (const f of walk(d)) {
      const bytes = readFileSync(f);
      for (const n of needles) {
        if (containsToken(bytes, Buffer.from(n, 'utf8')) || containsToken(bytes, Buffer.from(n, 'utf16le'))) hits.push({ file: f, needle: n });
      }
    }
  return hits;
}

export interface EventRow {
  patient_id: string;
  first_name?: string;
  last_name?: string;
  dob: string;
  zip: string;
  event_ts: string;
  systolic_bp: string | number;
  diastolic_bp: string | number;
  heart_rate: string | number;
}

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function eventsCsv(rows: EventRow[], header = EVENTS_HEADER): string {
  const cols = EVENTS_HEADER.split(',') as (keyof EventRow)[];
  return [header, ...rows.map((r) => cols.map((c) => csvField(r[c])).join(','))].join('\n') + '\n';
}

/** n plausible rows for a few patients, each with a distinct timestamp. */
export function plausibleRows(n: number, opts: { seed?: number; patients?: number; startMs?: number; prefix?: string } = {}): EventRow[] {
  let s = (opts.seed ?? 7) >>> 0;
  const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  const patients = opts.patients ?? 10;
  const start = opts.startMs ?? Date.UTC(2023, 0, 1);
  const rows: EventRow[] = [];
  for (let i = 0; i < n; i++) {
    const p = i % patients;
    rows.push({
      patient_id: `${opts.prefix ?? 'pt'}-${p}`,
      first_name: `Given${p}`,
      last_name: `Family${p}`,
      dob: `19${50 + (p % 40)}-0${1 + (p % 9)}-1${p % 9}`,
      zip: `0${2100 + p}`,
      event_ts: new Date(start + i * 61_000).toISOString().replace('.000', ''),
      systolic_bp: (110 + rnd() * 25).toFixed(1),
      diastolic_bp: (70 + rnd() * 12).toFixed(1),
      heart_rate: (60 + rnd() * 25).toFixed(1),
    });
  }
  return rows;
}
