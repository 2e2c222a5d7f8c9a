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
