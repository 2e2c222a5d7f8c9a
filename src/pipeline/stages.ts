// The one order of the pure stages, used by the runner (src/runner.ts) and by `medetl score` (feed/score.ts):
//   schema (read.ts + schema.ts) -> duplicates within the batch -> [the store drops cross-batch duplicates]
//   -> clean: ZIPs, impossible instants (flag or reject), vitals (units, order, range: never an invented value)
//   -> qc: batch outlier fences per age band, cross-field rules
//   -> history: each reading against the patient's own earlier ones (the store's history plus the batch's
//      earlier rows), each instant against the patient's time-of-day rhythm
//   -> metrics, drift against the earlier batches, and the history rows the store appends at commit.
// De-identification (deid.ts) follows, and is the only way to a MaskedBatch.
import type { Config } from '../config/load.js';
import { checkInstants, cleanZips, countRowsWith, dropDuplicateEvents, repairVitals } from './clean.js';
import { detectDrift, type BatchProfile, type DriftBaseline, type DriftRow } from './drift.js';
import { checkHistory, historyAppends, type HistoryAppend, type PatientHistory } from './history.js';
import { qc, recountColumnFlags } from './qc.js';
import { CLIP_BITS, OUTLIER_BITS, type ColumnMetrics, type RawBatch, type Reject, type StageCounts } from './types.js';

export type StageConfig = Pick<Config, 'clean' | 'outliers' | 'rules' | 'history' | 'drift'> & { input: { timezone: string } };

/** Duplicate events within the batch (same patient, instant and values as read): the first is kept. */
export function dropDuplicatesWithin(b: RawBatch): { batch: RawBatch; duplicates: number } {
  return dropDuplicateEvents(b);
}

/** What the stages need besides the batch and the config: the processing instant and the store's memory. */
export interface StageInputs {
  /** The processing instant, ms (future_ts); the caller reads the clock (core/time.ts), never a stage. */
  nowMs: number;
  /**
   * The store's history of each patient of the batch, parallel to batch.patientIds (undefined = never seen).
   * Omitted: no stored history (the batch's own earlier rows still count).
   */
  history?: readonly (PatientHistory | undefined)[];
  /** The store's keys of the batch's patients, parallel to batch.patientIds; omitted = no history appends. */
  patientKeys?: readonly string[];
  /** The earlier batches' profiles, oldest first; omitted = no drift judgement. */
  driftBaseline?: DriftBaseline;
}

export interface CheckedBatch {
  batch: RawBatch;
  metrics: ColumnMetrics[];
  /** Rows with an outlier, cross-field, history or timestamp flag (OUTLIER_BITS). */
  flaggedRows: number;
  /** Rows with a clipped value. */
  clippedRows: number;
  /** Rows the timestamp checks rejected (clean.future_ts / clean.dob_after_event: reject), with their lines. */
  rejects: Reject[];
  /** Counts by check, for logs and the ledger: never values. */
  counts: StageCounts;
  /** What this batch adds to the drift baseline of later batches. */
  profile: BatchProfile;
  /** Departures from the baseline (empty without one). */
  drift: DriftRow[];
  /** Rows the store appends to the patients' history with this batch (empty without patientKeys). */
  historyAppends: HistoryAppend[];
}

/** Clean, QC, history and drift: everything between the cross-batch duplicate filter and de-identification. */
export function cleanAndCheck(b: RawBatch, cfg: StageConfig, inputs: StageInputs): CheckedBatch {
  const c = cfg.clean;
  const zips = cleanZips(b);
  const instants = checkInstants(zips.batch, {
    nowMs: inputs.nowMs, futureToleranceMs: c.future_tolerance, future: c.future_ts, dobAfterEvent: c.dob_after_event,
  });
  // The history lists are parallel to the dictionary of patients, which row filtering keeps as it is.
  const repaired = repairVitals(instants.batch, c, cfg.rules);
  const q = qc(repaired.batch, cfg.outliers, cfg.rules);
  const h = checkHistory(q.batch, inputs.history ?? [], cfg.history, cfg.input.timezone);
  const batch = h.batch;
  const metrics = recountColumnFlags(q.metrics, batch);
  const flaggedRows = countRowsWith(batch, OUTLIER_BITS);
  const profile: BatchProfile = { rows: batch.n, flaggedRows, metrics };
  return {
    batch,
    metrics,
    flaggedRows,
    clippedRows: countRowsWith(batch, CLIP_BITS),
    rejects: instants.rejects,
    counts: {
      invalid_zip: zips.invalidZip,
      future_ts: instants.counts.future,
      dob_after_event: instants.counts.dobAfterEvent,
      converted: repaired.counts.converted,
      swapped_bp: repaired.counts.swapped,
      implausible: repaired.counts.implausible,
      clipped: repaired.counts.clipped,
      history_values: h.counts.values,
      history_rhythm: h.counts.rhythm,
      rows_with_history: h.counts.withHistory,
    },
    profile,
    drift: inputs.driftBaseline ? detectDrift(profile, inputs.driftBaseline, cfg.drift) : [],
    historyAppends: inputs.patientKeys ? historyAppends(batch, inputs.patientKeys, cfg.history) : [],
  };
}
