// Config guards that keep raw data out of the release: every raw-data folder (incoming, archive, quarantine,
// synthea_stream, the private state, logs, and the folder holding .env) must lie outside masked_out/, and
// none of them may be masked_out/ itself (masked_out/ may lie inside a raw folder: that leaks nothing). Compared as resolved real paths (symlinks followed on the
// nearest existing ancestor), never as string prefixes: `masked_out/..raw` is inside masked_out/.
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

/** The real path of `p`: symlinks resolved on its nearest existing ancestor, the missing rest appended. */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      const real = realpathSync.native(cur);
      return missing.length ? path.join(real, ...missing.reverse()) : real;
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      missing.push(path.basename(cur));
      cur = parent;
    }
  }
}

const fold = (p: string) => (process.platform === 'win32' || process.platform === 'darwin' ? p.toLowerCase() : p);

/** Whether `inner` is `outer` or lies below it (both real paths). Segment by segment, not by string prefix. */
export function isWithin(inner: string, outer: string): boolean {
  const rel = path.relative(fold(outer), fold(inner));
  if (rel === '') return true;
  if (path.isAbsolute(rel)) return false; // another drive (Windows)
  return rel.split(path.sep)[0] !== '..';
}

export interface ReleasePaths {
  root: string;
  maskedOut: string;
  incoming: string;
  archive: string;
  quarantine: string;
  syntheaStream: string;
  state: string;
  logs: string;
}

/** Throws a ConfigError naming the first raw-data path that is, holds or lies inside masked_out/. */
export function assertRawPathsOutsideRelease(p: ReleasePaths): void {
  const out = realPathOf(p.maskedOut);
  const raw: [string, string][] = [
    ['paths.incoming', p.incoming],
    ['paths.archive', p.archive],
    ['paths.quarantine', p.quarantine],
    ['paths.synthea_stream', p.syntheaStream],
    ['paths.state', p.state],
    ['paths.logs', p.logs],
  ];
  // The project root holds .env (the key) and the config: masked_out/ may sit below it, never be it or above it.
  const root = realPathOf(p.root);
  if (isWithin(root, out)) {
    throw new ConfigError(`paths.masked_out (${out}) is the folder holding .env and config.yaml, or contains it: choose a folder of its own, such as masked_out`);
  }
  for (const [key, dir] of raw) {
    const real = realPathOf(dir);
    if (isWithin(real, out)) {
      throw new ConfigError(`${key} (${real}) is inside paths.masked_out (${out}): it holds raw data or private state, which must never be in the release folder`);
    }
  }
}

let warnedEnv = false;

/** A .env that group or others may read: warn once on stderr (POSIX mode bits; not on Windows). */
export function warnIfEnvReadable(envFile: string, write: (s: string) => void = (s) => process.stderr.write(s)): boolean {
  if (process.platform === 'win32' || warnedEnv) return false;
  let mode: number;
  try {
    mode = statSync(envFile).mode;
  } catch {
    return false;
  }
  if ((mode & 0o077) === 0) return false;
  warnedEnv = true;
  write(`medetl: warning: ${envFile} is readable or writable by other users (mode ${(mode & 0o777).toString(8)}); it holds the key: chmod 600 ${envFile}\n`);
  return true;
}

/** Tests: warn again. */
export function resetEnvWarning(): void {
  warnedEnv = false;
}
