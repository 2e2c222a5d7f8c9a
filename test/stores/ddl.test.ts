// The DDL both stores run, generated from src/stores/schema.ts: SQLite's half checked on a real SQLite database
// (the PostgreSQL half runs in postgres.test.ts against a real server).
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { columnType, createTables, ident, indexName, releaseDdl } from '../../src/stores/ddl.js';
import { CLEANED_EVENTS_VIEW, PRIVATE_TABLES, RELEASE_TABLES } from '../../src/stores/schema.js';
import { OUTPUT_COLUMNS } from '../../src/pipeline/types.js';

describe('DDL from the table lists', () => {
  it('creates every SQLite table, index and the view, idempotently, with the declared types the ODBC driver reads', () => {
    const db = new Database(':memory:');
    db.exec("ATTACH DATABASE ':memory:' AS private");
    for (let k = 0; k < 2; k++) {
      for (const sql of releaseDdl({ dialect: 'sqlite' })) db.exec(sql);
      for (const sql of createTables(PRIVATE_TABLES, { dialect: 'sqlite', schema: 'private' })) db.exec(sql);
    }
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(RELEASE_TABLES.map((t) => t.name).sort());
    expect(db.prepare("SELECT name FROM private.sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()).toEqual(PRIVATE_TABLES.map((t) => t.name).sort());
    const types = Object.fromEntries((db.prepare('PRAGMA table_info(events)').all() as { name: string; type: string }[]).map((c) => [c.name, c.type]));
    expect(types).toMatchObject({ patient_ref: 'INTEGER', event_date: 'DATE', zip3: 'VARCHAR(3)', systolic_bp: 'DOUBLE', outlier_flags: 'VARCHAR(255)' });
    const indexes = RELEASE_TABLES.flatMap((t) => (t.indexes ?? []).map((cols) => indexName(t.name, cols))).sort();
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_idx' ORDER BY name").pluck().all()).toEqual(indexes);
    expect(indexes).toContain('batches_head_key_idx');
    // The view joins the narrow table back to the output allow-list, in order.
    db.prepare("INSERT INTO patients VALUES (1, 'k1')").run();
    db.prepare(
      "INSERT INTO batches (batch_ref, seq, batch_id, content_key, head_key, start_offset, end_offset, rows_in, loaded, rejected, duplicates, flagged, clipped, files, key_id, key_mode, deid_profile, zip3_vintage, zip3_table_hash, ruleset_version, warnings) VALUES (7, 1, 'B', 'c', 'h', 0, 1, 1, 1, 0, 0, 0, 0, '', 'k', 'hmac', 'safe_harbor', 'v', 'z', 'r', '')",
    ).run();
    db.prepare("INSERT INTO events VALUES (1, 7, 1980, 44, 2024, NULL, '021', 120.5, 80, 70, '')").run();
    const row = db.prepare(`SELECT * FROM ${CLEANED_EVENTS_VIEW.name}`).get() as Record<string, unknown>;
    expect(Object.keys(row)).toEqual([...OUTPUT_COLUMNS]);
    expect(row).toMatchObject({ patient_key: 'k1', batch_id: 'B', systolic_bp: 120.5, zip3: '021' });
    // The primary and unique keys hold.
    expect(() => db.prepare("INSERT INTO patients VALUES (2, 'k1')").run()).toThrow(/UNIQUE/);
    db.close();
  });

  it('maps every column type for both dialects and quotes only plain names', () => {
    expect(['int', 'bigint', 'double', 'date', 'timestamp', 'longtext', { text: 9 }].map((t) => columnType(t as never, 'postgres'))).toEqual([
      'integer', 'bigint', 'double precision', 'date', 'timestamp', 'text', 'varchar(9)',
    ]);
    expect(['int', 'bigint', 'double', 'date', 'timestamp', 'longtext', { text: 9 }].map((t) => columnType(t as never, 'sqlite'))).toEqual([
      'INTEGER', 'INTEGER', 'DOUBLE', 'DATE', 'TIMESTAMP', 'TEXT', 'VARCHAR(9)',
    ]);
    expect(ident('medetl_private')).toBe('"medetl_private"');
    expect(() => ident('bad"; DROP TABLE x; --')).toThrow();
    expect(releaseDdl({ dialect: 'postgres', schema: 'medetl' }).at(-1)).toContain('FROM "medetl"."events" e JOIN "medetl"."patients" p');
  });
});
