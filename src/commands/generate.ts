// medetl generate: Synthea batches (real jar or built-in generator) -> noise with ground truth ->
// events files in incoming/. --every repeats until Ctrl+C / SIGTERM, stopping between batches.
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../config/load.js';
import { clockFrom } from '../core/time.js';
import { generateBatch, type GenerateBatchOptions, type GenerateBatchResult } from '../feed/batch.js';
import { NOISE_PROFILES } from '../feed/noise.js';
import { parseDuration } from '../feed/stamp.js';
import { action, configFrom, withConfigOption } from './common.js';
import { createProgressBar, progressAllowed } from './progress-bar.js';

export { generateBatch, mapToIncoming, resolveJar } from '../feed/batch.js';
export type { GenerateBatchOptions, GenerateBatchResult } from '../feed/batch.js';

export interface GenerateLoopOptions extends Omit<GenerateBatchOptions, 'seed' | 'now' | 'signal' | 'seq' | 'onPlan'> {
  /**
   * First batch's seed (a new stream unless it is the stream's next seed); later batches continue the stream
   * (seed + 1 each). Default: continue the stream in synthea_stream/, or start one at generate.seed.
   */
  seed?: number;
  /** Number of batches; Infinity = until stopped. Default 1. */
  batches?: number;
  /** Pause from the start of one batch to the start of the next, ms. Default 0. */
  everyMs?: number;
  /** Aborting stops the loop between batches: a batch under way is finished first. */
  signal?: AbortSignal;
  /** Aborting kills a running Synthea child at once (the batch then fails). */
  killSignal?: AbortSignal;
  /** Called after each batch. */
  onBatch?: (r: GenerateBatchResult, index: number) => void;
  /** Called when the first batch is planned: "continuing from batch 7 (seed 48)" or "starting a new stream ...". */
  onStart?: (message: string) => void;
  /** The clock (default: MEDETL_NOW from the config's environment, else the system clock). */
  now?: () => Date;
}

function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Run batches one after another; returns what was written. Usable by `medetl demo`. */
export async function generateBatches(config: Config, opts: GenerateLoopOptions = {}): Promise<GenerateBatchResult[]> {
  const clock = clockFrom(config.env); // MEDETL_NOW pins the batch times too
  const { batches = 1, everyMs = 0, signal, killSignal, onBatch, onStart, now = () => new Date(clock()), seed, ...rest } = opts;
  const results: GenerateBatchResult[] = [];
  let seq = 1;
  for (let i = 0; i < batches && !signal?.aborted; i++) {
    const started = Date.now();
    const r = await generateBatch(config, {
      ...rest, seed: i === 0 ? seed : undefined, now: now(), seq, signal: killSignal, onPlan: i === 0 ? onStart : undefined,
    });
    seq = r.seq + 1;
    results.push(r);
    onBatch?.(r, i);
    if (i + 1 < batches) await sleepUnlessAborted(everyMs - (Date.now() - started), signal);
  }
  return results;
}

function rel(p: string): string {
  return path.relative(process.cwd(), p) || p;
}

function intArg(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}`);
    return n;
  };
}

export function describeBatch(r: GenerateBatchResult, index: number, total: number): string {
  const kinds = Object.entries(r.injectedByKind)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const of = Number.isFinite(total) ? `/${total}` : '';
  return (
    `batch ${index + 1}${of} (${r.engine}, seed ${r.seed}): ${rel(r.runDir)} -> ${rel(r.eventsFile)}: ` +
    `${r.rows} rows, ${r.injected} noise injected${kinds ? ` (${kinds})` : ''}\n`
  );
}

interface GenerateCliOptions {
  config?: string;
  batches?: number;
  every?: number;
  patients?: number;
  seed?: number;
  state?: string;
  city?: string;
  noise?: string;
  out?: string;
  jar?: string;
  follow?: boolean;
  quiet?: boolean;
}

export function registerGenerate(program: Command): void {
  withConfigOption(
    program
      .command('generate')
      .summary('Synthea (jar or built-in) + noise with ground truth -> events files in incoming/')
      .description(
        'generate Synthea batches (SYNTHEA_JAR / generate.synthea_jar, else the built-in generator), inject noise with a ' +
          'ground-truth manifest (synthea_stream/run_*/), and drop mapped events files into incoming/. Each run continues ' +
          'the stream where the last one stopped (synthea_stream/stream.json): the built-in generator follows one ' +
          'population, each batch carrying generate.days_per_batch more simulated days.',
      )
      .option('--batches <n>', 'number of batches (default 1; with --every: until stopped)', intArg('--batches', 1))
      .option('--every <duration>', 'start a batch every duration (e.g. 20s, 2m) until Ctrl+C / SIGTERM', (v) => {
        try {
          return parseDuration(v);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      })
      .option('--patients <n>', 'people per batch (default generate.patients)', intArg('--patients', 1))
      .option('--seed <n>', 'start a new stream at this seed; +1 per batch (default: continue the stream, else generate.seed)', intArg('--seed', Number.MIN_SAFE_INTEGER))
      .option('--state <name>', 'US state (default generate.state)')
      .option('--city <name>', 'city in the state (default generate.city: any)')
      .option('--noise <profile>', `noise profile: ${NOISE_PROFILES.join(' | ')} (default generate.noise)`, (v) => {
        if (!(NOISE_PROFILES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${NOISE_PROFILES.join(', ')}`);
        return v;
      })
      .option('--out <dir>', 'folder for the events files (default paths.incoming)')
      .option('--jar <path>', 'Synthea jar for this run (overrides SYNTHEA_JAR and generate.synthea_jar)')
      .option('-q, --quiet', 'no progress bar')
      .option('--follow', 'real Synthea: follow the same population over time (snapshot saved once, then reloaded with the clock moved forward); the built-in generator always does'),
  ).action(
    action(async (opts: GenerateCliOptions) => {
      const config = configFrom(opts);
      const total = opts.batches ?? (opts.every !== undefined ? Infinity : 1);
      const stop = new AbortController();
      const kill = new AbortController();
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        signals++;
        if (signals === 1) {
          process.stderr.write(`medetl: ${sig}: stopping after the current batch (again to abort now)\n`);
          stop.abort();
        } else {
          process.stderr.write(`medetl: ${sig}: aborting\n`);
          kill.abort();
          process.exit(130);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      // batches done of --batches (stderr, terminals only; --every without --batches has no end, so no bar)
      const bar = createProgressBar({ unit: 'batches', enabled: !opts.quiet && Number.isFinite(total) && progressAllowed() });
      let rowsSoFar = 0;
      const say = (text: string) => {
        bar.stop();
        process.stdout.write(text);
      };
      try {
        const results = await generateBatches(config, {
          batches: total,
          everyMs: opts.every ?? 0,
          seed: opts.seed,
          patients: opts.patients,
          state: opts.state,
          city: opts.city,
          noise: opts.noise,
          out: opts.out,
          jar: opts.jar,
          follow: opts.follow,
          signal: stop.signal,
          killSignal: kill.signal,
          onStart: (message) => {
            say(`${message}\n`);
            bar.start('generate', total);
          },
          onBatch: (r, i) => {
            rowsSoFar += r.rows;
            say(describeBatch(r, i, total));
            if (i + 1 < total) bar.start('generate', total, i + 1, rowsSoFar);
          },
        });
        bar.stop();
        if (stop.signal.aborted) process.stdout.write(`stopped after ${results.length} batch${results.length === 1 ? '' : 'es'}\n`);
      } finally {
        bar.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }),
  );
}
