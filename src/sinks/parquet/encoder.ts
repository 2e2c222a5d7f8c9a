// The Parquet encoder thread: one per process, started on first use, so Parquet encoding overlaps the store's
// inserts on the main thread. Falls back to encoding inline when running from TypeScript sources (tests).
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MaskedBatch } from '../../pipeline/deid.js';
import { PartEncoder, sliceColumns, type MaskedColumns, type ParquetCompression } from './encode.js';

/** Encoder thread: one per process, started on first use, so Parquet encoding overlaps SQLite inserts. */
let worker: Worker | null = null;
let nextJob = 0;
const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));

function encoderThread(): Worker | null {
  if (worker) return worker;
  if (!existsSync(workerFile)) return null; // running from TypeScript sources (tests): encode inline
  const w = new Worker(workerFile);
  worker = w;
  w.unref();
  w.on('message', (m: { id: number; error?: string; code?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    // The code (ENOSPC, EROFS...) travels with the error: a full disk is the machine's fault, not the file's.
    if (m.error) p.reject(Object.assign(new Error(`parquet encoder: ${m.error}`), m.code ? { code: m.code } : {}));
    else p.resolve();
  });
  w.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = null;
  });
  return w;
}

export type EncoderMessage =
  | { type: 'open'; id: number; file: string; compression: ParquetCompression }
  | { type: 'rows'; id: number; columns: MaskedColumns }
  | { type: 'finish'; id: number }
  | { type: 'abort'; id: number };

/** A part under its temporary name, written row group by row group. */
export interface PartWriter {
  readonly tmp: string;
  /** Queue rows [from, to) of the batch for encoding; returns at once. */
  write(b: MaskedBatch, from: number, to: number): void;
  /** All rows written: flush and fsync the temporary file. */
  finish(): Promise<string>;
  /** Give up: the temporary file is removed. */
  abort(): Promise<void>;
}

export function openPart(tmp: string, compression: ParquetCompression): PartWriter {
  const w = encoderThread();
  if (!w) {
    const enc = new PartEncoder(tmp, compression);
    return {
      tmp,
      write: (b, from, to) => enc.push(sliceColumns(b, from, to)),
      finish: async () => (await enc.finish(), tmp),
      abort: () => enc.abort(),
    };
  }
  const id = nextJob++;
  const done = new Promise<void>((resolve, reject) => pending.set(id, { resolve, reject }));
  done.catch(() => undefined);
  w.ref();
  w.postMessage({ type: 'open', id, file: tmp, compression } satisfies EncoderMessage);
  return {
    tmp,
    write: (b, from, to) => w.postMessage({ type: 'rows', id, columns: sliceColumns(b, from, to) } satisfies EncoderMessage),
    finish: async () => {
      w.postMessage({ type: 'finish', id } satisfies EncoderMessage);
      await done;
      return tmp;
    },
    abort: async () => {
      w.postMessage({ type: 'abort', id } satisfies EncoderMessage);
      await done.catch(() => undefined);
      await fs.rm(tmp, { force: true });
    },
  };
}

