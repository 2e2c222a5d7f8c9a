// The SQLite release as `medetl audit` sees it (privacy/inspect.ts): read-only connections to masked_out/cleaned.sqlite
// and, when present, paths.state/private.sqlite.
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { BatchFacts, ReleaseInspector, SchemaObject } from '../inspect.js';
import { CLEANED_EVENTS_VIEW, RELEASE_TABLES } from '../schema.js';
import { createTableSql, createViewSql } from './ddl.js';

function objectsOf(db: Database.Database): SchemaObject[] {
  const rows = db
    .prepare("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as { type: 'table' | 'view' | 'index'; name: string }[];
  return rows.map((r) => ({
    ...r,
    columns: r.type === 'index' ? [] : (db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(r.name) as string[]),
  }));
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?").get(name) !== undefined;
}

export class SqliteInspector implements ReleaseInspector {
  private readonly db: Database.Database;
  private readonly priv: Database.Database | null;

  constructor(
    readonly where: string,
    privateFile: string,
  ) {
    this.db = new Database(where, { readonly: true, fileMustExist: true });
    this.priv = existsSync(privateFile) ? new Database(privateFile, { readonly: true, fileMustExist: true }) : null;
  }

  objects(): SchemaObject[] {
    return objectsOf(this.db);
  }

  expectedObjects(stepDdl: readonly string[]): SchemaObject[] {
    const mem = new Database(':memory:');
    try {
      for (const t of RELEASE_TABLES) mem.exec(createTableSql(t));
      mem.exec(createViewSql(CLEANED_EVENTS_VIEW.name, CLEANED_EVENTS_VIEW.select));
      for (const sql of stepDdl) mem.exec(sql);
      return objectsOf(mem);
    } finally {
      mem.close();
    }
  }

  batches(): BatchFacts[] {
    if (!hasTable(this.db, 'batches')) return [];
    return (
      this.db.prepare('SELECT batch_id, deid_profile, key_mode, zip3_vintage FROM batches ORDER BY seq').all() as {
        batch_id: string;
        deid_profile: string;
        key_mode: string;
        zip3_vintage: string;
      }[]
    ).map((r) => ({ batchId: r.batch_id, profile: r.deid_profile, keyMode: r.key_mode, zip3Vintage: r.zip3_vintage }));
  }

  meta(name: string): string | null {
    if (!hasTable(this.db, 'meta')) return null;
    return (this.db.prepare('SELECT value FROM meta WHERE name = ?').pluck().get(name) as string | undefined) ?? null;
  }

  private count(sql: string, ...params: unknown[]): number {
    return Number(this.db.prepare(sql).pluck().get(...params) ?? 0);
  }

  yearsAtAge90(): number {
    if (!hasTable(this.db, 'events')) return 0;
    return this.count('SELECT COUNT(*) FROM events WHERE age_years >= 90 AND (dob_year IS NOT NULL OR event_year IS NOT NULL)');
  }

  yearsOfAged90Patients(): number {
    if (!hasTable(this.db, 'events')) return 0;
    return this.count(
      'SELECT COUNT(*) FROM events WHERE (dob_year IS NOT NULL OR event_year IS NOT NULL) AND patient_ref IN (SELECT DISTINCT patient_ref FROM events WHERE age_years >= 90)',
    );
  }

  yearRowsOf(keys: Iterable<string>): { patients: number; rows: number } {
    const out = { patients: 0, rows: 0 };
    if (!hasTable(this.db, 'events') || !hasTable(this.db, 'patients')) return out;
    const all = [...keys];
    const KEYS_PER_QUERY = 500;
    for (let i = 0; i < all.length; i += KEYS_PER_QUERY) {
      const part = all.slice(i, i + KEYS_PER_QUERY);
      const r = this.db
        .prepare(
          `SELECT COUNT(DISTINCT e.patient_ref) AS patients, COUNT(*) AS n FROM events e JOIN patients p ON p.patient_ref = e.patient_ref
           WHERE p.patient_key IN (${part.map(() => '?').join(',')}) AND (e.dob_year IS NOT NULL OR e.event_year IS NOT NULL)`,
        )
        .get(...part) as { patients: number; n: number };
      out.patients += Number(r.patients);
      out.rows += Number(r.n);
    }
    return out;
  }

  zip3s(): { vintage: string; zip3: string; rows: number }[] {
    if (!hasTable(this.db, 'events')) return [];
    return this.db
      .prepare(
        `SELECT b.zip3_vintage AS vintage, e.zip3 AS zip3, COUNT(*) AS rows FROM events e JOIN batches b ON b.batch_ref = e.batch_ref
         WHERE e.zip3 IS NOT NULL GROUP BY b.zip3_vintage, e.zip3`,
      )
      .all() as { vintage: string; zip3: string; rows: number }[];
  }

  eventDatesOutsideLds(): number {
    if (!hasTable(this.db, 'events')) return 0;
    return this.count(
      `SELECT COUNT(*) FROM events e LEFT JOIN batches b ON b.batch_ref = e.batch_ref
       WHERE e.event_date IS NOT NULL AND COALESCE(b.deid_profile, '') <> 'limited_data_set'`,
    );
  }

  attestations(): Map<string, string> {
    const out = new Map<string, string>();
    if (!hasTable(this.db, 'attestations')) return out;
    for (const r of this.db.prepare('SELECT batch_id, document FROM attestations').all() as { batch_id: string; document: string }[]) out.set(r.batch_id, r.document);
    return out;
  }

  smallCells(minPatients: number): { table: string; rows: number }[] {
    const out: { table: string; rows: number }[] = [];
    for (const o of objectsOf(this.db)) {
      if (o.type === 'index' || !o.name.startsWith('kpi_') || !o.columns.includes('patients')) continue;
      const rows = this.count(`SELECT COUNT(*) FROM "${o.name.replace(/"/g, '""')}" WHERE patients > 0 AND patients < ?`, minPatients);
      if (rows) out.push({ table: o.name, rows });
    }
    return out;
  }

  aged90Keys(day: number): Set<string> | null {
    if (!this.priv || !hasTable(this.priv, 'age90_facts')) return null;
    const keys = this.priv
      .prepare('SELECT patient_key FROM age90_facts WHERE turn90_day IS NOT NULL AND (turn90_day <= ? OR turn90_day <= max_event_day)')
      .pluck()
      .all(day) as string[];
    return new Set(keys);
  }

  textValues(): Buffer {
    const parts: Buffer[] = [];
    for (const o of objectsOf(this.db)) {
      if (o.type !== 'table') continue;
      const t = `"${o.name.replace(/"/g, '""')}"`;
      for (const c of o.columns) {
        const col = `"${c.replace(/"/g, '""')}"`;
        const values = this.db.prepare(`SELECT DISTINCT ${col} FROM ${t} WHERE typeof(${col}) = 'text'`).pluck().all() as string[];
        if (values.length) parts.push(Buffer.from(`${values.join('\0')}\0`, 'utf8'));
      }
    }
    return Buffer.concat(parts);
  }

  sourceNames(): string[] {
    if (!this.priv) return [];
    const names: string[] = [];
    if (hasTable(this.priv, 'batch_sources')) names.push(...(this.priv.prepare('SELECT DISTINCT source_name FROM batch_sources').pluck().all() as string[]));
    if (hasTable(this.priv, 'quarantined')) names.push(...(this.priv.prepare('SELECT DISTINCT source_name FROM quarantined').pluck().all() as string[]));
    return [...new Set(names)];
  }

  close(): void {
    this.db.close();
    this.priv?.close();
  }
}
