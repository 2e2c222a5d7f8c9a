// One feed batch: Synthea CSVs (real jar or built-in generator) -> noise with ground truth ->
// mapped events file in incoming/, plus the run folder `medetl score` reads (see manifest.ts).
import { existsSync, mkdirSync, promises as fs, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import type { Config } from '../config/load.js';
import { ensureDir } from '../core/fsx.js';
import { formatEvents, writeEventsFile, writeViaTmp } from './events.js';
import { followPopulation, writeSyntheaCsv, type GeneratorOptions, type GeneratorStats, type Population } from './generator.js';
import { appendManifest, buildLineage, countByKind, writeLineage } from './manifest.js';
import { mapVitals, readSynthea, type MapStats } from './mapper.js';
import { applyEventsNoise, applySyntheaNoise, NOISE_KINDS, NOISE_PROFILES, noiseRates, type NoiseKind, type NoiseRates } from './noise.js';
import { Rng } from './random.js';
import { eventsFileName, freeSeq, runDirName, stampOf } from './stamp.js';
import { describePlan, planBatch, readStream, stateAfter, writeStream, type BatchPlan, type PopulationSpec } from './stream.js';
import { checkJar, runSynthea } from './synthea.js';

export interface GenerateBatchOptions {
  /**
   * Seed of this batch. Default: the stream's next seed (synthea_stream/stream.json), or generate.seed for a
   * new stream. A seed other than the stream's next one starts a new stream (a new population).
   */
  seed?: number;
  patients?: number;
  state?: string;
  city?: string | null;
  minAge?: number;
  maxAge?: number;
  yearsOfHistory?: number;
  /** Noise profile: default | heavy | off; default generate.noise. */
  noise?: string;
  /** Folder for the events file; default paths.incoming. */
  out?: string;
  /** The clock: names the files and moves the stream (MEDETL_NOW pins it). Default: now. */
  now?: Date;
  /** First sequence number to try for the names (the next free one is used). Default 1. */
  seq?: number;
  /** Synthea jar; undefined = SYNTHEA_JAR from the environment/.env, then generate.synthea_jar; null = built-in. */
  jar?: string | null;
  /** Real Synthea: follow the same population over time; default generate.follow. (The built-in generator always does.) */
  follow?: boolean;
  /** Stops a running Synthea child (the built-in generator is quick and is not interrupted). */
  signal?: AbortSignal;
  /** Called once the batch is planned, before anything is generated, with describePlan()'s message. */
  onPlan?: (message: string, plan: BatchPlan) => void;
}

export interface GenerateBatchResult {
  runDir: string;
  /** Synthea CSV folder of the run (clean). */
  csvDir: string;
  /** The events file written into incoming/ (or --out). */
  eventsFile: string;
  /** Data rows in the events file (duplicates included). */
  rows: number;
  /** Noise injections (manifest entries). */
  injected: number;
  injectedByKind: Record<NoiseKind, number>;
  engine: 'builtin' | 'synthea';
  seed: number;
  /** Where the batch sits in the stream, and whether it continued an earlier one. */
  stream: BatchPlan;
  /** "continuing from batch 7 (seed 48)" / "starting a new stream at batch 1 (seed 42)". */
  streamMessage: string;
  stamp: string;
  seq: number;
  manifestFile: string;
  lineageFile: string;
  mapStats: MapStats;
  /** Built-in generator only. */
  generatorStats: GeneratorStats | null;
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The jar to use and where its path came from, or null for the built-in generator. */
export function resolveJar(config: Config, override?: string | null): { jar: string; from: string } | null {
  if (override === null) return null;
  if (override !== undefined) return { jar: path.resolve(override), from: '--jar' };
  const env = config.env.SYNTHEA_JAR;
  if (env !== undefined && env.trim() !== '') return { jar: path.resolve(config.resolved.root, env.trim()), from: 'SYNTHEA_JAR' };
  const key = config.generate.synthea_jar;
  if (key) return { jar: path.resolve(config.resolved.root, key), from: 'generate.synthea_jar' };
  return null;
}

/** The last population followed in this process: a run of many batches draws everyone's life once. */
let lastPopulation: { key: string; population: Population } | null = null;
function populationOf(o: Omit<GeneratorOptions, 'window'>): Population {
  const key = JSON.stringify({ ...o, referenceTime: o.referenceTime.getTime() });
  if (lastPopulation?.key !== key) lastPopulation = { key, population: followPopulation(o) };
  return lastPopulation.population;
}

export const POPULATION_FILE = 'population.bin';
const POPULATION_META = 'population.json';

/** First batch: save the population; later ones: reload it, the clock moved by the days since it was saved. */
export function populationSnapshot(stream: string, now: Date): { file: string; mode: 'save' } | { file: string; mode: 'load'; days: number } {
  const file = path.join(stream, POPULATION_FILE);
  const meta = path.join(stream, POPULATION_META);
  if (!existsSync(file) || !existsSync(meta)) return { file, mode: 'save' };
  const savedAt = Date.parse((JSON.parse(readFileSync(meta, 'utf8')) as { saved_at: string }).saved_at);
  const days = Number.isFinite(savedAt) ? Math.max(0, Math.floor((now.getTime() - savedAt) / 86_400_000)) : 0;
  return { file, mode: 'load', days };
}

export async function generateBatch(config: Config, opts: GenerateBatchOptions = {}): Promise<GenerateBatchResult> {
  const g = config.generate;
  const patients = opts.patients ?? g.patients;
  const state = opts.state ?? g.state;
  const city = opts.city === undefined ? g.city : opts.city;
  const minAge = opts.minAge ?? g.min_age;
  const maxAge = opts.maxAge ?? g.max_age;
  const yearsOfHistory = opts.yearsOfHistory ?? g.years_of_history;
  const profile = opts.noise ?? g.noise;
  if (!(NOISE_PROFILES as readonly string[]).includes(profile)) {
    throw new UserError(`noise profile must be one of ${NOISE_PROFILES.join(', ')}, got ${JSON.stringify(profile)}`);
  }
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) throw new UserError(`seed must be a whole number, got ${opts.seed}`);
  if (!Number.isInteger(patients) || patients < 1) throw new UserError(`patients must be a whole number >= 1, got ${patients}`);
  const rates: NoiseRates = noiseRates(profile, g.noise_rates ?? {});
  const incoming = path.resolve(opts.out ?? config.resolved.incoming);
  const stream = config.resolved.syntheaStream;
  // Raw data (events file, Synthea output, manifest) must never land in the masked output.
  if (isInside(stream, config.resolved.maskedOut)) {
    throw new UserError('paths.synthea_stream must not be under paths.masked_out: it holds raw data and the noise manifest');
  }
  if (isInside(incoming, config.resolved.maskedOut)) throw new UserError('the events folder must not be under paths.masked_out: events files hold raw data');
  const jar = resolveJar(config, opts.jar);
  if (jar) checkJar(jar.jar, jar.from);
  const follow = (opts.follow ?? g.follow) && jar !== null;

  const now = opts.now ?? new Date();
  const stamp = stampOf(now);
  ensureDir(stream);
  ensureDir(incoming);
  const engine = jar ? 'synthea' : 'builtin';
  const population: PopulationSpec = { patients, state, city, min_age: minAge, max_age: maxAge, years_of_history: yearsOfHistory };
  const plan = planBatch(readStream(stream), { engine, population, seed: opts.seed, defaultSeed: g.seed }, now.getTime(), g);
  const seed = plan.seed;
  opts.onPlan?.(describePlan(plan), plan);
  // Claim the run folder with a non-recursive mkdir, so two producers never share a name.
  let seq = freeSeq(stamp, opts.seq ?? 1, [incoming, config.resolved.archive], stream);
  let runDir: string;
  for (;;) {
    runDir = path.join(stream, runDirName(stamp, seq));
    try {
      mkdirSync(runDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      seq = freeSeq(stamp, seq + 1, [incoming, config.resolved.archive], stream);
    }
  }

  // 1. Synthea CSVs.
  let csvDir = path.join(runDir, 'csv');
  let generatorStats: GeneratorStats | null = null;
  if (jar) {
    const snap = follow ? populationSnapshot(stream, now) : undefined;
    csvDir = await runSynthea({
      jar: jar.jar, runDir, patients, seed, minAge, maxAge, state, city, yearsOfHistory, signal: opts.signal, snapshot: snap,
    });
    if (snap?.mode === 'save') writeFileSync(path.join(stream, POPULATION_META), `${JSON.stringify({ saved_at: now.toISOString(), seed })}\n`);
  } else {
    const gen = populationOf({
      patients, seed: plan.populationSeed, state, city, minAge, maxAge, yearsOfHistory, referenceTime: new Date(plan.referenceMs),
    }).export(plan.window ?? undefined);
    await writeSyntheaCsv(csvDir, gen);
    generatorStats = gen.stats;
  }

  // 2. Noise (in memory; csv/ stays clean), mapping, events-level noise.
  const clean = await readSynthea(csvDir);
  const rng = new Rng(seed, 0x6e6f6973); // 'nois': a stream apart from the generator's
  const noisy = applySyntheaNoise(clean, rates, rng);
  const mapped = mapVitals(noisy.input);
  const cleanMapped = mapVitals(clean);
  const patientOf = (i: number) => mapped.rows[i][0];
  const ev = applyEventsNoise(mapped.header, mapped.rows, patientOf, rates, rng, noisy.entries.length + 1);
  const entries = [...noisy.entries, ...ev.entries];
  const text = formatEvents(ev.header, ev.rows);
  const cleanText = formatEvents(cleanMapped.header, cleanMapped.rows);
  const lineage = buildLineage(mapped, cleanMapped, cleanText.lines, ev, text.lines, entries);

  // 3. Run folder first, then the events file: when the watcher sees it, the ground truth is there.
  await fs.writeFile(path.join(runDir, 'events.csv'), text.text, 'utf8');
  await fs.writeFile(path.join(runDir, 'events.clean.csv'), cleanText.text, 'utf8');
  const manifestFile = await appendManifest(runDir, entries);
  const lineageFile = await writeLineage(runDir, lineage);
  const injectedByKind = countByKind(entries, NOISE_KINDS);
  const eventsName = path.join(incoming, eventsFileName(stamp, seq));
  const summary = {
    engine: jar ? 'synthea' : 'builtin',
    jar: jar?.jar ?? null,
    seed,
    stream_batch: plan.batch,
    continued: plan.continuing,
    population_seed: jar ? null : plan.populationSeed,
    /** The clock the batch was made at (MEDETL_NOW or the system clock). */
    made_at: now.toISOString(),
    /** Built-in: the population's reference time, and the window of simulated time this batch exports. */
    reference_time: jar ? now.toISOString() : new Date(plan.referenceMs).toISOString(),
    window: plan.window
      ? { from: new Date(plan.window.fromMs).toISOString(), to: new Date(plan.window.toMs).toISOString() }
      : jar
        ? null
        : { from: new Date(plan.referenceMs - yearsOfHistory * 365.2425 * 86_400_000).toISOString(), to: new Date(plan.referenceMs).toISOString() },
    stamp,
    seq,
    patients,
    state,
    city,
    min_age: minAge,
    max_age: maxAge,
    years_of_history: yearsOfHistory,
    noise_profile: profile,
    rates,
    events_file: eventsName,
    events_name: path.basename(eventsName),
    rows: ev.rows.length,
    injected: entries.length,
    injected_by_kind: injectedByKind,
    map_stats: mapped.stats,
    generator_stats: generatorStats,
  };
  await writeViaTmp(path.join(runDir, 'batch.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const eventsFile = await writeEventsFile(incoming, stamp, seq, text.text);
  // Last: a crash before this line makes the next run regenerate the same batch (same bytes: skipped as
  // already loaded), never skip one.
  await writeStream(stream, stateAfter(plan, { engine, population }));
  return {
    runDir,
    csvDir,
    eventsFile,
    rows: ev.rows.length,
    injected: entries.length,
    injectedByKind,
    engine,
    seed,
    stream: plan,
    streamMessage: describePlan(plan),
    stamp,
    seq,
    manifestFile,
    lineageFile,
    mapStats: mapped.stats,
    generatorStats,
  };
}

export interface MapToIncomingResult {
  eventsFile: string;
  rows: number;
  stats: MapStats;
}

/** `medetl map`: map a Synthea CSV folder as is (no noise) into an events file. */
export async function mapToIncoming(config: Config, dir: string, opts: { out?: string; now?: Date } = {}): Promise<MapToIncomingResult> {
  const incoming = path.resolve(opts.out ?? config.resolved.incoming);
  if (isInside(incoming, config.resolved.maskedOut)) throw new UserError('the events folder must not be under paths.masked_out: events files hold raw data');
  const input = await readSynthea(path.resolve(dir));
  const mapped = mapVitals(input);
  const text = formatEvents(mapped.header, mapped.rows);
  const stamp = stampOf(opts.now ?? new Date());
  ensureDir(incoming);
  const seq = freeSeq(stamp, 1, [incoming, config.resolved.archive]);
  const eventsFile = await writeEventsFile(incoming, stamp, seq, text.text);
  return { eventsFile, rows: mapped.rows.length, stats: mapped.stats };
}
