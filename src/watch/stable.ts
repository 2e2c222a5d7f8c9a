// "Is this file finished?" A file is read only after its size and mtime held still for stable_ms, seen by two
// stats at least that far apart. chokidar's awaitWriteFinish is not enough: it skips files present at start.
// A file whose last byte is not a newline (or that is empty) looks cut mid-line, as a writer flushing a buffer
// leaves it: it must hold still four times as long.
import { promises as fs } from 'node:fs';

export interface FileState {
  size: number;
  mtimeMs: number;
  /** When this size and mtime were first seen (ms, same clock as `now`). */
  since: number;
  /** Whether the file ends with a newline; undefined until read. */
  endsWithNewline?: boolean;
}

export type Verdict =
  | { kind: 'stable' }
  /** Look again at `checkAt`. */
  | { kind: 'settling'; checkAt: number; state: FileState };

/** How long a file must hold still: stable_ms, or four times that when it looks cut mid-line. */
export function quietNeeded(state: Pick<FileState, 'size' | 'endsWithNewline'>, stableMs: number): number {
  const looksCut = state.size === 0 || state.endsWithNewline === false;
  return looksCut ? stableMs * 4 : stableMs;
}

/**
 * Compare a new look at a file (stat and last byte) with the previous one. Pure: the caller does the I/O.
 */
export function judge(prev: FileState | undefined, cur: { size: number; mtimeMs: number; endsWithNewline?: boolean }, now: number, stableMs: number): Verdict {
  if (!prev || prev.size !== cur.size || prev.mtimeMs !== cur.mtimeMs) {
    const state: FileState = { size: cur.size, mtimeMs: cur.mtimeMs, since: now, endsWithNewline: cur.endsWithNewline };
    return { kind: 'settling', checkAt: now + quietNeeded(state, stableMs), state };
  }
  const state: FileState = { ...prev, endsWithNewline: cur.endsWithNewline ?? prev.endsWithNewline };
  const due = state.since + quietNeeded(state, stableMs);
  if (now >= due) return { kind: 'stable' };
  return { kind: 'settling', checkAt: due, state };
}

/** Whether the last byte of the file is `\n` (false for an empty file). */
export async function endsWithNewline(file: string, size: number): Promise<boolean> {
  if (size === 0) return false;
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(1);
    const { bytesRead } = await fh.read(buf, 0, 1, size - 1);
    return bytesRead === 1 && buf[0] === 0x0a;
  } finally {
    await fh.close();
  }
}
