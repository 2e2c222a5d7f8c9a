// Drift across batches: each batch's statistics against a rolling baseline of earlier batches. Pure: the
// baseline (the store's record of earlier batches) is an argument; the result is a list of departures the
// store records in qc_drift(batch_id, column_name, statistic, baseline, observed, severity).
//
// Statistics: per vital, median, iqr (q3 - q1), null_rate (nulls / rows) and flag_rate (rows flagged for that
// vital / non-null values); per batch (column '*'), row_count and flag_rate (flagged rows / rows).
// Baseline: the median of the statistic over the earlier batches (the last drift.window, at least
// drift.min_batches with a value). Scale: the larger of 1.4826 * MAD of those values and the sampling error
// of the statistic in a batch of this size (median 1.2533 sigma / sqrt(n), IQR 1.573 sigma / sqrt(n) with
// sigma = IQR / 1.349; a rate sqrt(p (1 - p) / n); a count sqrt(count)), so that a small batch is not held
// to a large batch's precision. A departure of more than warn_z scales (and at least min_change) is a row
// with severity warn; more than alert_z scales, alert.
import type { ColumnMetrics } from './types.js';
import { VITALS } from './types.js';

/**
 * One departure (the same shape as DriftRow in src/stores/store.ts, which the store persists; defined here so
 * that the pipeline does not import from the stores).
 */
export interface DriftRow {
  column: string;
  statistic: string;
  baseline: number;
  observed: number;
  severity: 'warn' | 'alert';
}

/** What drift needs of one committed batch: the ledger's loaded and flagged counts, and its qc_metrics. */
export interface BatchProfile {
  /** Rows loaded. */
  rows: number;
  /** Rows flagged (any OUTLIER_BITS). */
  flaggedRows: number;
  /** One per vital (qc_metrics). */
  metrics: readonly ColumnMetrics[];
}

/** What the store supplies: the profiles of the last drift.window committed batches, oldest first. */
export interface DriftBaseline {
  batches: readonly BatchProfile[];
}

export interface DriftConfig {
  enabled: boolean;
  window: number;
  min_batches: number;
  warn_z: number;
  alert_z: number;
  min_change: { median: number; iqr: number; null_rate: number; flag_rate: number; row_count: number };
}

export const DRIFT_STATISTICS = ['median', 'iqr', 'null_rate', 'flag_rate', 'row_count'] as const;
export type DriftStatistic = (typeof DRIFT_STATISTICS)[number];

/** A statistic of one batch, with what the sampling error needs. */
interface Observed {
  column: string;
  statistic: DriftStatistic;
  value: number;
  /** Observations behind it (non-null values, or rows). */
  n: number;
  /** sigma estimate for median and iqr. */
  sigma: number;
}

/** Every statistic of a batch (null when it has no value, e.g. the median of an all-null column). */
export function statisticsOf(p: BatchProfile): Observed[] {
  const out: Observed[] = [];
  for (const v of VITALS) {
    const m = p.metrics.find((x) => x.column === v);
    if (!m) continue;
    const total = m.n + m.nulls;
    const sigma = m.q1 !== null && m.q3 !== null ? (m.q3 - m.q1) / 1.349 : 0;
    if (m.median !== null) out.push({ column: v, statistic: 'median', value: m.median, n: m.n, sigma });
    if (m.q1 !== null && m.q3 !== null) out.push({ column: v, statistic: 'iqr', value: m.q3 - m.q1, n: m.n, sigma });
    if (total > 0) out.push({ column: v, statistic: 'null_rate', value: m.nulls / total, n: total, sigma: 0 });
    if (m.n > 0) out.push({ column: v, statistic: 'flag_rate', value: m.flagged / m.n, n: m.n, sigma: 0 });
  }
  out.push({ column: '*', statistic: 'row_count', value: p.rows, n: p.rows, sigma: 0 });
  if (p.rows > 0) out.push({ column: '*', statistic: 'flag_rate', value: p.flaggedRows / p.rows, n: p.rows, sigma: 0 });
  return out;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) / 2;
  return (s[Math.floor(h)] + s[Math.ceil(h)]) / 2;
}

function samplingError(o: Observed, center: number): number {
  const n = Math.max(1, o.n);
  switch (o.statistic) {
    case 'median':
      return (1.2533 * o.sigma) / Math.sqrt(n);
    case 'iqr':
      return (1.573 * o.sigma) / Math.sqrt(n);
    case 'null_rate':
    case 'flag_rate': {
      const p = Math.min(1, Math.max(center, 1 / n));
      return Math.sqrt((p * (1 - p)) / n);
    }
    case 'row_count':
      return Math.sqrt(Math.max(1, center));
  }
}

/** The departures of `current` from the baseline (none before min_batches earlier batches). */
export function detectDrift(current: BatchProfile, baseline: DriftBaseline, cfg: DriftConfig): DriftRow[] {
  if (!cfg.enabled) return [];
  const earlier = baseline.batches.slice(-cfg.window).map(statisticsOf);
  const rows: DriftRow[] = [];
  for (const o of statisticsOf(current)) {
    const past: number[] = [];
    for (const e of earlier) {
      const x = e.find((s) => s.column === o.column && s.statistic === o.statistic);
      if (x) past.push(x.value);
    }
    if (past.length < cfg.min_batches) continue;
    const center = medianOf(past);
    const mad = medianOf(past.map((x) => Math.abs(x - center)));
    const scale = Math.max(1.4826 * mad, samplingError(o, center), 1e-9);
    const change = Math.abs(o.value - center);
    const minChange = o.statistic === 'row_count' ? cfg.min_change.row_count * center : cfg.min_change[o.statistic];
    if (change < minChange) continue;
    const z = change / scale;
    if (z <= cfg.warn_z) continue;
    rows.push({ column: o.column, statistic: o.statistic, baseline: center, observed: o.value, severity: z > cfg.alert_z ? 'alert' : 'warn' });
  }
  return rows;
}
