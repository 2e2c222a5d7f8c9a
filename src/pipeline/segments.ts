// A file as consecutive segments: each at most `maxRows` records, cut only at a record boundary (a newline outside
// quotes, found by quote parity on the raw bytes), so a file of any size goes through in bounded memory, one batch
// per segment. One pass over the file: one tokenizer (line numbers stay the file's own), one running SHA-256 whose
// state is copied at every cut, so each segment is named by the digest of the file's bytes [0, endOffset).
//
// Cuts also fall on `cutAt` offsets when they are record boundaries of this file: the ends of segments committed
// earlier (a file that grew, or a big file whose load was interrupted), so those segments hash the same as before
// and the ledger finds them committed.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { abortError } from '../core/errors.js';
import { CsvTokenizer, HEAD_BYTES, type RecordSink } from './read.js';

export interface FileSegment {
  /** 0 for the first segment of the file. */
  index: number;
  startOffset: number;
  endOffset: number;
  /** SHA-256 of the file's bytes [0, endOffset) (hex; unkeyed: the runner keys it). */
  prefixSha256: string;
  /** Whether this segment ends at the end of the file. */
  last: boolean;
}

export interface SegmentOptions {
  maxRows: number;
  /** Byte offsets to cut at when they fall on a record boundary (ends of earlier segments). */
  cutAt?: readonly number[];
  signal?: AbortSignal;
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

/** SHA-256 of the file's first HEAD_BYTES bytes (or the whole file when smaller): names the file's start. */
export async function headSha256(file: string): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, HEAD_BYTES - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === HEAD_BYTES) break;
    }
    return createHash('sha256').update(buf.subarray(0, n)).digest('hex');
  } finally {
    await fh.close();
  }
}

const NL = 10;
const QUOTE = 34;

/** Finds record boundaries in raw bytes by quote parity ("" inside a quoted field toggles twice). */
export class BoundaryScanner {
  private inQuote = false;
  private ti = 0;
  /** Newlines outside quotes since the last cut (records, counting a blank line or the header as one). */
  records = 0;

  constructor(private readonly targets: readonly number[] = []) {}

  /**
   * The index just after the newline at which to cut, scanning buf[from..), or -1 when there is none in this buffer.
   * `base` is the absolute offset of buf[0]; `wantRecords` cuts after that many records; the targets (ascending
   * absolute offsets) cut where they are record boundaries.
   */
  next(buf: Buffer, from: number, base: number, wantRecords: number): number {
    let i = from;
    let q = -2; // next quote at or after i, -1: none; -2: not looked up
    const len = buf.length;
    while (i < len) {
      if (this.inQuote) {
        const close = buf.indexOf(QUOTE, i);
        if (close === -1) return -1;
        this.inQuote = false;
        i = close + 1;
        q = -2;
        continue;
      }
      const nl = buf.indexOf(NL, i);
      if (q === -2 || (q !== -1 && q < i)) q = buf.indexOf(QUOTE, i);
      if (q !== -1 && (nl === -1 || q < nl)) {
        this.inQuote = true;
        i = q + 1;
        continue;
      }
      if (nl === -1) return -1;
      i = nl + 1;
      this.records++;
      const abs = base + i;
      while (this.ti < this.targets.length && this.targets[this.ti]! < abs) this.ti++;
      if (this.records >= wantRecords || this.targets[this.ti] === abs) return i;
    }
    return -1;
  }
}

/**
 * Stream `file` through one tokenizer, yielding after each segment once every record of it has been handed to
 * `onRecord`. The stream is paused while the consumer works on a segment, so memory is one segment's batch.
 * An empty file yields one empty segment.
 */
export async function* readSegments(file: string, onRecord: RecordSink, opts: SegmentOptions): AsyncGenerator<FileSegment> {
  const total = (await stat(file)).size;
  const targets = [...new Set(opts.cutAt ?? [])].filter((t) => t > 0 && t < total).sort((a, b) => a - b);
  const hash: Hash = createHash('sha256');
  let decoder = new StringDecoder('utf8');
  const tok = new CsvTokenizer(onRecord);
  const scanner = new BoundaryScanner(targets);
  let offset = 0; // bytes fed so far
  let segStart = 0;
  let index = 0;
  const cut = (last: boolean): FileSegment => {
    const seg = { index, startOffset: segStart, endOffset: offset, prefixSha256: hash.copy().digest('hex'), last };
    index++;
    segStart = offset;
    scanner.records = 0;
    return seg;
  };
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (opts.signal?.aborted) throw abortError();
      let pos = 0;
      while (pos < chunk.length) {
        // Records wanted: the header counts as one in the first segment.
        const at = scanner.next(chunk, pos, offset - pos, opts.maxRows + (index === 0 ? 1 : 0));
        const end = at === -1 ? chunk.length : at;
        const piece = chunk.subarray(pos, end);
        hash.update(piece);
        offset += piece.length;
        tok.push(decoder.write(piece));
        pos = end;
        if (at !== -1 && offset < total) {
          // A cut falls on a newline: the decoder holds no partial character, the tokenizer no partial record.
          decoder = new StringDecoder('utf8');
          yield cut(false);
          if (opts.signal?.aborted) throw abortError();
        }
      }
      opts.onProgress?.(offset, total);
    }
    tok.push(decoder.end());
    tok.end();
    if (offset > segStart || index === 0) yield cut(true);
  } finally {
    stream.destroy();
  }
}
