// Surrogate keys (deid.key_mode: surrogate): patient_key is a random 128-bit token, not derived from the patient id,
// so it is the re-identification code 45 CFR 164.514(c) allows. The vault maps HMAC(key, "medetl vault v1\0" + id)
// to the token: it never holds the raw id, and its lookup values are not the HMAC patient_keys of the hmac mode
// (another domain), so the two modes cannot be joined through it. Tokens are stable across batches as long as the
// vault lives; deleting it (SQLite: paths.state/vault.sqlite) gives every patient a new token from then on.
import { createHmac, randomBytes } from 'node:crypto';
import type { HmacKey } from '../config/key.js';
import type { SqlTx } from '../stores/steps.js';

export const VAULT_DDL = [
  'CREATE TABLE IF NOT EXISTS vault (lookup VARCHAR(64) NOT NULL PRIMARY KEY, token VARCHAR(32) NOT NULL UNIQUE)',
];

const CHUNK = 400;

export function vaultLookup(key: HmacKey, patientId: string): string {
  return createHmac('sha256', key.bytes).update('medetl vault v1\0').update(patientId, 'utf8').digest('hex');
}

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

export class Vault {
  constructor(
    /** Outside any batch transaction: a token, once made, is kept even if the batch rolls back (a fact of the patient). */
    private readonly sql: SqlTx,
    private readonly key: HmacKey,
  ) {}

  async init(): Promise<void> {
    for (const s of VAULT_DDL) await this.sql.run(s);
  }

  /** The token of each patient id, made for those who have none yet. */
  async tokens(patientIds: readonly string[]): Promise<string[]> {
    const lookups = patientIds.map((id) => vaultLookup(this.key, id));
    const found = new Map<string, string>();
    for (let i = 0; i < lookups.length; i += CHUNK) {
      const part = lookups.slice(i, i + CHUNK);
      const rows = await this.sql.all<{ lookup: string; token: string }>(
        `SELECT lookup, token FROM vault WHERE lookup IN (${part.map(() => '?').join(',')})`,
        part,
      );
      for (const r of rows) found.set(r.lookup, r.token);
    }
    const missing = [...new Set(lookups.filter((l) => !found.has(l)))].sort();
    // SQLite (its own connection, autocommit): one transaction, not one commit per statement.
    const own = this.sql.dialect === 'sqlite' && missing.length > 0;
    if (own) await this.sql.run('BEGIN IMMEDIATE');
    try {
      await this.store(missing, found);
      if (own) await this.sql.run('COMMIT');
    } catch (err) {
      if (own) await this.sql.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return lookups.map((l) => {
      const t = found.get(l);
      if (!t) throw new Error('vault: a token could not be stored');
      return t;
    });
  }

  private async store(missing: readonly string[], found: Map<string, string>): Promise<void> {
    for (let i = 0; i < missing.length; i += CHUNK) {
      const part = missing.slice(i, i + CHUNK);
      const params: string[] = [];
      for (const l of part) params.push(l, newToken());
      // Another worker may have made the token meanwhile: keep theirs, then read back what is stored.
      await this.sql.run(`INSERT INTO vault (lookup, token) VALUES ${part.map(() => '(?, ?)').join(',')} ON CONFLICT (lookup) DO NOTHING`, params);
      const rows = await this.sql.all<{ lookup: string; token: string }>(
        `SELECT lookup, token FROM vault WHERE lookup IN (${part.map(() => '?').join(',')})`,
        part,
      );
      for (const r of rows) found.set(r.lookup, r.token);
    }
  }
}
