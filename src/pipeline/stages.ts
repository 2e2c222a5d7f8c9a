// The one order of the pure stages, used by the runner (src/runner.ts) and by `medetl score` (feed/score.ts):
//   schema (read.ts + schema.ts) -> duplicates within the batch -> [the store drops cross-batch duplicates]
//   -> clean (ZIPs, out-of-range vitals) -> qc (outlier fences, cross-field rules, metrics).
// De-identification (deid.ts) follows, and is the only way to a MaskedBatch.
import type { Config } from '../config/load.js';
import { cleanZips, clipVitals, countRowsWith, dropDuplicateEvents } from './clean.js';
import { qc } from './qc.js';
import { CLIP_BITS, type ColumnMetrics, type RawBatch } from './types.js';

export type StageConfig = Pick<Config, 'clean' | 'outliers' | 'rules'>;

/** Duplicate events within the batch (same patient, instant and values as read): the first is kept. */
export function dropDuplicatesWithin(b: RawBatch): { batch: RawBatch; duplicates: number } {
  return dropDuplicateEvents(b);
}

export interface CheckedBatch {
  batch: RawBatch;
  metrics: ColumnMetrics[];
  /** Rows with an outlier or cross-field flag. */
  flaggedRows: number;
  /** Rows with a clipped value. */
  clippedRows: number;
}

/** Clean, then QC: everything between the cross-batch duplicate filter and de-identification. */
export function cleanAndCheck(b: RawBatch, cfg: StageConfig): CheckedBatch {
  const cleaned = clipVitals(cleanZips(b).batch, cfg.clean.ranges).batch;
  const q = qc(cleaned, cfg.outliers, cfg.rules);
  return { batch: q.batch, metrics: q.metrics, flaggedRows: q.flaggedRows, clippedRows: countRowsWith(q.batch, CLIP_BITS) };
}
