// /api/snapshot: everything the page shows except the per-batch series, built from the ledger contract only and
// cached until the ledger changes. Every field is picked by name; nothing per row, no patient_key, no unsafe name.
import type { LedgerReader } from '../stores/ledger.js';
import { toPoint, type BatchLog, type BatchPoint } from './batch-log.js';
import {
  bpBandCells, bpCells, hrCells, hypertensionPrevalence, MIN_CELL_PATIENTS, tachycardiaShare, vitalYears,
  type BpBandCell, type BpCell, type HrCell, type Ratio, type VitalYear,
} from './kpi-view.js';
import { safeBatchId, safeCode, safeFileName } from './safe-text.js';

export interface Snapshot {
  lastSeq: number;
  builtAtMs: number;
  tiles: {
    rows_loaded: number;
    /** null: fewer than 11 patients (suppressed). */
    patients: number | null;
    batches: number;
    quarantined: number;
    hypertension_prevalence: Ratio;
    tachycardia_share: Ratio;
  };
  quarantinedByReason: Record<string, number>;
  lastCommitAtMs: number | null;
  vitalsByYear: VitalYear[];
  bpByYear: BpCell[];
  bpByYearAgeBand: BpBandCell[];
  heartRateByAgeBand: HrCell[];
  recentBatches: BatchPoint[];
  quarantinedFiles: { atMs: number; file: string; reasonCode: string }[];
  drift: { seq: number | null; batchId: string; column: string; statistic: string; baseline: number; observed: number; severity: 'warn' | 'alert' }[];
}

export const RECENT = 20;
const finite = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export async function buildSnapshot(ledger: LedgerReader, batchLog: BatchLog, now = Date.now()): Promise<Snapshot> {
  const [summary, bp, bpBand, hr, vitals, recent, quarantined, drift] = await Promise.all([
    ledger.summary(),
    ledger.bi('kpi_bp_by_year'),
    ledger.bi('kpi_bp_by_year_age_band'),
    ledger.bi('kpi_heart_rate_by_age_band'),
    ledger.bi('kpi_vitals_by_year'),
    ledger.batches({ newestFirst: true, limit: RECENT }),
    ledger.quarantined({ limit: RECENT }),
    ledger.drift({ limit: 50 }),
  ]);
  const byReason: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary.quarantinedByReason)) byReason[safeCode(k)] = (byReason[safeCode(k)] ?? 0) + finite(v);
  const bpRows = bpCells(bp);
  const hrRows = hrCells(hr);
  const recentPoints = recent.map(toPoint);
  return {
    lastSeq: finite(summary.lastSeq),
    builtAtMs: now,
    tiles: {
      rows_loaded: finite(summary.rows),
      patients: summary.patients > 0 && summary.patients < MIN_CELL_PATIENTS ? null : finite(summary.patients),
      batches: finite(summary.batches),
      quarantined: Object.values(byReason).reduce((a, b) => a + b, 0),
      hypertension_prevalence: hypertensionPrevalence(bpRows),
      tachycardia_share: tachycardiaShare(hrRows),
    },
    quarantinedByReason: byReason,
    lastCommitAtMs: recentPoints[0]?.committedAtMs ?? null,
    vitalsByYear: vitalYears(vitals),
    bpByYear: bpRows,
    bpByYearAgeBand: bpBandCells(bpBand),
    heartRateByAgeBand: hrRows,
    recentBatches: recentPoints,
    quarantinedFiles: quarantined.map((q) => ({ atMs: finite(q.atMs), file: safeFileName(q.sourceName), reasonCode: safeCode(q.reasonCode) })),
    drift: drift.map((d) => ({
      seq: batchLog.seqOf(d.batchId), batchId: safeBatchId(d.batchId), column: safeCode(d.column), statistic: safeCode(d.statistic),
      baseline: finite(d.baseline), observed: finite(d.observed), severity: d.severity === 'alert' ? 'alert' : 'warn',
    })),
  };
}

/** One snapshot per ledger state, shared by every request (one build in flight at a time). */
export class SnapshotCache {
  private entry: { key: string; body: Promise<Snapshot> } | null = null;

  constructor(
    private readonly ledger: LedgerReader,
    private readonly batchLog: BatchLog,
  ) {}

  get(key: string): Promise<Snapshot> {
    if (this.entry?.key !== key) {
      const body = buildSnapshot(this.ledger, this.batchLog);
      this.entry = { key, body };
      body.catch(() => {
        if (this.entry?.body === body) this.entry = null;
      });
    }
    return this.entry.body;
  }
}
