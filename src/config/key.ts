// The secret behind patient_key, the content keys and the event fingerprints. Never logged, never written anywhere
// but .env. It must be 32 random bytes: 64 hex digits, or base64 of 32 bytes. A passphrase is refused: a key id
// derived from a guessable secret can be brute-forced (a 32-character passphrase was recovered in 1,236 tries).
import { createHmac, randomBytes } from 'node:crypto';
import { KeyError } from '../core/errors.js';

export { KeyError };

export const KEY_VARIABLE = 'MEDETL_HMAC_KEY';
/** The placeholder shipped in .env.example; refused so nobody runs on a public key. */
export const EXAMPLE_KEY = 'replace-me-with-the-output-of-medetl-init-0000000000000000000000';

export interface HmacKey {
  bytes: Buffer;
  /** HMAC-SHA256 of a constant under the key, 16 hex digits: names the key, reveals nothing usable about it. */
  id: string;
}

const HOW = 'run "medetl init" to write a fresh one, or make one with: node -e "console.log(crypto.randomBytes(32).toString(\'hex\'))"';

/** 64 hex digits -> 32 bytes; base64 of exactly 32 bytes -> 32 bytes; anything else is refused. */
export function parseKey(value: string | undefined): HmacKey {
  if (value === undefined || value.trim() === '') throw new KeyError(`${KEY_VARIABLE} is not set: ${HOW}`);
  const v = value.trim();
  if (v === EXAMPLE_KEY) throw new KeyError(`${KEY_VARIABLE} is the example key from .env.example: ${HOW}`);
  let bytes: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(v)) bytes = Buffer.from(v, 'hex');
  else if (/^[A-Za-z0-9+/]{43}=$/.test(v) || /^[A-Za-z0-9_-]{43}$/.test(v)) {
    const b = Buffer.from(v, /[_-]/.test(v) ? 'base64url' : 'base64');
    if (b.length === 32) bytes = b;
  }
  if (!bytes) {
    throw new KeyError(
      `${KEY_VARIABLE} must be 32 random bytes written as 64 hex digits (or base64); a passphrase or a shorter value is refused: ${HOW}`,
    );
  }
  return { bytes, id: keyId(bytes) };
}

function keyId(bytes: Buffer): string {
  return createHmac('sha256', bytes).update('medetl key id v1').digest('hex').slice(0, 16);
}

export function newKeyHex(): string {
  return randomBytes(32).toString('hex');
}
