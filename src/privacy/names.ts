// The file-name policy of a project (ops/safe-name.ts applies it): deid.safe_file_names and a key derived from the
// HMAC key, so a name's keyed id is stable across runs and processes of one project.
import { createHmac } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { HmacKey } from '../config/key.js';
import { setNamePolicy, type NamePolicy } from '../ops/safe-name.js';

export function namePolicyOf(config: Pick<Config, 'deid'>, key: HmacKey): NamePolicy {
  return {
    safe: new RegExp(config.deid.safe_file_names, 'u'),
    key: createHmac('sha256', key.bytes).update('medetl file names v1').digest(),
  };
}

/** Set the process-wide policy from the config and key (compose.ts, and commands that print names). */
export function applyNamePolicy(config: Pick<Config, 'deid'>, key: HmacKey): NamePolicy {
  const p = namePolicyOf(config, key);
  setNamePolicy(p);
  return p;
}
