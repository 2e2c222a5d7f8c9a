// The Parquet encoder thread (see stagePart in parquet.ts): columns in, an fsynced file out.
import { parentPort } from 'node:worker_threads';
import { toArrow, writeParquetFile, type MaskedColumns, type ParquetCompression } from './parquet.js';

parentPort?.on('message', async (m: { id: number; file: string; compression: ParquetCompression; columns: MaskedColumns }) => {
  try {
    await writeParquetFile(m.file, toArrow(m.columns), m.compression);
    parentPort?.postMessage({ id: m.id });
  } catch (err) {
    parentPort?.postMessage({ id: m.id, error: (err as Error).message });
  }
});
