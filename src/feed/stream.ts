// The feed's memory between `generate` runs: synthea_stream/stream.json, written atomically (temporary file,
// fsync, rename) after each batch's files are in place. It says which population the stream follows, how far
// its simulated clock has got and which seed comes next, so a second `generate` continues where the last one
// stopped instead of re-sending batch 1.
//
// A batch is planned from the state and the clock:
//   - no state, a different engine or population (seed aside: patients, place, ages, years of history), or an
//     explicit --seed other than the next one: a new stream. The built-in generator's population gets its
//     reference time `start_days_ago` days before the clock, and the first batch carries the years_of_history
//     before it;
//   - otherwise the stream continues: the next seed, and (built-in) the next window of `days_per_batch`
//     simulated days after the last one, never past the clock (a caught-up stream moves in real time).
// The clock is the caller's (MEDETL_NOW pins it); the plan and the generator are functions of it and the state.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { writeViaTmp } from './events.js';

export const STREAM_FILE = 'stream.json';
const DAY = 86_400_000;

/** What defines a population: any change starts a new stream. */
export interface PopulationSpec {
  patients: number;
  state: string;
  city: string | null;
  min_age: number;
  max_age: number;
  years_of_history: number;
}

export interface StreamState {
  version: 1;
  engine: 'builtin' | 'synthea';
  population: PopulationSpec & { seed: number };
  /** Built-in: the population's reference time (the first batch ends there), ISO 8601; null for Synthea. */
  reference_time: string | null;
  /** Built-in: the end of the last batch's window (the simulated clock), ISO 8601; null for Synthea. */
  clock: string | null;
  /** Batches generated in this stream so far. */
  batches: number;
  next_seed: number;
}

export interface BatchPlan {
  continuing: boolean;
  /** Why a new stream starts (null when continuing or when there was none). */
  reason: string | null;
  /** 1-based batch number in the stream. */
  batch: number;
  /** This batch's seed (noise; Synthea's -s). */
  seed: number;
  /** The population's seed (built-in generator). */
  populationSeed: number;
  /** Built-in: the population's reference time, ms. */
  referenceMs: number;
  /** Built-in: the window this batch exports, or null for the first batch. */
  window: { fromMs: number; toMs: number } | null;
}

export function readStream(streamDir: string): StreamState | null {
  const file = path.join(streamDir, STREAM_FILE);
  if (!existsSync(file)) return null;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as StreamState;
    if (s.version !== 1 || !Number.isSafeInteger(s.next_seed) || !Number.isSafeInteger(s.batches)) throw new Error('unknown shape');
    return s;
  } catch (err) {
    throw new UserError(`${file} is unreadable (${(err as Error).message}): delete it to start a new stream`, 'feed_stream_invalid');
  }
}

export async function writeStream(streamDir: string, s: StreamState): Promise<void> {
  await writeViaTmp(path.join(streamDir, STREAM_FILE), `${JSON.stringify(s, null, 2)}\n`);
}

function changed(a: PopulationSpec, b: PopulationSpec): string[] {
  return (Object.keys(b) as (keyof PopulationSpec)[]).filter((k) => a[k] !== b[k]).map((k) => `${k} ${JSON.stringify(a[k])} -> ${JSON.stringify(b[k])}`);
}

export function planBatch(
  prev: StreamState | null,
  want: { engine: 'builtin' | 'synthea'; population: PopulationSpec; seed?: number; defaultSeed: number },
  nowMs: number,
  g: { days_per_batch: number; start_days_ago: number },
): BatchPlan {
  let reason: string | null = null;
  if (prev) {
    const diff = changed(prev.population, want.population);
    if (prev.engine !== want.engine) reason = `engine ${prev.engine} -> ${want.engine}`;
    else if (diff.length) reason = diff.join(', ');
    else if (want.seed !== undefined && want.seed !== prev.next_seed) reason = `--seed ${want.seed} (the stream was at seed ${prev.next_seed})`;
    else if (prev.engine === 'builtin' && (prev.clock === null || prev.reference_time === null)) reason = 'no clock in the saved state';
  }
  if (prev && reason === null) {
    const seed = prev.next_seed;
    if (prev.engine === 'synthea') {
      return { continuing: true, reason: null, batch: prev.batches + 1, seed, populationSeed: prev.population.seed, referenceMs: nowMs, window: null };
    }
    const fromMs = Date.parse(prev.clock!);
    const toMs = Math.max(fromMs, Math.min(fromMs + g.days_per_batch * DAY, nowMs));
    return {
      continuing: true, reason: null, batch: prev.batches + 1, seed, populationSeed: prev.population.seed,
      referenceMs: Date.parse(prev.reference_time!), window: { fromMs, toMs },
    };
  }
  const seed = want.seed ?? prev?.next_seed ?? want.defaultSeed;
  const referenceMs = want.engine === 'builtin' ? Math.floor((nowMs - g.start_days_ago * DAY) / 1000) * 1000 : nowMs;
  return { continuing: false, reason, batch: 1, seed, populationSeed: seed, referenceMs, window: null };
}

/** The state after a planned batch was written. */
export function stateAfter(plan: BatchPlan, want: { engine: 'builtin' | 'synthea'; population: PopulationSpec }): StreamState {
  const builtin = want.engine === 'builtin';
  const clockMs = plan.window ? plan.window.toMs : plan.referenceMs;
  return {
    version: 1,
    engine: want.engine,
    population: { ...want.population, seed: plan.populationSeed },
    reference_time: builtin ? new Date(plan.referenceMs).toISOString() : null,
    clock: builtin ? new Date(clockMs).toISOString() : null,
    batches: plan.batch,
    next_seed: plan.seed + 1,
  };
}

/** "continuing from batch 7 (seed 48)" or "starting a new stream at batch 1 (seed 42)[: why]". */
export function describePlan(plan: BatchPlan): string {
  if (plan.continuing) return `continuing from batch ${plan.batch} (seed ${plan.seed})`;
  return `starting a new stream at batch 1 (seed ${plan.seed})${plan.reason ? `: ${plan.reason}` : ''}`;
}
