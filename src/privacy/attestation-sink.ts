// The attestation file sink: masked_out/attestations/<batch_id>.json, staged as <batch_id>.json.tmp while the batch
// transaction is open, fsynced before the commit, renamed after it; recovery publishes the committed and deletes
// the abandoned, like the Parquet part sink. The runner hands it the document (stageDocument): it writes no rows.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { retryFs, writeFileSynced } from '../core/fsx.js';
import type { Logger } from '../ops/log.js';
import type { MaskedBatch } from '../pipeline/deid.js';
import type { FileSink, RecoveryReport, StagedFiles } from '../sinks/file-sink.js';
import type { StagedFate } from '../stores/store.js';

export const ATTESTATIONS_FOLDER = 'attestations';
const TMP = '.tmp';

export function attestationName(batchId: string): string {
  return `${batchId}.json`;
}

export class AttestationSink implements FileSink {
  readonly name = 'attestations';

  constructor(
    /** masked_out/attestations */
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  stage(batchId: string): StagedFiles {
    throw new Error(`the attestation of ${batchId} is staged with stageDocument()`);
  }

  stageDocument(batchId: string, json: string): StagedFiles {
    const final = path.join(this.dir, attestationName(batchId));
    const tmp = final + TMP;
    return {
      write: async (_b: MaskedBatch, _from: number, _to: number) => undefined,
      seal: async () => {
        await fs.mkdir(this.dir, { recursive: true });
        await writeFileSynced(tmp, json);
        // Not listed among the batch's files: its name is fixed by the batch id (verify checks parts only).
        return [];
      },
      publish: async () => {
        const has = (f: string) => fs.access(f).then(() => true, () => false);
        if (await has(tmp)) await retryFs(() => fs.rename(tmp, final));
        else if (!(await has(final))) throw new Error(`attestation ${attestationName(batchId)} is neither staged nor published`);
      },
      abort: async () => {
        await fs.rm(tmp, { force: true });
      },
    };
  }

  async stagedBatchIds(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const tail = `.json${TMP}`;
    return names.filter((n) => n.endsWith(tail)).map((n) => n.slice(0, -tail.length));
  }

  async recover(fates: ReadonlyMap<string, StagedFate>): Promise<RecoveryReport> {
    const report: RecoveryReport = { published: 0, deleted: 0, leftInFlight: 0 };
    for (const [batchId, fate] of fates) {
      const final = path.join(this.dir, attestationName(batchId));
      if (fate === 'committed') {
        await retryFs(() => fs.rename(final + TMP, final));
        report.published++;
        this.log.info({ event: 'recovery_attestation_renamed', batch_id: batchId });
      } else if (fate === 'abandoned') {
        await fs.rm(final + TMP, { force: true });
        report.deleted++;
      } else report.leftInFlight++;
    }
    return report;
  }
}
