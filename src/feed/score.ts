// medetl score: how well QC caught the noise a run injected. The run's events.csv (byte-identical to
// the file delivered to incoming/) is replayed through the same pure stages as the pipeline
// (schema -> clean -> qc) to get each line's outcome; the ledger must show the file was loaded.
// The manifest says what was injected where (manifest.ts). Raw values are read here, locally, and
// never printed: the scorecard is counts only.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { KEY_VARIABLE, parseKey } from '../config/key.js';
import { contentKey } from '../pipeline/deid.js';
import type { LedgerReader } from '../stores/ledger.js';
import { cleanAndCheck, dropDuplicatesWithin } from '../pipeline/stages.js';
import { readCsvFile } from '../pipeline/read.js';
import { RawBatchBuilder, resolveHeader } from '../pipeline/schema.js';
import { FLAG, OUTLIER_BITS, type Vital } from '../pipeline/types.js';
import type { NoiseKind } from './noise.js';

export type Outcome =
  | { kind: 'rejected'; reason: string }
  | { kind: 'duplicate' }
  | { kind: 'loaded'; flags: number };

export type CatchHow = 'flagged' | 'clipped' | 'rejected' | 'deduplicated' | 'repaired' | 'nulled';

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
  cleanFlagged: number;
  cleanFlaggedShare: number;
}

/** Kinds QC is expected to catch, with the issue's bar (>= 99%). */
export const SCORED_KINDS: readonly NoiseKind[] = ['spike', 'bp_swap', 'digit_typo', 'duplicate_row'];

export class ScoreError extends Error {
  readonly userFacing = true;
}

/** Per physical line of an events file: what the pipeline's stages did with it. */
export async function lineOutcomes(file: string, config: Config): Promise<Map<number, Outcome>> {
  let builder: RawBatchBuilder | null = null;
  await readCsvFile(file, (fields, line) => {
    if (builder) builder.add(fields, line);
    else builder = new RawBatchBuilder(resolveHeader(fields), config.input.timezone);
  });
  if (!builder) throw new ScoreError(`${file} has no header`);
  const b = builder as RawBatchBuilder;
  const out = new Map<number, Outcome>();
  for (const r of b.rejects) out.set(r.line, { kind: 'rejected', reason: r.reason });
  const raw = b.finish();
  const all = Array.from(raw.line);
  const dedup = dropDuplicatesWithin(raw);
  const kept = new Set(dedup.batch.line);
  for (const l of all) if (!kept.has(l)) out.set(l, { kind: 'duplicate' });
  const q = cleanAndCheck(dedup.batch, config);
  for (let i = 0; i < q.batch.n; i++) out.set(q.batch.line[i], { kind: 'loaded', flags: q.batch.flags[i] });
  return out;
}

const VITAL_COLUMNS: readonly Vital[] = ['systolic_bp', 'diastolic_bp', 'heart_rate'];

function columnBits(columns: readonly string[] | undefined, prefix: 'flag' | 'clip' | 'invalid'): number {
  let bits = 0;
  for (const c of columns ?? []) {
    if (c === '*') for (const v of VITAL_COLUMNS) bits |= FLAG[`${prefix}_${v}`];
    else if ((VITAL_COLUMNS as readonly string[]).includes(c)) bits |= FLAG[`${prefix}_${c as Vital}`];
  }
  return bits;
}

/** How an injection was caught on one line, or null if that line shows nothing. */
export function caughtOn(entry: ManifestEntry, o: Outcome): CatchHow | null {
  if (o.kind === 'rejected') return 'rejected';
  if (o.kind === 'duplicate') return entry.kind === 'duplicate_row' ? 'deduplicated' : null;
  const f = o.flags;
  switch (entry.kind) {
    case 'spike':
    case 'unit_slip':
    case 'swapped_digits':
    case 'bp_swap':
      if (f & columnBits(entry.columns, 'clip')) return 'clipped';
      if (f & (columnBits(entry.columns, 'flag') | FLAG.flag_bp_order | FLAG.flag_pulse_pressure)) return 'flagged';
      return null;
    case 'digit_typo':
      return f & columnBits(entry.columns, 'invalid') ? 'nulled' : f & columnBits(entry.columns, 'flag') ? 'flagged' : null;
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
    default:
      // skewed_ts, late_ts: a plausible instant; no rule in a single batch can tell.
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
  if (!dir) throw new ScoreError(`no run folder ${JSON.stringify(run)} (looked for events.csv in ${candidates.join(' and ')})`);
  return dir;
}

export async function scoreRun(config: Config, run: string, ledger: LedgerReader): Promise<Scorecard> {
  const dir = resolveRun(config, run);
  const events = path.join(dir, 'events.csv');
  const manifestFile = path.join(dir, 'noise_manifest.jsonl');
  const lineageFile = path.join(dir, 'lineage.jsonl');
  for (const f of [events, lineageFile]) if (!existsSync(f)) throw new ScoreError(`${f} is missing: was this run made by medetl generate?`);
  const { sha256 } = await readCsvFile(events, () => undefined);
  const batchId = await ledger.committed(contentKey(parseKey(config.env[KEY_VARIABLE]), sha256));
  if (!batchId) throw new ScoreError(`the events of ${path.basename(dir)} have not been loaded yet: run medetl watch (or process) first`);
  const outcomes = await lineOutcomes(events, config);
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
    if (o.flags & OUTLIER_BITS) cleanFlagged++;
  }
  return {
    run: path.basename(dir),
    batchId,
    rows: lineage.length,
    kinds: [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind)),
    cleanRows,
    cleanFlagged,
    cleanFlaggedShare: cleanRows ? cleanFlagged / cleanRows : 0,
  };
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

export function formatScorecard(s: Scorecard): string {
  const pct = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(1)}%` : '-');
  const lines = [
    `scorecard for ${s.run}${s.batchId ? ` (batch ${s.batchId})` : ''}: ${s.rows} events rows`,
    '| noise kind | injected | caught | how | missed | caught % | bar |',
    '| --- | ---: | ---: | --- | ---: | ---: | --- |',
    ...s.kinds.map((k) => {
      const how = Object.entries(k.by).map(([h, n]) => `${h} ${n}`).join(', ') || '-';
      const scored = SCORED_KINDS.includes(k.kind);
      const bar = scored ? (k.injected === 0 || k.caught / k.injected >= 0.99 ? '>= 99% ok' : '>= 99% MISSED') : '';
      return `| ${k.kind} | ${k.injected} | ${k.caught} | ${how} | ${k.missed} | ${pct(k.caught, k.injected)} | ${bar} |`;
    }),
    `clean rows flagged: ${s.cleanFlagged} of ${s.cleanRows} (${pct(s.cleanFlagged, s.cleanRows)}; bar <= 1%: ${s.cleanFlaggedShare <= 0.01 ? 'ok' : 'MISSED'})`,
  ];
  return `${lines.join('\n')}\n`;
}
