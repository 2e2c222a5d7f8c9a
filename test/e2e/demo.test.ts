// The README's main job: `medetl demo` on a fresh folder with no key and no Java.
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { duckQuery } from '../helpers/duck.js';
import { makeProject } from '../helpers/project.js';

describe('medetl demo', () => {
  it('creates a key, generates, watches until drained, compacts and reports, exit 0', async () => {
    const p = makeProject('generate:\n  patients: 20\n', { key: null });
    const r = p.run(['demo', '--batches', '2'], { env: { PATH: '/usr/bin:/bin', JAVA_HOME: '' } });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
    expect(readFileSync(p.file('.env'), 'utf8')).toMatch(/^MEDETL_HMAC_KEY=[0-9a-f]{64}$/m);
    expect(r.stdout).toMatch(/1\/5 init: new key written/);
    expect(r.stdout).toMatch(/batch 2\/2 \(builtin, seed 43\)/);
    expect(r.stdout).toMatch(/clean rows flagged: \d+ of \d+ \([\d.]+%; bar <= 1%: (ok|MISSED)\)/); // the bar itself: flow.test.ts, at batch size
    expect(r.stdout).toMatch(/0 file\(s\) in quarantine/);
    const db = new Database(p.file('masked_out/cleaned.sqlite'), { readonly: true });
    const rows = db.prepare('SELECT COUNT(*) FROM cleaned_events').pluck().get() as number;
    expect(db.prepare('SELECT COUNT(*) FROM batches').pluck().get()).toBe(2);
    db.close();
    expect(rows).toBeGreaterThan(50);
    expect(r.stdout).toContain(`In total: ${rows} rows in the store, ${rows} in Parquet (they agree)`);
    const compact = await duckQuery(`SELECT count(*)::INT AS n FROM '${p.file('masked_out/cleaned.parquet').replace(/\\/g, '/')}'`);
    expect(compact[0].n).toBe(rows);
    expect(existsSync(p.file('incoming/processed'))).toBe(true);
  });
});
