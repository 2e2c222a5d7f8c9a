// The secret behind patient_key. Never logged, never written anywhere but .env.
import { createHash, randomBytes } from 'node:crypto';

export const KEY_VARIABLE = 'MEDETL_HMAC_KEY';
/** The placeholder shipped in .env.example; refused so nobody runs on a public key. */
export const EXAMPLE_KEY = 'replace-me-with-the-output-of-medetl-init-0000000000000000000000';

export class KeyError extends Error {
  readonly code = 'hmac_key_invalid';
}

export interface HmacKey {
  bytes: Buffer;
  /** First 16 hex digits of SHA-256 over the key bytes: names the key, reveals nothing usable. */
  fingerprint: string;
}

/** A 64-hex-digit value is read as 32 raw bytes; anything else as UTF-8 text of at least 32 bytes. */
export function parseKey(value: string | undefined): HmacKey {
  if (value === undefined || value.trim() === '') {
    throw new KeyError(`${KEY_VARIABLE} is not set: run "medetl init" to create .env with a fresh key`);
  }
  const v = value.trim();
  if (v === EXAMPLE_KEY) {
    throw new KeyError(`${KEY_VARIABLE} is the example key from .env.example: run "medetl init" or set a secret of your own`);
  }
  const bytes = /^[0-9a-fA-F]+$/.test(v) && v.length % 2 === 0 ? Buffer.from(v, 'hex') : Buffer.from(v, 'utf8');
  if (bytes.length < 32) {
    throw new KeyError(`${KEY_VARIABLE} is ${bytes.length} bytes; at least 32 are required (64 hex digits)`);
  }
  return { bytes, fingerprint: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

export function newKeyHex(): string {
  return randomBytes(32).toString('hex');
}
