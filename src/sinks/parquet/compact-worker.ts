// The compaction thread (see compactOffThread in compact.ts): one job, one reply, then it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { compactFiles, type CompactJob } from './compact.js';
import { UnreadablePartError } from './read.js';

const job = workerData as CompactJob;
compactFiles(job.parts, job.outFile, job.compression).then(
  (r) => parentPort?.postMessage({ ok: true, parts: r.parts, rows: r.rows }),
  (err: unknown) =>
    parentPort?.postMessage({
      ok: false,
      // an unreadable part keeps its name across the thread boundary (compact reports it, exit 5)
      ...(err instanceof UnreadablePartError ? { error: err.message, file: err.file } : { error: err instanceof Error ? err.message : String(err) }),
    }),
);
