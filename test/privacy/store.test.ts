// One profile and one key mode per store; SQLite secure_delete on and the WAL truncated after each batch; the
// signed attestation of every batch, in the table and under masked_out/attestations/, and tampering detected.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openWriter } from '../../src/compose.js';
import { parseKey } from '../../src/config/key.js';
import { loadConfig } from '../../src/config/load.js';
import { verifyAttestation } from '../../src/privacy/attestation.js';
import { runFiles } from '../../src/run.js';
import { eventsCsv, makeProject, plausibleRows, TEST_KEY } from '../helpers/project.js';

const env = { MEDETL_HMAC_KEY: TEST_KEY, MEDETL_NOW: '2026-01-15T12:00:00Z' };

async function load(dir: string, name: string, yaml?: string, seed = 1) {
  if (yaml !== undefined) writeFileSync(path.join(dir, 'config.yaml'), yaml);
  writeFileSync(path.join(dir, name), eventsCsv(plausibleRows(40, { seed, prefix: `s${seed}` })));
  return runFiles(loadConfig(path.join(dir, 'config.yaml'), env), [path.join(dir, name)], { onSuccess: 'keep' });
}

describe('one profile per store', () => {
  it('refuses a limited-data-set config on a Safe Harbor store and back, before any file is touched', async () => {
    const p = makeProject();
    expect((await load(p.dir, 'events_1.csv')).loaded).toBe(1);
    const lds = 'deid:\n  profile: limited_data_set\n';
    await expect(load(p.dir, 'events_2.csv', lds, 2)).rejects.toThrow(/this store holds de-identification profile safe_harbor batches; the config asks for limited_data_set/);
    const cli = p.run(['process', 'events_2.csv']);
    expect(cli.status).toBe(2);
    expect(cli.stderr).toMatch(/^medetl: this store holds de-identification profile safe_harbor batches/);
    // And back: a limited-data-set store refuses Safe Harbor.
    const q = makeProject(lds);
    expect((await load(q.dir, 'events_1.csv')).loaded).toBe(1);
    await expect(load(q.dir, 'events_2.csv', '', 2)).rejects.toThrow(/holds de-identification profile limited_data_set batches; the config asks for safe_harbor/);
    // Key modes do not mix either.
    await expect(load(p.dir, 'events_3.csv', 'deid:\n  key_mode: surrogate\n', 3)).rejects.toThrow(/holds key mode hmac batches; the config asks for surrogate/);
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    expect(db.prepare("SELECT name, value FROM meta WHERE name IN ('deid_profile', 'key_mode') ORDER BY name").all()).toEqual([
      { name: 'deid_profile', value: 'safe_harbor' },
      { name: 'key_mode', value: 'hmac' },
    ]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM batches').get()).toEqual({ n: 1 });
    db.close();
  });
});

describe('SQLite: nothing deleted stays readable', () => {
  it('secure_delete is on and the WAL is truncated to zero bytes after a batch', async () => {
    const p = makeProject();
    const w = await openWriter(loadConfig(p.file('config.yaml'), env));
    try {
      const sql = (w.store as unknown as { releaseSql(): { all(q: string): Promise<Record<string, unknown>[]> } }).releaseSql();
      expect(await sql.all('PRAGMA secure_delete')).toEqual([{ secure_delete: 1 }]);
      expect(await sql.all('PRAGMA journal_size_limit')).toEqual([{ journal_size_limit: 0 }]);
    } finally {
      await w.close();
    }
    // A reader holds the database open, so the WAL file stays; the batch's TRUNCATE checkpoint empties it.
    const reader = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    reader.prepare('SELECT COUNT(*) FROM meta').get();
    try {
      expect((await load(p.dir, 'events_1.csv')).loaded).toBe(1);
      expect(statSync(p.file('masked_out/cleaned.sqlite-wal')).size).toBe(0);
      expect(reader.prepare('SELECT COUNT(*) AS n FROM events').get()).toEqual({ n: 40 });
    } finally {
      reader.close();
    }
    // Deleted content is zeroed: a row deleted through a secure_delete connection leaves no trace in the file.
    const marker = `zz${'q'.repeat(40)}zz`;
    const db = new Database(p.file('masked_out/cleaned.sqlite'));
    db.pragma('secure_delete = ON');
    db.prepare("INSERT INTO qc_drift VALUES ('b', ?, 's', 1, 2, 'warn')").run(marker);
    db.prepare('DELETE FROM qc_drift WHERE column_name = ?').run(marker);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    expect(readFileSync(p.file('masked_out/cleaned.sqlite')).includes(marker)).toBe(false);
  });
});

describe('the Safe Harbor attestation of a batch', () => {
  it('is written with the batch (table and file, the same document), signed, and a changed byte is detected', async () => {
    const p = makeProject();
    expect((await load(p.dir, 'events_1.csv')).loaded).toBe(1);
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    const [{ batch_id: id, document }] = db.prepare('SELECT batch_id, document FROM attestations').all() as { batch_id: string; document: string }[];
    db.close();
    const file = readFileSync(p.file(`masked_out/attestations/${id}.json`), 'utf8');
    expect(file).toBe(document);
    const key = parseKey(TEST_KEY);
    const v = verifyAttestation(file, key, id);
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    const doc = v.doc;
    expect(doc.identifiers.map((x) => x.category).join('')).toBe('ABCDEFGHIJKLMNOPQR');
    expect(doc).toMatchObject({
      batch_id: id, profile: 'safe_harbor', de_identified: true,
      zip3: { table: 'census2020', vintage: 'census-2020-dhc-p1', table_hash: '32551bdb3ed76271', min_population: 20000 },
      key: { id: key.id, mode: 'hmac' },
      counts: { rows: 40, patients: 10 },
      audit: { result: 'pass', findings: [] },
    });
    expect(doc.ruleset.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(doc.identifiers.find((x) => x.category === 'C')!.handling).toMatch(/ages >= 90 -> 90/);
    // No time and no file name in it.
    expect(file).not.toMatch(/\d{4}-\d{2}-\d{2}|events_1/);
    // Tampering: one count changed, or the signature replaced, or another key.
    expect(verifyAttestation(file.replace('"rows": 40', '"rows": 41'), key, id)).toEqual({ ok: false, reason: 'the signature does not match: the document was changed' });
    expect(verifyAttestation(file, parseKey('cd'.repeat(32)), id).ok).toBe(false);
    expect(verifyAttestation(file, key, 'another').ok).toBe(false);
    const s = JSON.parse(file);
    s.identifiers.pop();
    delete s.signature;
    expect(verifyAttestation(JSON.stringify(s), key, id)).toEqual({ ok: false, reason: 'unsigned' });
  });
});
