// medetl compact: every part in one file (masked_out/cleaned.parquet), for Power BI's Parquet connector.
import { promises as fs } from 'node:fs';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import { retryFs, writeFileSynced } from '../../core/fsx.js';
import { emptyMaskedBatch } from '../../pipeline/deid.js';
import { encodeParquet, initWasm, pipeEncoded, toArrow, writerProperties, type ParquetCompression } from './encode.js';
import { listParts } from './read.js';
import { TMP_SUFFIX } from './part-sink.js';

/**
 * One Parquet file with every part's rows, for Power BI's Parquet connector. Streams part by part
 * (memory bounded by the largest part), writes a temporary file, then renames it into place.
 */
export async function compactParts(partsDir: string, outFile: string, compression: ParquetCompression): Promise<{ parts: number; rows: number }> {
  initWasm();
  const parts = await listParts(partsDir);
  let rows = 0;
  let k = 0;
  const source = new ReadableStream({
    async pull(controller) {
      if (k >= parts.length) {
        controller.close();
        return;
      }
      const table = pw.readParquet(await fs.readFile(parts[k++]));
      for (const batch of table.recordBatches()) {
        rows += batch.numRows;
        controller.enqueue(batch);
      }
    },
  });
  const tmp = `${outFile}.${process.pid}${TMP_SUFFIX}`;
  if (parts.length === 0) {
    await writeFileSynced(tmp, encodeParquet(toArrow(emptyMaskedBatch('empty')), compression));
  } else {
    await pipeEncoded(await pw.transformParquetStream(source, writerProperties(compression)), tmp);
  }
  await retryFs(() => fs.rename(tmp, outFile));
  return { parts: parts.length, rows };
}
