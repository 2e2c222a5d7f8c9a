// The SQLite store (the embedded default) against the same store contract the PostgreSQL store runs.
import path from 'node:path';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { SqliteStore } from '../../src/stores/sqlite/store.js';
import { testDir } from '../helpers/test-dir.js';
import { sortRows, type CleanedRow } from './batches.js';
import { storeContract, type CountedTable, type StoreHarness } from './contract.js';

const PRIVATE = new Set<CountedTable>(['batch_sources', 'quarantined']);

async function sqliteHarness(): Promise<StoreHarness> {
  const dir = testDir('sqlite-store');
  const files = { release: path.join(dir, 'masked_out', 'cleaned.sqlite'), private: path.join(dir, '.medetl', 'private.sqlite') };
  /** A connection of the harness's own, outside any store: what another process would see. */
  const look = <T>(file: string, fn: (db: Database.Database) => T, empty: T): T => {
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
    } catch {
      return empty;
    }
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    concurrentWriters: false,
    open: async (steps) => SqliteStore.openWriter(files, steps),
    openReader: async () => SqliteStore.openReadOnly(files),
    async count(table) {
      return look(PRIVATE.has(table) ? files.private : files.release, (db) => {
        const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
        return exists ? (db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number) : 0;
      }, 0);
    },
    async cleanedEvents() {
      return look(files.release, (db) => {
        const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'cleaned_events'").get();
        return exists ? sortRows(db.prepare('SELECT * FROM cleaned_events').all() as CleanedRow[]) : [];
      }, [] as CleanedRow[]);
    },
    async dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

storeContract('sqlite', sqliteHarness);
