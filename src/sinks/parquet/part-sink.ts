// The Parquet file sink: one immutable part per batch under masked_out/parts/, so appending batch N costs O(batch).
// Staged as parts/part-<batch_id>.parquet.tmp while the store's transaction is open, fsynced before the commit,
// renamed into place after it. Recovery (only in the one writer that may run it) publishes the parts of committed
// batches and deletes those of abandoned ones.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { retryFs } from '../../core/fsx.js';
import type { Logger } from '../../ops/log.js';
import type { MaskedBatch } from '../../pipeline/deid.js';
import type { StagedFate } from '../../stores/store.js';
import type { FileSink, RecoveryReport, StagedFiles } from '../file-sink.js';
import type { ParquetCompression } from './encode.js';
import { openPart } from './encoder.js';

export const PART_PREFIX = 'part-';
export const PART_SUFFIX = '.parquet';
export const TMP_SUFFIX = '.tmp';
export const PARTS_FOLDER = 'parts';

export function partName(batchId: string): string {
  return `${PART_PREFIX}${batchId}${PART_SUFFIX}`;
}


async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

export class ParquetPartSink implements FileSink {
  readonly name = 'parquet';

  constructor(
    /** masked_out/ */
    private readonly outDir: string,
    private readonly compression: ParquetCompression,
    private readonly log: Logger,
  ) {}

  private get partsDir(): string {
    return path.join(this.outDir, PARTS_FOLDER);
  }

  stage(batchId: string): StagedFiles {
    const final = path.join(this.partsDir, partName(batchId));
    const tmp = final + TMP_SUFFIX;
    let writer: ReturnType<typeof openPart> | null = null;
    const open = async () => {
      if (!writer) {
        await fs.mkdir(this.partsDir, { recursive: true });
        writer = openPart(tmp, this.compression);
      }
      return writer;
    };
    return {
      write: async (b: MaskedBatch, from: number, to: number) => (await open()).write(b, from, to),
      seal: async () => {
        await (await open()).finish();
        return [path.posix.join(PARTS_FOLDER, partName(batchId))];
      },
      publish: async () => {
        if (await exists(tmp)) await retryFs(() => fs.rename(tmp, final));
        else if (!(await exists(final))) throw new Error(`part ${partName(batchId)} is neither staged nor published`);
      },
      abort: async () => {
        if (writer) await writer.abort();
        await fs.rm(tmp, { force: true });
      },
    };
  }

  async stagedBatchIds(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.partsDir);
    } catch {
      return [];
    }
    const tail = PART_SUFFIX + TMP_SUFFIX;
    return names.filter((n) => n.startsWith(PART_PREFIX) && n.endsWith(tail)).map((n) => n.slice(PART_PREFIX.length, -tail.length));
  }

  async recover(fates: ReadonlyMap<string, StagedFate>): Promise<RecoveryReport> {
    const report: RecoveryReport = { published: 0, deleted: 0, leftInFlight: 0 };
    for (const [batchId, fate] of fates) {
      const final = path.join(this.partsDir, partName(batchId));
      const tmp = final + TMP_SUFFIX;
      if (fate === 'committed') {
        await retryFs(() => fs.rename(tmp, final));
        report.published++;
        this.log.info({ event: 'recovery_part_renamed', batch_id: batchId }, 'committed batch: part renamed into place');
      } else if (fate === 'abandoned') {
        await fs.rm(tmp, { force: true });
        report.deleted++;
        this.log.info({ event: 'recovery_part_deleted', batch_id: batchId }, 'uncommitted batch: temporary part deleted');
      } else report.leftInFlight++;
    }
    return report;
  }
}
