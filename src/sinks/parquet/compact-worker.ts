// The compaction thread (see compactOffThread in compact.ts): one job, one reply, then it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { compactFiles, type CompactJob } from './compact.js';

const job = workerData as CompactJob;
compactFiles(job.parts, job.outFile, job.compression).then(
  (r) => parentPort?.postMessage({ ok: true, parts: r.parts, rows: r.rows }),
  (err: unknown) => parentPort?.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
);
