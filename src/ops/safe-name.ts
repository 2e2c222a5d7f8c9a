// File names as they may be printed (logs, alerts, console lines). Two rules, applied by safeName():
// 1. A name appears only when it matches the safe pattern (deid.safe_file_names, default `^events_[0-9_-]+\.csv$`,
//    the names `generate` and `map` write). Any other name may carry an identifier (`events_<MRN>_<surname>.csv`),
//    so a short keyed id stands in for it: `file-` + 12 hex digits of HMAC(key, name). The same name always gets
//    the same id under one key, so lines about one file can be followed; the id reveals nothing without the key.
// 2. Control characters (newlines, ANSI escapes, C1 controls, bidi overrides) are escaped, so a hostile name cannot
//    fake a console line or repaint the terminal.
// The policy is process-wide: compose.ts sets it from the config and the key (privacy/names.ts) before anything is
// printed; until then every name that is not safe gets an id under a random per-process key.
import { createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';

/** Escapes everything that is not a printable character as \xNN or \u{...}. */
export function printable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffd]/gu, (c) => {
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });
}

export interface NamePolicy {
  /** Base names that may be shown as they are. */
  safe: RegExp;
  /** The secret behind the keyed ids. */
  key: Buffer;
}

export const DEFAULT_SAFE_NAMES = /^events_[0-9_-]+\.csv$/u;
/** What a keyed id looks like (so an id shown once is shown the same way again). */
export const KEYED_NAME = /^file-[0-9a-f]{12}$/;

let policy: NamePolicy = { safe: DEFAULT_SAFE_NAMES, key: randomBytes(32) };

export function setNamePolicy(p: NamePolicy): void {
  policy = p;
}

export function namePolicy(): NamePolicy {
  return policy;
}

/** The keyed id of a name: `file-` + 12 hex digits of HMAC(key, "medetl file name\0" + name). */
export function keyedName(name: string, key: Buffer = policy.key): string {
  return `file-${createHmac('sha256', key).update('medetl file name\0').update(name, 'utf8').digest('hex').slice(0, 12)}`;
}

/** A base name as it may be printed: itself (escaped) when safe, else its keyed id. */
export function safeName(name: string, p: NamePolicy = policy): string {
  const base = path.basename(name);
  if (KEYED_NAME.test(base)) return base;
  return p.safe.test(base) ? printable(base) : keyedName(base, p.key);
}

/** A path as it may be printed: the folder as it is (escaped), the base name through safeName(). */
export function safePath(file: string, p: NamePolicy = policy): string {
  return path.join(printable(path.dirname(file)), safeName(path.basename(file), p));
}
