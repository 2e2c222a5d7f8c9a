// One de-identification profile and one key mode per store: a limited-data-set batch (full event dates) must never
// land in a Safe Harbor store, nor the other way round, and hmac and surrogate patient_keys do not join. The store's
// `meta` table records both with the first batch; every later batch is checked inside its transaction (so two
// workers with different configs cannot race past it), and compose.ts checks the ledger when a writer opens.
import { UserError } from '../core/errors.js';
import type { LedgerReader } from '../stores/ledger.js';
import type { CommitStep } from '../stores/steps.js';

export const PROFILE_META = 'deid_profile';
export const KEY_MODE_META = 'key_mode';

function refusal(what: string, stored: string, wanted: string): UserError {
  return new UserError(
    `this store holds ${what} ${stored} batches; the config asks for ${wanted}. One store holds one ${what}: point ` +
      `paths.masked_out at a new folder (and paths.state at a new one) for ${wanted}, or set it back to ${stored}`,
    'store_profile_mismatch',
  );
}

export function storeProfileStep(profile: string, keyMode: string): CommitStep {
  return {
    name: 'store_profile',
    ddl: () => [],
    async run(tx) {
      for (const [name, column, want, what] of [
        [PROFILE_META, 'deid_profile', profile, 'de-identification profile'],
        [KEY_MODE_META, 'key_mode', keyMode, 'key mode'],
      ] as const) {
        const rows = await tx.all<{ value: string }>('SELECT value FROM meta WHERE name = ?', [name]);
        if (rows.length) {
          if (rows[0].value !== want) throw refusal(what, rows[0].value, want);
          continue;
        }
        // A store from before this step: its batches say what it holds (this batch's row is among them already).
        const seen = (await tx.all<{ v: string }>(`SELECT DISTINCT ${column} AS v FROM batches`)).map((r) => r.v);
        const other = seen.find((v) => v !== want);
        if (other) throw refusal(what, other, want);
        await tx.run('INSERT INTO meta (name, value) VALUES (?, ?)', [name, want]);
      }
    },
  };
}

/** At writer start: refuse a config whose profile differs from the batches already in the store. */
export async function assertStoreProfile(ledger: LedgerReader, profile: string): Promise<void> {
  const { profiles } = await ledger.summary();
  const other = profiles.find((p) => p !== profile);
  if (other) throw refusal('de-identification profile', profiles.length > 1 ? profiles.join(' and ') : other, profile);
}
