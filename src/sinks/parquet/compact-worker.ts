// The compaction thread (see compactOffThread in compact.ts): one job, one reply, then it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { compactFiles, type CompactJob, type CompactProgress } from './compact.js';
import { UnreadablePartError } from './read.js';

const job = workerData as CompactJob & { progress?: boolean };
// Progress at most every 100 ms (and at the end of each part), so a store of many small parts does not flood the port.
let last = 0;
const onProgress = job.progress
  ? (p: CompactProgress) => {
      const now = Date.now();
      if (now - last < 100 && p.partsDone < p.parts) return;
      last = now;
      parentPort?.postMessage({ progress: p });
    }
  : undefined;
compactFiles(job.parts, job.outFile, job.compression, onProgress).then(
  (r) => parentPort?.postMessage({ ok: true, parts: r.parts, rows: r.rows }),
  (err: unknown) =>
    parentPort?.postMessage({
      ok: false,
      // an unreadable part keeps its name across the thread boundary (compact reports it, exit 5)
      ...(err instanceof UnreadablePartError ? { error: err.message, file: err.file } : { error: err instanceof Error ? err.message : String(err) }),
    }),
);
