// medetl compact: every part in one file (masked_out/cleaned.parquet), for Power BI's Parquet connector.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pidAlive } from '../../core/lock.js';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import { retryFs, writeFileSynced } from '../../core/fsx.js';
import { emptyMaskedBatch } from '../../pipeline/deid.js';
import { encodeParquet, initWasm, pipeEncoded, toArrow, writerProperties, type ParquetCompression } from './encode.js';
import { listParts, partBatches } from './read.js';
import { TMP_SUFFIX } from './part-sink.js';

/** `cleaned.parquet.<pid>.tmp` left by a compaction that was killed: removed when that pid is gone. */
async function removeDeadTemps(outFile: string): Promise<void> {
  const dir = path.dirname(outFile);
  const prefix = `${path.basename(outFile)}.`;
  let names: string[] = [];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d+)\.tmp$/.exec(n.slice(prefix.length)) : null;
    if (m && (Number(m[1]) === process.pid || !pidAlive(Number(m[1])))) await fs.rm(path.join(dir, n), { force: true });
  }
}

/**
 * One Parquet file with every part's rows, for Power BI's Parquet connector. Streams one row group at a time (memory
 * bounded whatever the parts' sizes), writes a temporary file, then renames it into place. A part that cannot be read
 * stops it with an UnreadablePartError naming the part; cleaned.parquet is then left as it was.
 */
export async function compactParts(partsDir: string, outFile: string, compression: ParquetCompression): Promise<{ parts: number; rows: number }> {
  initWasm();
  await removeDeadTemps(outFile);
  const parts = await listParts(partsDir);
  let rows = 0;
  let k = 0;
  let current: AsyncGenerator<pw.RecordBatch> | null = null;
  let pullError: unknown = null; // the reader's own error (it names the part), not what the encoder makes of it
  const source = new ReadableStream<pw.RecordBatch>({
    async pull(controller) {
      for (;;) {
        if (!current) {
          if (k >= parts.length) return controller.close();
          current = partBatches(parts[k++]);
        }
        let next: IteratorResult<pw.RecordBatch>;
        try {
          next = await current.next();
        } catch (err) {
          pullError = err;
          throw err;
        }
        if (next.done) {
          current = null;
          continue;
        }
        rows += next.value.numRows;
        return controller.enqueue(next.value);
      }
    },
  });
  const tmp = `${outFile}.${process.pid}${TMP_SUFFIX}`;
  if (parts.length === 0) {
    await writeFileSynced(tmp, encodeParquet(toArrow(emptyMaskedBatch('empty')), compression));
  } else {
    try {
      await pipeEncoded(await pw.transformParquetStream(source, writerProperties(compression)), tmp);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw pullError ?? err;
    }
  }
  await retryFs(() => fs.rename(tmp, outFile));
  return { parts: parts.length, rows };
}
