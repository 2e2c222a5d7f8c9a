// Which names in incoming/ are events files, and a listing of them oldest first.
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** A file in incoming/ as one stat saw it. */
export interface Candidate {
  path: string;
  name: string;
  size: number;
  mtimeMs: number;
}

/** Suffixes that downloaders, editors and copy tools use while a file is still being written. */
const TEMP_SUFFIXES = ['.tmp', '.part', '.partial', '.crdownload', '.filepart', '.swp', '~'];

/** Names a producer uses while writing: never read, whatever the glob says. */
export function isTempName(name: string): boolean {
  const lower = name.toLowerCase();
  return name.startsWith('.') || TEMP_SUFFIXES.some((s) => lower.endsWith(s));
}

/** Case-insensitive where the file system usually is (Windows, macOS). */
const CASE_INSENSITIVE = process.platform === 'win32' || process.platform === 'darwin';

/** A file-name pattern with `*` (any run of characters) and `?` (one character); everything else is literal. */
export function compileGlob(glob: string, caseInsensitive = CASE_INSENSITIVE): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '[^/\\\\]*';
    else if (ch === '?') re += '[^/\\\\]';
    else re += ch.replace(/[.+^${}()|[\]\\\-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, caseInsensitive ? 'i' : '');
}

/** The name filter of the watcher and of every scan. */
export function nameFilter(glob: string): (name: string) => boolean {
  const re = compileGlob(glob);
  return (name) => !isTempName(name) && re.test(name);
}

/** Oldest first: modification time, then name. */
export function byAge(a: Pick<Candidate, 'mtimeMs' | 'name'>, b: Pick<Candidate, 'mtimeMs' | 'name'>): number {
  if (a.mtimeMs !== b.mtimeMs) return a.mtimeMs - b.mtimeMs;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A name whose bytes are not valid UTF-8, with each invalid byte written as `%XX` (valid text is kept). */
export function utf8SafeName(raw: Buffer): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    // the longest valid UTF-8 sequence at i (1-4 bytes), else one invalid byte
    let taken = 0;
    for (let len = 1; len <= 4 && i + len <= raw.length; len++) {
      const piece = raw.subarray(i, i + len);
      if (Buffer.from(piece.toString('utf8'), 'utf8').equals(piece)) taken = len;
      if (taken) break;
    }
    if (taken) {
      out += raw.subarray(i, i + taken).toString('utf8');
      i += taken;
    } else {
      out += `%${raw[i].toString(16).toUpperCase().padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

/**
 * Files whose names are not valid UTF-8 cannot be opened by their decoded name (it holds U+FFFD where the bytes
 * were): each one that would match is renamed in place to its `%XX` form, so it is processed like any other file
 * instead of being skipped without a word. Returns how many were renamed.
 */
export async function renameInvalidNames(dir: string, accept: (name: string) => boolean, onRenamed?: (to: string) => void): Promise<number> {
  let raw: Buffer[];
  try {
    raw = await fs.readdir(dir, { encoding: 'buffer' });
  } catch {
    return 0;
  }
  let renamed = 0;
  const dirBytes = Buffer.from(dir + path.sep);
  for (const nameBytes of raw) {
    const decoded = nameBytes.toString('utf8');
    if (Buffer.from(decoded, 'utf8').equals(nameBytes)) continue;
    const safe = utf8SafeName(nameBytes);
    if (!accept(decoded) && !accept(safe)) continue;
    const to = path.join(dir, safe);
    try {
      await fs.access(to);
      continue; // a file of that name exists: leave both, the next scan tries again after it is gone
    } catch {
      // free
    }
    try {
      await fs.rename(Buffer.concat([dirBytes, nameBytes]), to);
      renamed++;
      onRenamed?.(safe);
    } catch {
      // gone or held: the next scan sees it again
    }
  }
  return renamed;
}

export interface ScanResult {
  /** At most `limit` files, oldest first. */
  files: Candidate[];
  /** Matching regular files seen (skipped ones included), to tell "empty" from "more than fits". */
  matched: number;
}

/**
 * List the events files directly in `dir` (no subfolders), oldest first. Names for which `skip` returns true
 * are counted but not stat'ed (already queued, or parked). A file that vanishes mid-scan is left out.
 */
export async function scanIncoming(
  dir: string,
  accept: (name: string) => boolean,
  opts: { limit?: number; skip?: (file: string) => boolean } = {},
): Promise<ScanResult> {
  const { limit = Infinity, skip } = opts;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { files: [], matched: 0 };
    throw err;
  }
  const files: Candidate[] = [];
  let matched = 0;
  for (const e of entries) {
    if (!(e.isFile() || e.isSymbolicLink()) || !accept(e.name)) continue;
    const file = path.join(dir, e.name);
    if (skip?.(file)) {
      matched++;
      continue;
    }
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) continue;
      matched++;
      files.push({ path: file, name: e.name, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // gone between readdir and stat, or unreadable: the next scan sees it again if it is still there
    }
  }
  files.sort(byAge);
  if (files.length > limit) files.length = limit;
  return { files, matched };
}
