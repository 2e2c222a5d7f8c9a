// medetl score: how well QC caught the noise a run injected. The run's events.csv (byte-identical to
// the file delivered to incoming/) is replayed through the same pure stages as the pipeline
// (stages.ts: schema -> duplicates -> clean -> qc -> history -> drift) to get each line's outcome; the
// ledger must show the file was loaded. Several runs are replayed in generation order, each one with
// the history, drift baseline and seen events the earlier ones left (ReplayState: what a store keeps),
// so the scorecard reflects what the pipeline with a store does.
// The manifest says what was injected where (manifest.ts). Raw values are read here, locally, and
// never printed: the scorecard is counts only.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { KEY_VARIABLE, parseKey } from '../config/key.js';
import { contentKey } from '../pipeline/deid.js';
import type { LedgerReader } from '../stores/ledger.js';
import { clockFrom } from '../core/time.js';
import type { BatchProfile, DriftRow } from '../pipeline/drift.js';
import { HistoryBook } from '../pipeline/history.js';
import { cleanAndCheck, dropDuplicatesWithin, type CheckedBatch } from '../pipeline/stages.js';
import { filterRows } from '../pipeline/clean.js';
import { readCsvFile } from '../pipeline/read.js';
import { RawBatchBuilder, resolveHeader } from '../pipeline/schema.js';
import { FLAG, QC_BITS, type RawBatch, type StageCounts, type Vital } from '../pipeline/types.js';
import type { NoiseKind } from './noise.js';

export type Outcome =
  | { kind: 'rejected'; reason: string }
  | { kind: 'duplicate' }
  | { kind: 'loaded'; flags: number };

export type CatchHow = 'flagged' | 'clipped' | 'rejected' | 'deduplicated' | 'repaired' | 'nulled' | 'converted';

interface ManifestEntry {
  id: number;
  kind: NoiseKind;
  columns?: string[];
  event_lines?: number[];
}

interface LineageLine {
  line: number;
  entries: number[];
}

export interface KindScore {
  kind: NoiseKind;
  injected: number;
  caught: number;
  by: Partial<Record<CatchHow, number>>;
  missed: number;
}

export interface Scorecard {
  run: string;
  batchId: string | null;
  rows: number;
  kinds: KindScore[];
  cleanRows: number;
  /** Clean rows (no injection) that any QC stage touched: flagged, nulled, clipped, converted or swapped. */
  cleanFlagged: number;
  cleanFlaggedShare: number;
}

/** One run of a series, as `score` saw it: its scorecard and what the drift check saw. */
export interface RunReport {
  card: Scorecard;
  /** Rows loaded (after duplicates and rejects). */
  loaded: number;
  /** Loaded rows with any OUTLIER_BITS flag (the pipeline's `flagged`). */
  flaggedRows: number;
  profile: BatchProfile;
  drift: DriftRow[];
  counts: StageCounts;
}

export interface ScoreReport {
  runs: RunReport[];
  /** All runs added up. */
  total: Scorecard;
}

/** Kinds QC is expected to catch, with the issue's bars. unit_slip counts only conversions. */
export const SCORE_BARS: Partial<Record<NoiseKind, number>> = {
  spike: 0.99,
  bp_swap: 0.99,
  digit_typo: 0.99,
  duplicate_row: 0.99,
  unit_slip: 0.99,
  swapped_digits: 0.8,
  late_ts: 0.8,
  skewed_ts: 0.8,
};
export const SCORED_KINDS: readonly NoiseKind[] = Object.keys(SCORE_BARS) as NoiseKind[];
/** Share of clean rows QC may touch. */
export const CLEAN_FLAGGED_BAR = 0.01;

/** The share of a kind that meets its bar (for unit_slip: converted ones only). */
export function barShare(k: KindScore): number {
  if (k.injected === 0) return 1;
  return (k.kind === 'unit_slip' ? (k.by.converted ?? 0) : k.caught) / k.injected;
}

export class ScoreError extends Error {
  readonly userFacing = true;
}

/**
 * What `score` carries from one run to the next, as a store would: the patients' history, the drift
 * baseline (earlier runs' profiles) and the events already loaded (cross-batch duplicates).
 */
export class ReplayState {
  readonly book: HistoryBook;
  readonly profiles: BatchProfile[] = [];
  private readonly seen = new Set<string>();

  constructor(config: Pick<Config, 'history'>) {
    this.book = new HistoryBook({ readings: config.history.readings, instants: config.history.instants });
  }

  /** Marks the batch's events seen; returns 1 for an event no earlier run loaded (the store's markSeen). */
  markSeen(b: RawBatch): Uint8Array {
    const fresh = new Uint8Array(b.n);
    for (let i = 0; i < b.n; i++) {
      const k = `${b.patientIds[b.patientIdx[i]]}\u0000${b.eventMs[i]}\u0000${b.systolic_bp[i]}\u0000${b.diastolic_bp[i]}\u0000${b.heart_rate[i]}`;
      if (this.seen.has(k)) continue;
      this.seen.add(k);
      fresh[i] = 1;
    }
    return fresh;
  }
}

/** Per physical line of an events file: what the pipeline's stages did with it (history and drift from `state`). */
export async function lineOutcomes(
  file: string,
  config: Config,
  state: ReplayState = new ReplayState(config),
  nowMs: number = clockFrom(config.env)(),
): Promise<{ outcomes: Map<number, Outcome>; checked: CheckedBatch }> {
  let builder: RawBatchBuilder | null = null;
  let headerLine = 0;
  await readCsvFile(file, (fields, line) => {
    if (builder) builder.add(fields, line);
    else {
      builder = new RawBatchBuilder(resolveHeader(fields), config.input.timezone);
      headerLine = line;
    }
  });
  if (!builder) throw new ScoreError(`${file} has no header`);
  const b = builder as RawBatchBuilder;
  const out = new Map<number, Outcome>();
  // The header was understood (header_format noise is repaired by name matching).
  out.set(headerLine, { kind: 'loaded', flags: 0 });
  for (const r of b.rejects) out.set(r.line, { kind: 'rejected', reason: r.reason });
  const raw = b.finish();
  const all = Array.from(raw.line);
  const dedup = dropDuplicatesWithin(raw);
  const fresh = filterRows(dedup.batch, state.markSeen(dedup.batch));
  const kept = new Set(fresh.line);
  for (const l of all) if (!kept.has(l)) out.set(l, { kind: 'duplicate' });
  const q = cleanAndCheck(fresh, config, {
    nowMs,
    history: state.book.lookup(fresh.patientIds),
    patientKeys: fresh.patientIds,
    driftBaseline: { batches: state.profiles.slice(-config.drift.window) },
  });
  for (const r of q.rejects) out.set(r.line, { kind: 'rejected', reason: r.reason });
  for (let i = 0; i < q.batch.n; i++) out.set(q.batch.line[i], { kind: 'loaded', flags: q.batch.flags[i] });
  state.book.append(q.historyAppends);
  state.profiles.push(q.profile);
  return { outcomes: out, checked: q };
}

const VITAL_COLUMNS: readonly Vital[] = ['systolic_bp', 'diastolic_bp', 'heart_rate'];

type BitPrefix = 'flag' | 'clip' | 'invalid' | 'implausible' | 'unit';

function columnBits(columns: readonly string[] | undefined, prefix: BitPrefix, suffix = ''): number {
  let bits = 0;
  const bit = (v: Vital) => FLAG[`${prefix}_${v}${suffix}` as keyof typeof FLAG] ?? 0;
  for (const c of columns ?? []) {
    if (c === '*') for (const v of VITAL_COLUMNS) bits |= bit(v);
    else if ((VITAL_COLUMNS as readonly string[]).includes(c)) bits |= bit(c as Vital);
  }
  return bits;
}

/** Flags that mark a value of these columns as suspect: batch fences, history, cross-field rules. */
function suspectBits(columns: readonly string[] | undefined): number {
  return columnBits(columns, 'flag') | columnBits(columns, 'flag', '_history') | FLAG.flag_bp_order | FLAG.flag_pulse_pressure;
}

/** How an injection was caught on one line, or null if that line shows nothing. */
export function caughtOn(entry: ManifestEntry, o: Outcome): CatchHow | null {
  if (o.kind === 'rejected') return 'rejected';
  if (o.kind === 'duplicate') return entry.kind === 'duplicate_row' ? 'deduplicated' : null;
  const f = o.flags;
  switch (entry.kind) {
    case 'unit_slip':
    case 'spike':
    case 'swapped_digits':
    case 'bp_swap':
      // A slip that was not converted may still be nulled, clipped or flagged.
      if (entry.kind === 'unit_slip' && f & columnBits(entry.columns, 'unit')) return 'converted';
      if (entry.kind === 'bp_swap' && f & FLAG.swap_bp) return 'repaired';
      // 80 -> 08 reads as 8: as a kPa diastolic it converts to 60 mmHg, flagged unit_<column> (a wrong value,
      // but a marked one).
      if (entry.kind === 'swapped_digits' && f & columnBits(entry.columns, 'unit')) return 'converted';
      if (f & columnBits(entry.columns, 'implausible')) return 'nulled';
      if (f & columnBits(entry.columns, 'clip')) return 'clipped';
      if (f & suspectBits(entry.columns)) return 'flagged';
      return null;
    case 'digit_typo':
      return f & columnBits(entry.columns, 'invalid') ? 'nulled' : f & suspectBits(entry.columns) ? 'flagged' : null;
    case 'missing_value':
      // An emptied cell is stored as null: nothing to catch, the value is simply absent.
      return 'nulled';
    case 'dob_format':
      return f & FLAG.invalid_dob ? null : 'repaired';
    case 'zip_leading_zero':
      return f & FLAG.invalid_zip ? null : 'repaired';
    case 'ts_format':
    case 'header_format':
      return 'repaired';
    case 'skewed_ts':
    case 'late_ts':
      // A plausible instant: only the patient's own rhythm (history.ts) can tell.
      return f & (FLAG.flag_event_ts_history | FLAG.future_ts) ? 'flagged' : null;
    default:
      return null;
  }
}

function readJsonl<T>(file: string): T[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** The run folder: a path, or a name under paths.synthea_stream. */
export function resolveRun(config: Config, run: string): string {
  const candidates = [path.resolve(run), path.join(config.resolved.syntheaStream, run)];
  const dir = candidates.find((c) => existsSync(path.join(c, 'noise_manifest.jsonl')) || existsSync(path.join(c, 'events.csv')));
  if (!dir) {
    const started = candidates.find((c) => existsSync(path.join(c, 'csv')) || existsSync(c));
    if (started && /^run_/.test(path.basename(started))) {
      throw new ScoreError(`${started} is incomplete (no events.csv: was generate interrupted?); leave it out or delete it`);
    }
    throw new ScoreError(`no run folder ${JSON.stringify(run)} (looked for events.csv in ${candidates.join(' and ')})`);
  }
  return dir;
}

/** Run folders sort by name: run_<stamp>_<seq> is the order they were generated in. */
export function runOrder(dirs: readonly string[]): string[] {
  return [...dirs].sort((a, b) => path.basename(a).localeCompare(path.basename(b)));
}

/** Score one run with the replay state of the runs before it. */
export async function scoreRunWith(
  config: Config,
  run: string,
  state: ReplayState,
  nowMs: number,
  ledger: LedgerReader,
  opts: { requireLoaded?: boolean } = {},
): Promise<RunReport> {
  const dir = resolveRun(config, run);
  const events = path.join(dir, 'events.csv');
  const manifestFile = path.join(dir, 'noise_manifest.jsonl');
  const lineageFile = path.join(dir, 'lineage.jsonl');
  for (const f of [events, lineageFile]) if (!existsSync(f)) throw new ScoreError(`${f} is missing: was this run made by medetl generate?`);
  const { sha256 } = await readCsvFile(events, () => undefined);
  const batchId = await ledger.committed(contentKey(parseKey(config.env[KEY_VARIABLE]), sha256));
  if (!batchId && opts.requireLoaded !== false) {
    throw new ScoreError(`the events of ${path.basename(dir)} have not been loaded yet: run medetl watch (or process) first`);
  }
  const { outcomes, checked } = await lineOutcomes(events, config, state, nowMs);
  const entries = existsSync(manifestFile) ? readJsonl<ManifestEntry>(manifestFile) : [];
  const lineage = readJsonl<LineageLine>(lineageFile).filter((l) => l.line > 1);
  const byKind = new Map<NoiseKind, KindScore>();
  for (const e of entries) {
    let s = byKind.get(e.kind);
    if (!s) byKind.set(e.kind, (s = { kind: e.kind, injected: 0, caught: 0, by: {}, missed: 0 }));
    s.injected++;
    let how: CatchHow | null = null;
    for (const line of e.event_lines ?? []) {
      const o = outcomes.get(line);
      if (o && (how = caughtOn(e, o))) break;
    }
    if (how) {
      s.caught++;
      s.by[how] = (s.by[how] ?? 0) + 1;
    } else s.missed++;
  }
  let cleanRows = 0;
  let cleanFlagged = 0;
  for (const l of lineage) {
    if (l.entries.length > 0) continue;
    const o = outcomes.get(l.line);
    if (!o || o.kind !== 'loaded') continue;
    cleanRows++;
    if (o.flags & QC_BITS) cleanFlagged++;
  }
  return {
    card: {
      run: path.basename(dir),
      batchId,
      rows: lineage.length,
      kinds: [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind)),
      cleanRows,
      cleanFlagged,
      cleanFlaggedShare: cleanRows ? cleanFlagged / cleanRows : 0,
    },
    loaded: checked.batch.n,
    flaggedRows: checked.flaggedRows,
    profile: checked.profile,
    drift: checked.drift,
    counts: checked.counts,
  };
}

/**
 * Score runs in generation order, carrying history, drift baseline and seen events from each run to the next,
 * as the pipeline with a store does: the scorecard of run k reflects what runs 1..k-1 taught it.
 */
export async function scoreRuns(config: Config, runs: readonly string[], ledger: LedgerReader, opts: { requireLoaded?: boolean } = {}): Promise<ScoreReport> {
  const dirs = runOrder(runs.map((r) => resolveRun(config, r)));
  const state = new ReplayState(config);
  const nowMs = clockFrom(config.env)();
  const reports: RunReport[] = [];
  for (const d of dirs) reports.push(await scoreRunWith(config, d, state, nowMs, ledger, opts));
  const total = reports.length === 1 ? reports[0].card : sumScorecards(reports.map((r) => r.card));
  return { runs: reports, total };
}

/** One run scored alone (its history: the earlier lines of the same run). */
export async function scoreRun(config: Config, run: string, ledger: LedgerReader): Promise<Scorecard> {
  return (await scoreRuns(config, [run], ledger)).total;
}

/** Several runs added up (demo, README). */
export function sumScorecards(cards: Scorecard[]): Scorecard {
  const byKind = new Map<NoiseKind, KindScore>();
  for (const c of cards)
    for (const k of c.kinds) {
      const s = byKind.get(k.kind) ?? { kind: k.kind, injected: 0, caught: 0, by: {}, missed: 0 };
      s.injected += k.injected;
      s.caught += k.caught;
      s.missed += k.missed;
      for (const [h, n] of Object.entries(k.by)) s.by[h as CatchHow] = (s.by[h as CatchHow] ?? 0) + (n ?? 0);
      byKind.set(k.kind, s);
    }
  const cleanRows = cards.reduce((a, c) => a + c.cleanRows, 0);
  const cleanFlagged = cards.reduce((a, c) => a + c.cleanFlagged, 0);
  return {
    run: `${cards.length} run(s)`,
    batchId: null,
    rows: cards.reduce((a, c) => a + c.rows, 0),
    kinds: [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind)),
    cleanRows,
    cleanFlagged,
    cleanFlaggedShare: cleanRows ? cleanFlagged / cleanRows : 0,
  };
}

export function formatScorecard(s: Scorecard, runs?: readonly RunReport[]): string {
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');
  const lines = [
    `scorecard for ${s.run}${s.batchId ? ` (batch ${s.batchId})` : ''}: ${s.rows} events rows`,
    '| noise kind | injected | caught | how | missed | caught % | bar |',
    '| --- | ---: | ---: | --- | ---: | ---: | --- |',
    ...s.kinds.map((k) => {
      const how = Object.entries(k.by).map(([h, n]) => `${h} ${n}`).join(', ') || '-';
      const want = SCORE_BARS[k.kind];
      const what = k.kind === 'unit_slip' ? ' converted' : '';
      const bar = want === undefined ? '' : `>= ${Math.round(want * 100)}%${what} ${barShare(k) >= want ? 'ok' : 'MISSED'}`;
      return `| ${k.kind} | ${k.injected} | ${k.caught} | ${how} | ${k.missed} | ${pct(k.caught, k.injected)} | ${bar} |`;
    }),
    `clean rows flagged: ${s.cleanFlagged} of ${s.cleanRows} (${pct(s.cleanFlagged, s.cleanRows)}; bar <= 1%: ${s.cleanFlaggedShare <= CLEAN_FLAGGED_BAR ? 'ok' : 'MISSED'})`,
  ];
  if (runs && runs.length > 1) {
    const drift = runs.flatMap((r) => r.drift);
    const alerts = drift.filter((d) => d.severity === 'alert').length;
    lines.push(`drift: ${drift.length} row(s) over ${runs.length} runs (${alerts} alert, ${drift.length - alerts} warn)`);
    runs.forEach((r, i) => {
      for (const d of r.drift) {
        lines.push(`  run ${i + 1} ${r.card.run}: ${d.column} ${d.statistic} ${round(d.observed)} vs baseline ${round(d.baseline)} (${d.severity})`);
      }
    });
  }
  return `${lines.join('\n')}\n`;
}

function round(x: number): string {
  return Math.abs(x) < 1 ? x.toFixed(3) : x.toFixed(1);
}
