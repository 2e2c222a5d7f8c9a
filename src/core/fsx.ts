// File-system helpers that behave the same on Windows and POSIX.
import { createHash } from 'node:crypto';
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

/** Most file systems allow 255 bytes per name (UTF-8 on Linux, UTF-16 units on Windows: bytes are the stricter). */
export const NAME_MAX_BYTES = 255;

/** Cut a string to at most `bytes` UTF-8 bytes without splitting a character. */
function cutBytes(s: string, bytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (used + n > bytes) break;
    out += ch;
    used += n;
  }
  return out;
}

/**
 * A name that leaves room for `reserve` more bytes (a suffix such as `.reason.json`, `.1`, `.<pid>.tmp`): long names
 * keep their start and extension with a short hash of the whole name between, so two long names stay apart.
 */
export function boundedName(base: string, reserve = 32): string {
  const limit = NAME_MAX_BYTES - reserve;
  if (Buffer.byteLength(base) <= limit) return base;
  const ext = path.extname(base).length <= 16 ? path.extname(base) : '';
  const tag = `~${createHash('sha256').update(base).digest('hex').slice(0, 10)}`;
  return `${cutBytes(base.slice(0, base.length - ext.length), limit - Buffer.byteLength(tag + ext))}${tag}${ext}`;
}

/**
 * A destination name that does not exist yet: `name`, then `name.1`, `name.2`... before the extension. Bounded, with
 * room for `reserve` more bytes that the caller will append (a `.reason.json` beside it, say).
 */
export async function freeName(dir: string, name: string, reserve = 0): Promise<string> {
  const base = boundedName(name, reserve + 8);
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

/** Write a whole file under a temporary name (short, whatever the name's length), flush it, then rename it into place. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tag = createHash('sha256').update(path.basename(file)).digest('hex').slice(0, 12);
  const tmp = path.join(path.dirname(file), `.${tag}.${process.pid}.tmp`);
  await writeFileSynced(tmp, data);
  await retryFs(() => fs.rename(tmp, file));
}
