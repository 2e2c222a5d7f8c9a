// Surrogate-key mode: patient_key is a random 128-bit token from the vault in the private state, stable across
// batches, not derived from the id; the vault holds no raw id; deleting it gives new tokens.
import { createHmac } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { runFiles } from '../../src/run.js';
import { duckQuery, globOf } from '../helpers/duck.js';
import { eventsCsv, makeProject, plausibleRows, scanFor, TEST_KEY } from '../helpers/project.js';

describe('deid.key_mode: surrogate', () => {
  it('tokens are stable across batches, not the HMAC, absent from the vault as ids; a deleted vault gives new ones', async () => {
    const p = makeProject('deid:\n  key_mode: surrogate\n');
    const config = () => loadConfig(p.file('config.yaml'), { MEDETL_HMAC_KEY: TEST_KEY });
    const load = async (name: string, seed: number) => {
      // The same 5 patients every time, at other instants.
      writeFileSync(p.file(name), eventsCsv(plausibleRows(20, { seed, patients: 5, prefix: 'MRN-X', startMs: Date.UTC(2024, seed, 1) })));
      expect((await runFiles(config(), [p.file(name)], { onSuccess: 'keep' })).loaded).toBe(1);
    };
    const tokens = () => {
      const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
      try {
        return db.prepare('SELECT b.seq, p.patient_key FROM events e JOIN patients p USING (patient_ref) JOIN batches b USING (batch_ref) GROUP BY b.seq, p.patient_key ORDER BY b.seq, p.patient_key').all() as { seq: number; patient_key: string }[];
      } finally {
        db.close();
      }
    };
    await load('events_1.csv', 1);
    await load('events_2.csv', 2);
    const t = tokens();
    const first = t.filter((r) => r.seq === 1).map((r) => r.patient_key);
    const second = t.filter((r) => r.seq === 2).map((r) => r.patient_key);
    expect(first).toHaveLength(5);
    expect(second).toEqual(first);
    for (const k of first) expect(k).toMatch(/^[0-9a-f]{32}$/);
    const ids = Array.from({ length: 5 }, (_, i) => `MRN-X-${i}`);
    const hmacs = ids.map((id) => createHmac('sha256', Buffer.from(TEST_KEY, 'hex')).update(id).digest('hex'));
    for (const h of hmacs) expect(first).not.toContain(h);
    // Parquet carries the same tokens.
    const pq = await duckQuery(`SELECT DISTINCT patient_key FROM read_parquet('${globOf(p.file('masked_out/parts'))}') ORDER BY 1`);
    expect(pq.map((r) => r.patient_key)).toEqual(first);
    // The vault: lookup values are keyed (another domain than the hmac mode's patient_key), never the id.
    const vaultFile = p.file('.medetl/vault.sqlite');
    expect(scanFor([path.dirname(vaultFile)], ids)).toEqual([]);
    const vault = new Database(vaultFile, { readonly: true });
    const lookups = vault.prepare('SELECT lookup FROM vault').pluck().all() as string[];
    vault.close();
    expect(lookups).toHaveLength(5);
    for (const h of hmacs) expect(lookups).not.toContain(h);
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    expect(db.prepare('SELECT DISTINCT key_mode FROM batches').pluck().all()).toEqual(['surrogate']);
    const att = JSON.parse(db.prepare('SELECT document FROM attestations LIMIT 1').pluck().get() as string);
    db.close();
    expect(att.key.mode).toBe('surrogate');
    expect(readFileSync(p.file('logs/pipeline.log'), 'utf8')).not.toContain('MRN-X');

    // Deleting the vault: the same patients get new tokens from then on.
    for (const f of ['vault.sqlite', 'vault.sqlite-wal', 'vault.sqlite-shm']) rmSync(p.file(`.medetl/${f}`), { force: true });
    await load('events_3.csv', 3);
    const third = tokens().filter((r) => r.seq === 3).map((r) => r.patient_key);
    expect(third).toHaveLength(5);
    for (const k of third) expect(first).not.toContain(k);
  });
});
