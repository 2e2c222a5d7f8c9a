// Stage 3, QC: per-batch outlier flags (IQR or MAD) per vital, cross-field rules, column metrics,
// and the batch thresholds. Pure: it reads no clock and does no I/O.
import { BatchError } from './schema.js';
import { packedYmd } from './deid.js';
import { FLAG, NULL_INT, OUTLIER_BITS, VITALS, type ColumnMetrics, type RawBatch } from './types.js';

export interface OutlierConfig {
  method: 'iqr' | 'mad';
  iqr_k: number;
  mad_threshold: number;
  min_n: number;
  /** Age boundaries (years at the event): fences are computed per band, because normal vitals depend on age. */
  age_bands: readonly number[];
}
export interface RuleConfig {
  min_pulse_pressure: number;
  max_pulse_pressure: number;
}
export interface ThresholdConfig {
  max_reject_rate: number;
  max_flagged_rate: number;
  action: 'flag' | 'quarantine';
}

/** Linear-interpolated quantile of sorted values (the R-7 / Excel / pandas default). */
export function quantile(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (h - lo);
}

/** The fences outside which a value is an outlier, or null when the column cannot be judged. */
export function outlierFences(sorted: Float64Array, cfg: OutlierConfig): [number, number] | null {
  if (sorted.length < cfg.min_n) return null;
  if (cfg.method === 'iqr') {
    const q1 = quantile(sorted, 0.25);
    const q3 = quantile(sorted, 0.75);
    const iqr = q3 - q1;
    if (iqr === 0) return null;
    return [q1 - cfg.iqr_k * iqr, q3 + cfg.iqr_k * iqr];
  }
  // MAD: modified z-score |0.6745 (x - median) / MAD| > threshold (Iglewicz & Hoaglin).
  const med = quantile(sorted, 0.5);
  const dev = new Float64Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) dev[i] = Math.abs(sorted[i] - med);
  dev.sort();
  const mad = quantile(dev, 0.5);
  let scale: number;
  if (mad > 0) scale = mad / 0.6745;
  else {
    // Fallback when more than half the values are equal: mean absolute deviation, 1.253314 * MeanAD ~ sigma.
    let sum = 0;
    for (let i = 0; i < dev.length; i++) sum += dev[i];
    const meanAd = sum / dev.length;
    if (meanAd === 0) return null;
    scale = 1.253314 * meanAd;
  }
  const w = cfg.mad_threshold * scale;
  return [med - w, med + w];
}

export interface QcResult {
  batch: RawBatch;
  metrics: ColumnMetrics[];
  flaggedRows: number;
}

/**
 * Age band of each row: 0..bands.length by age at the event; rows without a birth date go to the
 * band of the most rows (so they are judged with the bulk of the batch).
 */
export function ageBandOf(b: RawBatch, bands: readonly number[]): Uint8Array {
  const band = new Uint8Array(b.n);
  if (bands.length === 0) return band;
  const unknown: number[] = [];
  const counts = new Array<number>(bands.length + 1).fill(0);
  const ymdCache = new Map<number, number>(); // distinct days are few: birth dates, event dates
  const ymd = (days: number) => {
    let v = ymdCache.get(days);
    if (v === undefined) ymdCache.set(days, (v = packedYmd(days)));
    return v;
  };
  for (let i = 0; i < b.n; i++) {
    if (b.dobDays[i] === NULL_INT) {
      unknown.push(i);
      continue;
    }
    const age = Math.floor((ymd(b.eventDay[i]) - ymd(b.dobDays[i])) / 10000);
    let k = 0;
    while (k < bands.length && age >= bands[k]) k++;
    band[i] = k;
    counts[k]++;
  }
  const bulk = counts.indexOf(Math.max(...counts));
  for (const i of unknown) band[i] = bulk;
  return band;
}

/** Merge sorted runs into one sorted array (for the column metrics). */
function mergeSorted(runs: Float64Array[]): Float64Array {
  if (runs.length === 1) return runs[0];
  const out = new Float64Array(runs.reduce((a, r) => a + r.length, 0));
  const at = new Array<number>(runs.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let best = -1;
    for (let r = 0; r < runs.length; r++) if (at[r] < runs[r].length && (best < 0 || runs[r][at[r]] < runs[best][at[best]])) best = r;
    out[o] = runs[best][at[best]++];
  }
  return out;
}

export function qc(b: RawBatch, outliers: OutlierConfig, rules: RuleConfig): QcResult {
  const flags = b.flags.slice();
  const metrics: ColumnMetrics[] = [];
  const bands = outliers.age_bands;
  const band = ageBandOf(b, bands);
  for (const v of VITALS) {
    const col = b[v];
    // Fences per age band: an infant's heart rate of 140/min is normal, an adult's is not.
    // One pass buckets the non-null values by band; each band is sorted once.
    const size = new Int32Array(bands.length + 1);
    for (let i = 0; i < b.n; i++) if (!Number.isNaN(col[i])) size[band[i]]++;
    const runs = Array.from(size, (m) => new Float64Array(m));
    const fill = new Int32Array(bands.length + 1);
    for (let i = 0; i < b.n; i++) if (!Number.isNaN(col[i])) runs[band[i]][fill[band[i]]++] = col[i];
    for (const r of runs) r.sort();
    const fences = runs.map((r) => outlierFences(r, outliers));
    const sorted = mergeSorted(runs);
    const bit = FLAG[`flag_${v}`];
    const clipBit = FLAG[`clip_${v}`];
    let flagged = 0;
    let clipped = 0;
    for (let i = 0; i < b.n; i++) {
      if (flags[i] & clipBit) clipped++;
      const x = col[i];
      const f = fences[band[i]];
      if (f && !Number.isNaN(x) && (x < f[0] || x > f[1])) {
        flags[i] |= bit;
        flagged++;
      }
    }
    const n = sorted.length;
    metrics.push({
      column: v,
      n,
      nulls: b.n - n,
      min: n ? sorted[0] : null,
      q1: n ? quantile(sorted, 0.25) : null,
      median: n ? quantile(sorted, 0.5) : null,
      q3: n ? quantile(sorted, 0.75) : null,
      max: n ? sorted[n - 1] : null,
      flagged,
      clipped,
    });
  }
  for (let i = 0; i < b.n; i++) {
    const s = b.systolic_bp[i];
    const d = b.diastolic_bp[i];
    if (Number.isNaN(s) || Number.isNaN(d)) continue;
    if (d >= s) flags[i] |= FLAG.flag_bp_order;
    else if (s - d < rules.min_pulse_pressure || s - d > rules.max_pulse_pressure) flags[i] |= FLAG.flag_pulse_pressure;
  }
  let flaggedRows = 0;
  for (let i = 0; i < b.n; i++) if (flags[i] & OUTLIER_BITS) flaggedRows++;
  return { batch: { ...b, flags }, metrics, flaggedRows };
}

export interface BatchRates {
  rowsIn: number;
  rejected: number;
  loaded: number;
  flaggedRows: number;
}

/** Throws BatchError('qc_threshold_exceeded') when action is quarantine; returns warnings otherwise. */
export function checkThresholds(r: BatchRates, t: ThresholdConfig): string[] {
  const problems: string[] = [];
  const rejectRate = r.rowsIn ? r.rejected / r.rowsIn : 0;
  const flaggedRate = r.loaded ? r.flaggedRows / r.loaded : 0;
  if (rejectRate > t.max_reject_rate)
    problems.push(`reject rate ${rejectRate.toFixed(4)} > max_reject_rate ${t.max_reject_rate}`);
  if (flaggedRate > t.max_flagged_rate)
    problems.push(`flagged rate ${flaggedRate.toFixed(4)} > max_flagged_rate ${t.max_flagged_rate}`);
  if (problems.length && t.action === 'quarantine') {
    throw new BatchError('qc_threshold_exceeded', problems.join('; '), {
      metrics: { rows_in: r.rowsIn, rejected: r.rejected, loaded: r.loaded, flagged_rows: r.flaggedRows, reject_rate: rejectRate, flagged_rate: flaggedRate },
    });
  }
  return problems;
}

/**
 * Per vital: rows flagged for it (flag_<column> or flag_<column>_history), values nulled as implausible and
 * values converted from another unit. Run after every flagging stage; returns new metric objects.
 */
export function recountColumnFlags(metrics: readonly ColumnMetrics[], b: RawBatch): ColumnMetrics[] {
  return metrics.map((m) => {
    const v = m.column as (typeof VITALS)[number];
    if (!VITALS.includes(v)) return m;
    const flagBits = FLAG[`flag_${v}`] | FLAG[`flag_${v}_history`];
    const implausibleBit = FLAG[`implausible_${v}`];
    const unitBit = FLAG[`unit_${v}`];
    let flagged = 0;
    let implausible = 0;
    let converted = 0;
    for (let i = 0; i < b.n; i++) {
      const f = b.flags[i];
      if (f & flagBits) flagged++;
      if (f & implausibleBit) implausible++;
      if (f & unitBit) converted++;
    }
    return { ...m, flagged, implausible, converted };
  });
}
