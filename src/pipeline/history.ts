// Per-patient history QC: each reading is judged against the same patient's own other readings: the ones
// the store kept from earlier batches (PatientHistory below) and the batch's other rows of that patient.
// Pure: the history is an argument, the result is a batch plus the rows the store appends after the commit.
// No clock, no I/O.
//
// Two checks:
//   values (flag_<column>_history): the baseline is the `readings` values of that vital nearest in time to the
//     row (earlier ones from the store; earlier or later ones from the batch, so that the first visits of a
//     batch carrying years of history are judged too, and a child's growth is bracketed rather than lagged),
//     within `window_days` of it. With at least `min_readings` of them, the row is flagged when
//     |x - median| > z * scale, scale = max(1.4826 * MAD, mad_floor[column]). A lower bar, z_transposed,
//     applies when swapping two adjacent digits of x lands within half a scale of the median: that is what
//     a transposition (128 -> 182, 75 -> 57) looks like, and a clean reading rarely does.
//   rhythm (flag_event_ts_history): many sources stamp a patient's readings at one time of day (Synthea's
//     clock steps from the birth instant; a clinic's appointment grid). The patient's known instants are
//     grouped by time of day (within rhythm_tolerance_s, in input.timezone) and, per time of day, into
//     episodes (instants within episode_days of each other: a hospital stay's daily readings are one
//     episode). When one time of day holds at least rhythm_min_visits episodes and rhythm_share of all of
//     them, a row at another time of day that no other known instant within episode_days shares is flagged:
//     a reading moved by minutes or hours (skewed or late timestamps) lands there. A patient without such a
//     rhythm is never judged, so a source with free-running times gets no flags from this check.
import { DAY, zoneOffsetMs } from './parse.js';
import { FLAG, VITALS, type RawBatch, type Vital } from './types.js';

/** One earlier reading of one vital. */
export interface Reading {
  /** Event instant, ms since epoch (UTC). */
  atMs: number;
  value: number;
}

/**
 * What the store supplies for one patient of the batch (looked up by patient key): the newest
 * `history.readings` readings of each vital and the newest `history.instants` event instants committed by
 * earlier batches, each list oldest first. A patient the store has never seen has no entry.
 */
export interface PatientHistory {
  vitals: Record<Vital, readonly Reading[]>;
  /** Instants of earlier events (rows with at least one vital), oldest first. */
  instants: readonly number[];
}

export type HistorySeries = Vital | 'instant';

/**
 * One row the store appends after the batch commits (in the same transaction), then keeps only the newest
 * `history.readings` rows per (patient, vital) and `history.instants` per (patient, 'instant'), by atMs.
 * historyAppends() never emits two rows with the same (patientKey, series, atMs): the store may make that
 * its primary key, a later batch's row replacing an earlier one.
 */
export interface HistoryAppend {
  patientKey: string;
  series: HistorySeries;
  atMs: number;
  /** The vital's value; null for series 'instant'. */
  value: number | null;
}

export interface HistoryConfig {
  enabled: boolean;
  readings: number;
  instants: number;
  min_readings: number;
  window_days: number;
  z: number;
  z_transposed: number;
  mad_floor: Record<Vital, number>;
  rhythm: boolean;
  rhythm_min_visits: number;
  rhythm_share: number;
  rhythm_tolerance_s: number;
  episode_days: number;
}

export interface HistoryCounts {
  /** Values flagged flag_<column>_history. */
  values: number;
  /** Rows flagged flag_event_ts_history. */
  rhythm: number;
  /** Rows whose patient had history from the store. */
  withHistory: number;
}

const EMPTY: readonly Reading[] = [];
/** A transposition "brings the value back" when it lands within this many scales of the median. */
export const TRANSPOSED_WITHIN = 0.5;

/** Insertion sort of a[0..n) (n is at most `history.readings`: small). */
function sortPrefix(a: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > x) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}

/** Median of the sorted a[0..n). */
function median(sorted: Float64Array, n: number): number {
  const h = (n - 1) / 2;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return (sorted[lo] + sorted[hi]) / 2;
}

/** Values one adjacent-digit transposition of x's integer part gives (x >= 10). */
export function transpositions(x: number): number[] {
  const int = Math.trunc(Math.abs(x));
  if (int < 10) return [];
  const frac = Math.abs(x) - int;
  const s = String(int);
  const out: number[] = [];
  for (let i = 0; i + 1 < s.length; i++) {
    if (s[i] === s[i + 1]) continue;
    const t = `${s.slice(0, i)}${s[i + 1]}${s[i]}${s.slice(i + 2)}`;
    out.push(Number(t) + frac);
  }
  return out;
}

/** Row indexes of each patient of the batch, by event time (then by line). */
export function rowsByPatient(b: RawBatch): Int32Array[] {
  const count = new Int32Array(b.patientIds.length);
  for (let i = 0; i < b.n; i++) count[b.patientIdx[i]]++;
  const groups = Array.from(count, (c) => new Int32Array(c));
  const fill = new Int32Array(b.patientIds.length);
  for (let i = 0; i < b.n; i++) {
    const p = b.patientIdx[i];
    groups[p][fill[p]++] = i;
  }
  const before = (x: number, y: number) => b.eventMs[x] - b.eventMs[y] || b.line[x] - b.line[y];
  for (const g of groups) {
    let sorted = true;
    for (let k = 1; k < g.length && sorted; k++) sorted = before(g[k - 1], g[k]) <= 0;
    if (!sorted) g.sort(before);
  }
  return groups;
}

/** Time of day (ms) of an instant in a zone. */
export function timeOfDay(ms: number, zone: string): number {
  const local = ms + zoneOffsetMs(zone, ms);
  return ((local % DAY) + DAY) % DAY;
}

/**
 * The rhythm of one patient's instants: for each instant, whether it is judged and flagged. `own` marks the
 * batch's instants (the ones to judge); the others are the store's.
 */
export function rhythmFlags(instants: readonly number[], own: readonly boolean[], cfg: HistoryConfig, zone: string): boolean[] {
  const n = instants.length;
  const out = new Array<boolean>(n).fill(false);
  if (n < cfg.rhythm_min_visits + 1) return out;
  const tol = cfg.rhythm_tolerance_s * 1000;
  const tod = instants.map((t) => timeOfDay(t, zone));
  // Classes of time of day: sorted on the circle, neighbours within tol joined (with wrap-around at midnight).
  const order = tod.map((_, i) => i).sort((a, b) => tod[a] - tod[b]);
  const cls = new Int32Array(n);
  let c = 0;
  for (let k = 0; k < n; k++) {
    if (k > 0 && tod[order[k]] - tod[order[k - 1]] > tol) c++;
    cls[order[k]] = c;
  }
  const classes = c + 1;
  if (classes > 1 && tod[order[0]] + DAY - tod[order[n - 1]] <= tol) {
    const last = cls[order[n - 1]];
    for (let i = 0; i < n; i++) if (cls[i] === last) cls[i] = cls[order[0]];
  }
  // Episodes per class: instants of a class within episode_days of the previous one belong to one episode.
  const gap = cfg.episode_days * DAY;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    let l = byClass.get(cls[i]);
    if (!l) byClass.set(cls[i], (l = []));
    l.push(i);
  }
  const episodeSize = new Int32Array(n);
  const episodes = new Map<number, number>();
  let totalEpisodes = 0;
  for (const [k, members] of byClass) {
    members.sort((a, b) => instants[a] - instants[b]);
    let start = 0;
    let count = 0;
    for (let j = 1; j <= members.length; j++) {
      if (j === members.length || instants[members[j]] - instants[members[j - 1]] > gap) {
        for (let q = start; q < j; q++) episodeSize[members[q]] = j - start;
        count++;
        start = j;
      }
    }
    episodes.set(k, count);
    totalEpisodes += count;
  }
  let dominant = -1;
  let best = 0;
  for (const [k, e] of episodes) if (e > best) [dominant, best] = [k, e];
  for (let i = 0; i < n; i++) {
    if (!own[i] || cls[i] === dominant || episodeSize[i] > 1) continue;
    // Leave this instant out: it is a singleton episode of another class, so the dominant count is unchanged.
    const others = totalEpisodes - 1;
    if (best >= cfg.rhythm_min_visits && best / others >= cfg.rhythm_share) out[i] = true;
  }
  return out;
}

/**
 * A quick "no" for patients whose instants cannot have a dominant time of day (free-running clocks, or too
 * few instants): no time-of-day bucket pair holds rhythm_min_visits instants.
 */
function mayHaveRhythm(instants: readonly number[], cfg: HistoryConfig, zone: string): boolean {
  const n = instants.length;
  if (n < cfg.rhythm_min_visits + 1) return false;
  const tol = cfg.rhythm_tolerance_s * 1000;
  const tod = new Float64Array(n);
  for (let i = 0; i < n; i++) tod[i] = timeOfDay(instants[i], zone);
  tod.sort();
  // The most instants within one tolerance-wide stretch of the clock face (two pointers over the sorted times
  // of day, the second lap shifted by a day for the wrap at midnight), and how many classes there are at least.
  const at = (k: number) => (k < n ? tod[k] : tod[k - n] + DAY);
  let best = 0;
  for (let i = 0, j = 0; i < 2 * n; i++) {
    while (at(i) - at(j) > tol) j++;
    best = Math.max(best, Math.min(n, i - j + 1));
  }
  let classes = 1;
  for (let i = 1; i < n; i++) if (tod[i] - tod[i - 1] > tol) classes++;
  // The dominant class holds at most `best` episodes, and there are at least `classes` episodes in all.
  return best >= cfg.rhythm_min_visits && best >= cfg.rhythm_share * (classes - 2);
}

export interface HistoryResult {
  batch: RawBatch;
  counts: HistoryCounts;
}

/**
 * Flag readings far from the patient's own baseline and instants off the patient's rhythm. `known[p]` is the
 * store's history of the batch's patient p (b.patientIds[p]), or undefined for a patient never seen.
 */
export function checkHistory(
  b: RawBatch,
  known: readonly (PatientHistory | undefined)[],
  cfg: HistoryConfig,
  zone: string,
): HistoryResult {
  const counts: HistoryCounts = { values: 0, rhythm: 0, withHistory: 0 };
  if (!cfg.enabled) return { batch: b, counts };
  const flags = b.flags.slice();
  const groups = rowsByPatient(b);
  const window = cfg.window_days * DAY;
  const K = cfg.readings;
  const buf = new Float64Array(K);
  const dev = new Float64Array(K);
  // Scratch for one patient and vital: the store's readings and the batch's, merged by time; `row` is the
  // batch row, -1 for a stored reading.
  let cap = 64;
  let at = new Float64Array(cap);
  let val = new Float64Array(cap);
  let row = new Int32Array(cap);
  for (let p = 0; p < groups.length; p++) {
    const rows = groups[p];
    if (rows.length === 0) continue;
    const h = known[p];
    if (h) counts.withHistory += rows.length;
    for (const v of VITALS) {
      const stored = h?.vitals[v] ?? EMPTY;
      const col = b[v];
      const floor = cfg.mad_floor[v];
      const bit = FLAG[`flag_${v}_history`];
      if (rows.length + stored.length > cap) {
        cap = 2 * (rows.length + stored.length);
        at = new Float64Array(cap);
        val = new Float64Array(cap);
        row = new Int32Array(cap);
      }
      let n = 0;
      let a = 0;
      for (let q = 0; q < rows.length; q++) {
        const i = rows[q];
        const x = col[i];
        if (Number.isNaN(x)) continue;
        const t = b.eventMs[i];
        for (; a < stored.length && stored[a].atMs <= t; a++, n++) [at[n], val[n], row[n]] = [stored[a].atMs, stored[a].value, -1];
        at[n] = t;
        val[n] = x;
        row[n++] = i;
      }
      for (; a < stored.length; a++, n++) [at[n], val[n], row[n]] = [stored[a].atMs, stored[a].value, -1];
      for (let j = 0; j < n; j++) {
        const i = row[j];
        if (i < 0) continue;
        const t = at[j];
        const x = val[j];
        // The K readings nearest in time (either side), within the window.
        let l = j - 1;
        let r = j + 1;
        let m = 0;
        while (m < K) {
          const dl = l >= 0 ? t - at[l] : Infinity;
          const dr = r < n ? at[r] - t : Infinity;
          if (dl > window && dr > window) break;
          buf[m++] = dl <= dr ? val[l--] : val[r++];
        }
        if (m < cfg.min_readings) continue;
        // scale >= floor, and the median lies between the smallest and largest reading: a value within
        // reach of all of them cannot be flagged, and needs no sorting (most values).
        const reach = Math.min(cfg.z, cfg.z_transposed) * floor;
        let lo = buf[0];
        let hi = buf[0];
        for (let k = 1; k < m; k++) {
          if (buf[k] < lo) lo = buf[k];
          else if (buf[k] > hi) hi = buf[k];
        }
        if (x >= hi - reach && x <= lo + reach) continue;
        sortPrefix(buf, m);
        const med = median(buf, m);
        if (Math.abs(x - med) <= reach) continue;
        for (let k = 0; k < m; k++) dev[k] = Math.abs(buf[k] - med);
        sortPrefix(dev, m);
        const scale = Math.max(1.4826 * median(dev, m), floor);
        const d = Math.abs(x - med) / scale;
        let flagged = d > cfg.z;
        if (!flagged && d > cfg.z_transposed) flagged = transpositions(x).some((y) => Math.abs(y - med) <= TRANSPOSED_WITHIN * scale);
        if (flagged) {
          flags[i] |= bit;
          counts.values++;
        }
      }
    }
    if (cfg.rhythm) {
      const stored = h?.instants ?? [];
      const instants = [...stored, ...Array.from(rows, (i) => b.eventMs[i])];
      if (!mayHaveRhythm(instants, cfg, zone)) continue;
      const own = [...stored.map(() => false), ...Array.from(rows, () => true)];
      const r = rhythmFlags(instants, own, cfg, zone);
      for (let k = 0; k < rows.length; k++) {
        if (!r[stored.length + k]) continue;
        flags[rows[k]] |= FLAG.flag_event_ts_history;
        counts.rhythm++;
      }
    }
  }
  return { batch: { ...b, flags }, counts };
}

/**
 * What the store appends after this batch: every loaded, non-null value of each vital (flagged ones too:
 * the median and MAD shrug off a few, and a real, lasting change becomes the new baseline after about
 * readings / 2 visits instead of being flagged for ever), and every instant except those flagged
 * future_ts or flag_event_ts_history. Within the batch, the last row per (patient, series, instant) wins, and
 * only the newest `limits` rows per (patient, series) are returned: the store keeps no more than that anyway.
 * `keys[p]` is the store's key of the batch's patient p (patient_key in the pipeline).
 */
export function historyAppends(b: RawBatch, keys: readonly string[], limits: { readings: number; instants: number }): HistoryAppend[] {
  const suspectInstant = FLAG.future_ts | FLAG.flag_event_ts_history;
  const out: HistoryAppend[] = [];
  const groups = rowsByPatient(b);
  for (let p = 0; p < groups.length; p++) {
    const rows = groups[p];
    if (rows.length === 0) continue;
    const patientKey = keys[p];
    for (const series of [...VITALS, 'instant'] as const) {
      const limit = series === 'instant' ? limits.instants : limits.readings;
      const picked: HistoryAppend[] = [];
      // Newest first; a later row at the same instant wins (rows are in time order, then line order).
      for (let q = rows.length - 1; q >= 0 && picked.length < limit; q--) {
        const i = rows[q];
        const atMs = b.eventMs[i];
        if (picked.length > 0 && picked[picked.length - 1].atMs === atMs) continue;
        if (series === 'instant') {
          const any = !Number.isNaN(b.systolic_bp[i]) || !Number.isNaN(b.diastolic_bp[i]) || !Number.isNaN(b.heart_rate[i]);
          if (!any || b.flags[i] & suspectInstant) continue;
          picked.push({ patientKey, series, atMs, value: null });
        } else {
          const x = b[series][i];
          if (Number.isNaN(x)) continue;
          picked.push({ patientKey, series, atMs, value: x });
        }
      }
      for (let k = picked.length - 1; k >= 0; k--) out.push(picked[k]);
    }
  }
  return out;
}

/**
 * The store's side, in memory: what `medetl score` and the tests use, and the behaviour a store must match
 * (append, keep the newest N per patient and series by instant, hand back oldest first).
 */
export class HistoryBook {
  private readonly byKey = new Map<string, { vitals: Record<Vital, Reading[]>; instants: number[] }>();

  constructor(private readonly limits: { readings: number; instants: number }) {}

  /** The history of each key (undefined for one never seen), as the store hands it to checkHistory. */
  lookup(keys: readonly string[]): (PatientHistory | undefined)[] {
    return keys.map((k) => this.byKey.get(k));
  }

  append(rows: readonly HistoryAppend[]): void {
    const touched = new Set<string>();
    for (const r of rows) {
      let h = this.byKey.get(r.patientKey);
      if (!h) this.byKey.set(r.patientKey, (h = { vitals: { systolic_bp: [], diastolic_bp: [], heart_rate: [] }, instants: [] }));
      touched.add(r.patientKey);
      if (r.series === 'instant') {
        if (!h.instants.includes(r.atMs)) h.instants.push(r.atMs);
      } else {
        const list = h.vitals[r.series];
        const same = list.findIndex((x) => x.atMs === r.atMs);
        if (same >= 0) list[same] = { atMs: r.atMs, value: r.value ?? NaN };
        else list.push({ atMs: r.atMs, value: r.value ?? NaN });
      }
    }
    for (const k of touched) {
      const h = this.byKey.get(k)!;
      h.instants.sort((a, b) => a - b);
      if (h.instants.length > this.limits.instants) h.instants.splice(0, h.instants.length - this.limits.instants);
      for (const v of VITALS) {
        const list = h.vitals[v];
        list.sort((a, b) => a.atMs - b.atMs);
        if (list.length > this.limits.readings) list.splice(0, list.length - this.limits.readings);
      }
    }
  }

  get patients(): number {
    return this.byKey.size;
  }
}
