// Test helpers for the watch daemon: a temp project (config.yaml + .env), events CSV generation, the built CLI as a
// child process, and readers for both sinks.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { stringify as toYaml } from 'yaml';
import { loadConfig, type Config } from '../../src/config/load.js';
import { duckQuery, globOf } from './duck.js';
import { CLI, cleanEnv, EVENTS_HEADER } from './project.js';
import { testDir } from './test-dir.js';

export { CLI, REPO } from './project.js';

/** Vitals unique per global row index k (k < 108,000), all plausible, pulse pressure 11..99: no flags, no clips. */
export function vitalsOf(k: number): [number, number, number] {
  return [100 + (k % 60), 60 + (Math.floor(k / 60) % 30), 55 + (Math.floor(k / 1800) % 60)];
}

/**
 * Vitals unique per k up to 2,048,000 rows, inside the clip ranges (never altered). Some rows break the pulse
 * pressure rules and get flagged: use with thresholds.max_flagged_rate: 1.
 */
export function wideVitalsOf(k: number): [number, number, number] {
  return [80 + (k % 160), 40 + (Math.floor(k / 160) % 80), 40 + (Math.floor(k / 12_800) % 160)];
}

/** The key that identifies row k in both sinks. */
export function vitalsKey(sys: number, dia: number, hr: number): string {
  return `${sys}/${dia}/${hr}`;
}

const FIRST = ['Ann', 'Bob', 'Cleo', 'Dev', 'Eva', 'Finn', 'Gus', 'Hana'];
const LAST = ['Lee', 'Ortiz', 'Nguyen', 'Smith', 'Khan', 'Rossi'];
const ZIPS = ['02139', '01002', '02114', '01830', '02446', '01545'];

/** Patient values of patient p (10 patients per file cycle). Canary-friendly: names are distinct words. */
export function patientOf(p: number): { id: string; first: string; last: string; dob: string; zip: string } {
  const y = 1940 + ((p * 7) % 60);
  const m = 1 + ((p * 5) % 12);
  const d = 1 + ((p * 3) % 28);
  return {
    id: `pt-${String(p).padStart(5, '0')}`,
    first: FIRST[p % FIRST.length],
    last: LAST[p % LAST.length],
    dob: `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`,
    zip: ZIPS[p % ZIPS.length],
  };
}

/** Rows with global indices [start, start + rows): unique event_ts (one minute apart) and unique vitals. */
export function eventsCsv(start: number, rows: number, vitals: (k: number) => [number, number, number] = vitalsOf): string {
  const out = [EVENTS_HEADER];
  const t0 = Date.UTC(2024, 0, 1);
  for (let k = start; k < start + rows; k++) {
    const p = patientOf(k % 37);
    const ts = new Date(t0 + k * 60_000).toISOString().replace('.000Z', 'Z');
    const [s, d, h] = vitals(k);
    out.push(`${p.id},${p.first},${p.last},${p.dob},${p.zip},${ts},${s},${d},${h}`);
  }
  return `${out.join('\n')}\n`;
}

/** A file the pipeline must quarantine: the header lacks required columns. */
export function badCsv(): string {
  return 'patient,when,bp\npt-1,yesterday,120/80\n';
}

export interface Project {
  root: string;
  incoming: string;
  quarantine: string;
  archive: string;
  sqlite: string;
  parts: string;
  logs: string;
  config(): Config;
  /** Write a file into incoming/ the way well-behaved producers do: a temp name, then rename. */
  drop(name: string, content: string): string;
  cleanup(): void;
}

export function makeProject(overrides: { watch?: Record<string, unknown>; alerts?: Record<string, unknown>; [k: string]: unknown } = {}, env: Record<string, string> = {}): Project {
  const root = testDir('watch');
  const { watch, alerts, deid, ...rest } = overrides;
  const cfg = {
    // Loaded files are archived at once (test/watch/appends.test.ts covers watch.archive_after_ms).
    watch: { stable_ms: 150, rescan_ms: 500, archive_after_ms: 0, ...watch },
    alerts: { enabled: false, ...alerts },
    log: { level: 'info' },
    // These tests name files after what they test (events_slow.csv): let such names through the name policy
    // (privacy tests cover the default, which shows only events_<digits>.csv).
    deid: { safe_file_names: '^events_[A-Za-z0-9_-]+\\.csv$', ...(deid as Record<string, unknown> | undefined) },
    // The synthetic vitals here name the rows (vitalsKey) and are no patient's real series: they stay as written
    // (no swap repair) and are not judged against a patient's history (QC has its own tests).
    clean: { swap_repair: false },
    history: { enabled: false },
    ...rest,
  };
  writeFileSync(path.join(root, 'config.yaml'), toYaml(cfg));
  const envLines = [`MEDETL_HMAC_KEY=${randomBytes(32).toString('hex')}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  writeFileSync(path.join(root, '.env'), `${envLines.join('\n')}\n`, { mode: 0o600 });
  const p: Project = {
    root,
    incoming: path.join(root, 'incoming'),
    quarantine: path.join(root, 'quarantine'),
    archive: path.join(root, 'incoming', 'processed'),
    sqlite: path.join(root, 'masked_out', 'cleaned.sqlite'),
    parts: path.join(root, 'masked_out', 'parts'),
    logs: path.join(root, 'logs'),
    config: () => loadConfig(path.join(root, 'config.yaml'), {}),
    drop(name, content) {
      const dest = path.join(p.incoming, name);
      const tmp = path.join(p.incoming, `.${name}.${process.pid}.tmp`);
      writeFileSync(tmp, content);
      renameSync(tmp, dest);
      return dest;
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  mkdirSync(p.incoming, { recursive: true });
  return p;
}

export interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout/stderr line matching `re` (already printed ones count). */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
}

/** `node dist/cli.js <args>` in the project folder. */
export function runCli(project: Project, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: project.root,
    env: { ...cleanEnv(), ...env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  let err = '';
  let outBuf = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const check = (line: string) => {
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    outBuf += d;
    let i: number;
    while ((i = outBuf.indexOf('\n')) >= 0) {
      const line = outBuf.slice(0, i);
      outBuf = outBuf.slice(i + 1);
      stdout.push(line);
      check(line);
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const line of d.split('\n')) if (line) check(line);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    stdout,
    stderr: () => err,
    exit,
    waitForLine(re, timeoutMs = 20_000) {
      const seen = [...stdout, ...err.split('\n')].find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stdout:\n${stdout.join('\n')}\nstderr:\n${err}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
  };
}

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 20_000, what = 'condition', everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Events files still in incoming/ (not subfolders, not temp names). */
export function incomingFiles(p: Project): string[] {
  return listDir(p.incoming).filter((n) => /^events_.*\.csv$/.test(n));
}

/** Rows in cleaned_events (0 before the database exists). */
export function sqliteCount(p: Project): number {
  if (!existsSync(p.sqlite)) return 0;
  const db = new Database(p.sqlite, { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM cleaned_events').pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Whether process `pid` has `file` open (Linux: /proc/<pid>/fd); null where that cannot be seen. */
export function hasOpen(pid: number, file: string): boolean | null {
  if (process.platform !== 'linux') return null;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Resident memory of a process in MB (Linux), or null. */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Vitals keys of every row in cleaned_events. */
export function sqliteKeys(p: Project): string[] {
  if (!existsSync(p.sqlite)) return [];
  const db = new Database(p.sqlite, { readonly: true });
  try {
    const rows = db.prepare('SELECT systolic_bp AS s, diastolic_bp AS d, heart_rate AS h FROM cleaned_events').all() as { s: number; d: number; h: number }[];
    return rows.map((r) => vitalsKey(r.s, r.d, r.h));
  } finally {
    db.close();
  }
}

/** Vitals keys of every row in masked_out/parts/*.parquet, read with DuckDB. */
export async function parquetKeys(p: Project): Promise<string[]> {
  if (!listDir(p.parts).some((n) => n.endsWith('.parquet'))) return [];
  const rows = await duckQuery(`SELECT systolic_bp AS s, diastolic_bp AS d, heart_rate AS h FROM read_parquet('${globOf(p.parts)}')`);
  return rows.map((r) => vitalsKey(Number(r.s), Number(r.d), Number(r.h)));
}

/** Expected keys for global rows [start, start + rows). */
export function expectedKeys(start: number, rows: number, vitals: (k: number) => [number, number, number] = vitalsOf): string[] {
  const out: string[] = [];
  for (let k = start; k < start + rows; k++) out.push(vitalsKey(...vitals(k)));
  return out;
}

/** Occurrences per key. */
export function tally(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
