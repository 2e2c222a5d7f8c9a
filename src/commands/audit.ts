// medetl audit: check the release as an adversary would read it (privacy/audit.ts), exit 6 on any finding.
//   1. structure: the store's tables and columns, the files under masked_out/, 90+ rows, ZIP3s, profile, dates,
//      attestations, small cells;
//   2. a canary run: identifiers of high entropy planted in a temporary project of the same settings, loaded by the
//      real pipeline, then every byte of its release and logs scanned for them (and its structure audited);
//   3. bytes: every file a reader can reach here scanned for the raw values of `--against` files and for the
//      names of loaded files that the name policy keeps out of logs.
// Findings name a kind, a place and a count; never the value found.
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { openReleaseInspector, releaseStepDdl } from '../compose.js';
import { loadConfig, type Config } from '../config/load.js';
import { KEY_VARIABLE, newKeyHex, parseKey, type HmacKey } from '../config/key.js';
import { holderAlive, type LockInfo } from '../core/lock.js';
import { clockFrom, NOW_VARIABLE } from '../core/time.js';
import { auditRelease, findingLine, scanRelease, unsafeNameNeedles, type AuditContext, type Finding } from '../privacy/audit.js';
import { applyNamePolicy } from '../privacy/names.js';
import { needlesOfEventsFile } from '../privacy/needles.js';
import { NeedleSet, type Needle } from '../privacy/scan.js';
import { runFiles } from '../run.js';
import { action, configFrom, UserError, withConfigOption } from './common.js';

/** Exit code of `medetl audit` when it found something. */
export const EXIT_AUDIT_FINDINGS = 6;

function writerLive(lockFile: string): boolean {
  if (!existsSync(lockFile)) return false;
  try {
    return holderAlive(JSON.parse(readFileSync(lockFile, 'utf8')) as LockInfo);
  } catch {
    return false;
  }
}

function contextOf(config: Config, key: HmacKey | null): AuditContext {
  return {
    config, key, inspector: openReleaseInspector(config), stepDdl: releaseStepDdl(config), nowMs: clockFrom(config.env)(),
    writerLive: writerLive(config.resolved.outputLock),
  };
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ALNUM = `${LETTERS}0123456789`;
const pick = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[randomInt(alphabet.length)]).join('');
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const name = () => `${pick(LETTERS, 1)}${pick(LETTERS.toLowerCase(), 9)}`;

interface Canary {
  csv: string;
  fileName: string;
  needles: Needle[];
}

/** Identifiers no real file holds: 12-character ids, 10-letter names, random dates, ZIPs and seconds. */
export function makeCanary(): Canary {
  const needles: Needle[] = [];
  const plant = (value: string, kind: string) => needles.push({ value, kind, source: 'canary' });
  const mrn = `MRN${pick('0123456789', 9)}`;
  const surname = name();
  const fileName = `events_${mrn}_${surname}_2024-0${randomInt(1, 10)}-1${randomInt(0, 10)}.csv`;
  plant(fileName, 'file_name');
  plant(mrn, 'file_name');
  plant(surname, 'file_name');
  const lines = ['patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate'];
  for (let p = 0; p < 8; p++) {
    const id = `Q${pick(ALNUM, 11)}`;
    const first = name();
    const last = name();
    // One patient aged 90+ (withheld years), the others of any adult age.
    const y = p === 0 ? randomInt(1920, 1930) : randomInt(1940, 2000);
    const m = randomInt(1, 13);
    const d = randomInt(1, 29);
    const dob = p % 3 === 2 ? `${pad(m)}/${pad(d)}/${y}` : `${y}-${pad(m)}-${pad(d)}`;
    const zip = p === 1 ? `0${pick('0123456789', 4)}-${pick('0123456789', 4)}` : `0${pick('0123456789', 4)}`;
    plant(id, 'patient_id');
    plant(first, 'first_name');
    plant(last, 'last_name');
    plant(`${y}-${pad(m)}-${pad(d)}`, 'dob');
    plant(`${pad(m)}/${pad(d)}/${y}`, 'dob');
    plant(zip, 'zip');
    plant(zip.slice(0, 5), 'zip');
    for (let e = 0; e < 5; e++) {
      const ey = randomInt(2021, 2026);
      const em = randomInt(1, 13);
      const ed = randomInt(1, 29);
      const t = `${pad(randomInt(0, 24))}:${pad(randomInt(0, 60))}:${pad(randomInt(0, 60))}`;
      const ts = e === 4 ? `${pad(em)}/${pad(ed)}/${ey} ${t}` : `${ey}-${pad(em)}-${pad(ed)}T${t}${e % 2 ? 'Z' : '-05:00'}`;
      plant(ts, 'event_ts');
      lines.push([id, first, last, dob, zip, ts, 100 + randomInt(40), 60 + randomInt(25), 55 + randomInt(40)].join(','));
    }
  }
  return { csv: `${lines.join('\n')}\n`, fileName, needles };
}

/**
 * The canary run: a temporary project with this project's de-identification settings, the canary file loaded by
 * the real pipeline, then its release and logs audited and scanned. The project is removed afterwards.
 */
export async function canaryRun(config: Config): Promise<Finding[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medetl-audit-canary-'));
  const out: Finding[] = [];
  const tag = (fs: Finding[]) => fs.map((f) => ({ ...f, kind: 'canary' as const, detail: `${f.kind}: ${f.detail}`, where: `canary ${f.where}` }));
  try {
    const yaml = {
      input: { timezone: config.input.timezone },
      deid: { ...config.deid },
      thresholds: { action: 'flag' },
      sinks: { parquet: { compression: config.sinks.parquet.compression } },
      alerts: { enabled: false },
    };
    writeFileSync(path.join(dir, 'config.yaml'), stringify(yaml));
    const keyHex = newKeyHex();
    writeFileSync(path.join(dir, '.env'), `${KEY_VARIABLE}=${keyHex}\n`, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = { [KEY_VARIABLE]: keyHex, ...(config.env[NOW_VARIABLE] ? { [NOW_VARIABLE]: config.env[NOW_VARIABLE] } : {}) };
    const cc = loadConfig(path.join(dir, 'config.yaml'), env);
    const canary = makeCanary();
    const file = path.join(dir, canary.fileName);
    writeFileSync(file, canary.csv);
    const needles = new NeedleSet(canary.needles);
    // The scanner itself works: the raw file holds every planted value but the file name's.
    const control = needles.scan(Buffer.from(canary.csv), true).length;
    const inContent = new NeedleSet(canary.needles.filter((n) => n.kind !== 'file_name' && canary.csv.includes(n.value))).size;
    if (control !== inContent) out.push({ kind: 'canary', where: 'canary input', detail: `the scanner found ${control} of ${inContent} planted values in the raw file` });
    const summary = await runFiles(cc, [file], { onSuccess: 'keep' });
    if (summary.loaded !== 1) out.push({ kind: 'canary', where: 'canary run', detail: `the canary file was not loaded (${summary.quarantined} quarantined, ${summary.failed} failed)` });
    const ctx = contextOf(cc, parseKey(keyHex));
    try {
      out.push(...tag(await auditRelease(ctx)));
      out.push(...(await scanRelease(cc, needles, ctx.inspector)));
    } finally {
      ctx.inspector?.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export interface AuditOptions {
  against?: string[];
  canary?: boolean;
}

export async function runAudit(config: Config, opts: AuditOptions = {}): Promise<Finding[]> {
  let key: HmacKey | null = null;
  try {
    key = parseKey(config.env[KEY_VARIABLE]);
  } catch {
    key = null;
  }
  const findings: Finding[] = [];
  if (opts.canary !== false) findings.push(...(await canaryRun(config)));
  // The canary's writer set its own name policy: back to this project's.
  if (key) applyNamePolicy(config, key);
  const ctx = contextOf(config, key);
  if (config.store === 'postgres') {
    // This version inspects the SQLite store's tables only. The Parquet release, logs, attestations and the canary run
    // are audited; the database is not, and that is a finding rather than a silent pass.
    findings.push({ kind: 'not_inspected', where: `PostgreSQL schema ${config.postgres.schema}`, detail: 'the tables of the PostgreSQL store are not inspected by medetl audit (SQLite stores only); see docs/privacy.md for the SQL checks' });
  }
  try {
    findings.push(...(await auditRelease(ctx)));
    const set = new NeedleSet(unsafeNameNeedles(ctx));
    for (const f of opts.against ?? []) {
      await needlesOfEventsFile(f, { eventDatesPublished: config.deid.profile === 'limited_data_set' }, (n) => set.add(n));
    }
    if (set.size) findings.push(...(await scanRelease(config, set, ctx.inspector)));
  } finally {
    ctx.inspector?.close();
  }
  return findings;
}

export function registerAudit(program: Command): void {
  withConfigOption(
    program
      .command('audit')
      .summary('check the release for identifiers and rule breaks; exit 6 on any finding')
      .description(
        'audit masked_out/ as an adversary would read it: allow-listed tables, columns and files only; no year on a 90+ ' +
          "patient's row; ZIP3s on their table's allow-list; one profile; no full dates outside limited_data_set; signed " +
          'attestations; small cells suppressed; then a canary run (planted identifiers through the real pipeline) and a ' +
          'byte scan of the store (free pages and WAL included), every Parquet file, logs and attestations.\n' +
          'Exit 0 when clean, 6 on any finding (one FINDING line each), 2 on bad usage or config.',
      )
      .option('--against <files...>', 'also scan for the raw identifier values of these events files (ids, names, dates, ZIPs, timestamps)')
      .option('--no-canary', 'skip the canary run')
      .option('--json', 'print the findings as one JSON object'),
  ).action(
    action(async (opts: { config?: string; against?: string[]; canary?: boolean; json?: boolean }) => {
      const config = configFrom(opts);
      for (const f of opts.against ?? []) if (!existsSync(f)) throw new UserError(`--against ${f}: no such file`);
      const findings = await runAudit(config, { against: opts.against, canary: opts.canary });
      if (opts.json) process.stdout.write(`${JSON.stringify({ ok: findings.length === 0, findings })}\n`);
      else {
        for (const f of findings) process.stdout.write(`${findingLine(f)}\n`);
        process.stdout.write(findings.length ? `audit: ${findings.length} finding(s)\n` : 'audit: no findings\n');
      }
      return findings.length ? EXIT_AUDIT_FINDINGS : 0;
    }),
  );
}
