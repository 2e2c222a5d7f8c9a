// The events file: CSV text for the mapped rows, written under a dot-prefixed .tmp name in the
// target folder and renamed into place (the watcher ignores dotfiles and *.tmp), with retries
// for Windows, where a scanner or the watcher may hold the file for a moment.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ensureDir, moveFile, retryFs } from '../core/fsx.js';
import { csvLine } from './csv.js';
import { eventsFileName } from './stamp.js';

export interface EventsText {
  text: string;
  /** Physical line (1-based, header = 1) where each data row starts. */
  lines: number[];
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/** CSV text for a header and rows, quoting fields only when needed; LF line ends. */
export function formatEvents(header: readonly string[], rows: readonly (readonly string[])[]): EventsText {
  const head = csvLine(header);
  const parts = [head];
  const lines: number[] = [];
  let line = 1 + countNewlines(head);
  for (const r of rows) {
    const l = csvLine(r);
    lines.push(line);
    line += countNewlines(l);
    parts.push(l);
  }
  return { text: parts.join(''), lines };
}

/** Write `text` to `file` via `.<name>.tmp` in the same folder, flushed, then renamed into place. */
export async function writeViaTmp(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  ensureDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp`);
  const fh = await retryFs(() => fs.open(tmp, 'w'));
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await moveFile(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Write an events file `events_<stamp>_<seq>.csv` into `dir`; returns its path. */
export async function writeEventsFile(dir: string, stamp: string, seq: number, text: string): Promise<string> {
  const file = path.join(dir, eventsFileName(stamp, seq));
  await writeViaTmp(file, text);
  return file;
}
