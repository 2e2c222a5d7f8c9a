// File-system helpers that behave the same on Windows and POSIX.
import { promises as fs, mkdirSync } from 'node:fs';
import path from 'node:path';

import { retry } from './retry.js';

/** What Windows (or a virus scanner, or Power BI) reports while it holds a file open. */
const HELD_OPEN = new Set(['EBUSY', 'EPERM', 'EACCES', 'EMFILE', 'ENFILE']);

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

/** Retry an fs operation while Windows (or a scanner, or Power BI) holds the file open. */
export function retryFs<T>(op: () => Promise<T>, attempts = 8, firstDelayMs = 25): Promise<T> {
  return retry(op, { attempts, baseMs: firstDelayMs, maxMs: 2000, retryable: (err) => HELD_OPEN.has((err as NodeJS.ErrnoException).code ?? '') });
}

/** Rename with retries; across volumes (EXDEV) fall back to copy + remove. */
export async function moveFile(from: string, to: string): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true });
  try {
    await retryFs(() => fs.rename(from, to));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await retryFs(() => fs.copyFile(from, to));
    await retryFs(() => fs.rm(from, { force: true }));
  }
}

/** A destination name that does not exist yet: `name`, then `name.1`, `name.2`... before the extension. */
export async function freeName(dir: string, base: string): Promise<string> {
  const ext = path.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  for (let i = 0; ; i++) {
    const candidate = path.join(dir, i === 0 ? base : `${stem}.${i}${ext}`);
    try {
      await fs.access(candidate);
    } catch {
      return candidate;
    }
  }
}

/** Write a whole file and flush it to disk before returning. */
export async function writeFileSynced(file: string, data: string | Uint8Array): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write a whole file under a temporary name, flush it, then rename it into place. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFileSynced(tmp, data);
  await retryFs(() => fs.rename(tmp, file));
}
