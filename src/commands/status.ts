// medetl status: what is waiting, what was loaded or quarantined, whether the sinks agree, and
// whether a daemon is running. Reads only; safe while the daemon runs (SQLite WAL).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import { KEY_VARIABLE, parseKey } from '../config/key.js';
import { listParts, readPartCounts } from '../sinks/parquet.js';
import { holderAlive, type LockInfo } from '../watch/lock.js';
import { nameFilter } from '../watch/scan.js';
import { action, configFrom, withConfigOption } from './common.js';

export interface StatusReport {
  waiting: number;
  processed: number;
  quarantinedFiles: number;
  quarantinedByReason: Record<string, number>;
  rows: { sqlite: number; parquet: number; agree: boolean };
  lastBatch: { batchId: string; file: string; committedAt: string; ms: number; latencyMs: number | null; rowsIn: number; loaded: number } | null;
  keyFingerprint: string | null;
  keyFingerprintsInLedger: string[];
  daemon: { running: boolean; pid?: number; host?: string; since?: string };
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return [];
  }
}

export async function collectStatus(config: Config): Promise<StatusReport> {
  const p = config.resolved;
  const match = nameFilter(config.watch.glob);
  const waiting = listFiles(p.incoming).filter(match).length;
  const quarantinedFiles = listFiles(p.quarantine).filter((n) => !n.startsWith('.') && !n.endsWith('.reason.json') && !n.endsWith('.rejects.csv')).length;
  let keyFingerprint: string | null = null;
  try {
    keyFingerprint = parseKey(config.env[KEY_VARIABLE]).fingerprint;
  } catch {
    keyFingerprint = null;
  }
  let daemon: StatusReport['daemon'] = { running: false };
  if (existsSync(p.lock)) {
    try {
      const info = JSON.parse(readFileSync(p.lock, 'utf8')) as LockInfo;
      daemon = { running: holderAlive(info), pid: info.pid, host: info.hostname, since: info.started };
    } catch {
      daemon = { running: false };
    }
  }
  const report: StatusReport = {
    waiting, processed: 0, quarantinedFiles, quarantinedByReason: {}, rows: { sqlite: 0, parquet: 0, agree: true },
    lastBatch: null, keyFingerprint, keyFingerprintsInLedger: [], daemon,
  };
  let parquet = 0;
  for (const part of await listParts(p.parts)) for (const n of (await readPartCounts(part)).values()) parquet += n;
  report.rows.parquet = parquet;
  if (!existsSync(p.sqlite)) {
    report.rows.agree = parquet === 0;
    return report;
  }
  const db = new Database(p.sqlite, { readonly: true, fileMustExist: true });
  try {
    report.processed = db.prepare('SELECT COUNT(*) FROM batches').pluck().get() as number;
    report.rows.sqlite = db.prepare('SELECT COUNT(*) FROM cleaned_events').pluck().get() as number;
    for (const q of db.prepare('SELECT reason_code AS r, COUNT(*) AS n FROM quarantined GROUP BY reason_code').all() as { r: string; n: number }[])
      report.quarantinedByReason[q.r] = q.n;
    // Read-only: a file from an earlier version may lack arrived_at (the next writer adds it).
    const hasArrived = (db.prepare('PRAGMA table_info(batches)').all() as { name: string }[]).some((c) => c.name === 'arrived_at');
    const last = db
      .prepare(
        `SELECT batch_id, source_name, ${hasArrived ? 'arrived_at' : 'NULL AS arrived_at'}, committed_at, ms, rows_in, loaded
         FROM batches ORDER BY committed_at DESC, rowid DESC LIMIT 1`,
      )
      .get() as { batch_id: string; source_name: string; arrived_at: string | null; committed_at: string; ms: number; rows_in: number; loaded: number } | undefined;
    if (last) {
      const utc = (t: string) => Date.parse(`${t.replace(' ', 'T')}Z`);
      const latencyMs = last.arrived_at ? Math.max(0, utc(last.committed_at) - utc(last.arrived_at)) : null;
      report.lastBatch = {
        batchId: last.batch_id, file: last.source_name, committedAt: last.committed_at, ms: last.ms, latencyMs, rowsIn: last.rows_in, loaded: last.loaded,
      };
    }
    report.keyFingerprintsInLedger = db.prepare('SELECT DISTINCT key_fingerprint FROM batches').pluck().all() as string[];
  } finally {
    db.close();
  }
  report.rows.agree = report.rows.sqlite === report.rows.parquet;
  return report;
}

function human(r: StatusReport, config: Config): string {
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  const q = Object.entries(r.quarantinedByReason).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [
    `daemon:       ${r.daemon.running ? `running (pid ${r.daemon.pid} on ${r.daemon.host}, since ${r.daemon.since})` : 'not running'}`,
    `waiting:      ${r.waiting} file(s) in ${rel(config.resolved.incoming)}`,
    `processed:    ${r.processed} batch(es)`,
    `quarantined:  ${r.quarantinedFiles} file(s) in ${rel(config.resolved.quarantine)}${q ? ` (ever, by reason: ${q})` : ''}`,
    `rows:         SQLite ${r.rows.sqlite}, Parquet ${r.rows.parquet} -> ${r.rows.agree ? 'agree' : 'DISAGREE: run medetl verify'}`,
    `last batch:   ${
      r.lastBatch
        ? `${r.lastBatch.file} committed ${r.lastBatch.committedAt} UTC, ${r.lastBatch.loaded}/${r.lastBatch.rowsIn} rows, ` +
          `processing ${r.lastBatch.ms} ms${r.lastBatch.latencyMs === null ? '' : `, latency ${(r.lastBatch.latencyMs / 1000).toFixed(0)} s from arrival`}`
        : 'none yet'
    }`,
    `key:          ${r.keyFingerprint ? `fingerprint ${r.keyFingerprint}` : 'MEDETL_HMAC_KEY missing or invalid'}` +
      (r.keyFingerprintsInLedger.length > 1 || (r.keyFingerprint && r.keyFingerprintsInLedger.length === 1 && r.keyFingerprintsInLedger[0] !== r.keyFingerprint)
        ? ` (WARNING: the ledger has batches under key(s) ${r.keyFingerprintsInLedger.join(', ')}: patient_key values will not join across keys)`
        : ''),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerStatus(program: Command): void {
  withConfigOption(
    program
      .command('status')
      .summary('waiting, processed, quarantined, rows per sink, last batch, key, daemon')
      .description('files waiting, batches processed and quarantined (by reason), rows per sink and whether they agree, last batch, key fingerprint, daemon')
      .option('--json', 'print the report as one JSON object'),
  ).action(
    action(async (opts: { config?: string; json?: boolean }) => {
      const config = configFrom(opts);
      const r = await collectStatus(config);
      process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : human(r, config));
    }),
  );
}
