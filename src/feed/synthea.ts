// Real Synthea: run the jar for one batch and hand back its CSV folder.
//
//   java -jar <jar> -p <patients> -s <seed> -a <min>-<max>
//        --exporter.csv.export true --exporter.fhir.export false
//        --exporter.hospital.fhir.export false --exporter.practitioner.fhir.export false
//        --exporter.years_of_history <years> --exporter.baseDirectory <runDir> <state> [city]
//
// Flags as parsed by Synthea's App.java (synthetichealth/synthea): -p population, -s seed,
// -a minAge-maxAge, state and city as the trailing positional arguments, any synthea.properties
// key as `--key value`. The CSVs land in <runDir>/csv/ (exporter.csv.folder_per_run is false by
// default). Synthea prints argument errors and exits 0 without output, so a run that wrote no
// patients.csv is reported as a failure too.
//
// Following the same population over time (`generate --follow`, or generate.follow): Synthea's
// `-u <file>` saves the simulated population to a snapshot and `-i <file> -t <days>` reloads it and
// moves the clock forward that many days (both refuse to run when physiology.generators.enabled is
// true). The first batch saves <synthea_stream>/population.bin; every later batch reloads it and
// moves the clock by the days since the snapshot was taken (population.json), so each export carries
// the same people's newer encounters. History that a later export repeats is dropped downstream as
// cross-batch duplicates. The argument set follows Synthea's App.java as read; CI checks it with a
// stand-in java, since no real jar can be downloaded here. `-r YYYYMMDD` (reference date) is not
// used: the App.java we read (synthetichealth/synthea at 014aa41) parses it with the pattern
// "YYYYMMDD" (week-year / day-of-year letters), which gives surprising dates.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { ensureDir } from '../core/fsx.js';

export interface SyntheaRunOptions {
  jar: string;
  runDir: string;
  patients: number;
  seed: number;
  minAge: number;
  maxAge: number;
  state: string;
  city: string | null;
  yearsOfHistory: number;
  /** Follow one population: save it (first batch) or reload it and move the clock forward. */
  snapshot?: { file: string; mode: 'save' } | { file: string; mode: 'load'; days: number };
  /** Command for Java; default `java` from PATH. */
  java?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export function syntheaArgs(o: SyntheaRunOptions): string[] {
  const args = [
    '-jar', o.jar,
    '-p', String(o.patients),
    '-s', String(o.seed),
    '-a', `${o.minAge}-${o.maxAge}`,
    '--exporter.csv.export', 'true',
    '--exporter.fhir.export', 'false',
    '--exporter.hospital.fhir.export', 'false',
    '--exporter.practitioner.fhir.export', 'false',
    '--exporter.years_of_history', String(o.yearsOfHistory),
    '--exporter.baseDirectory', o.runDir,
    o.state,
  ];
  if (o.snapshot?.mode === 'save') args.splice(2, 0, '-u', o.snapshot.file);
  if (o.snapshot?.mode === 'load') args.splice(2, 0, '-i', o.snapshot.file, '-t', String(o.snapshot.days));
  if (o.city) args.push(o.city);
  return args;
}

/** Keeps the last `n` lines of a stream. */
class Tail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly n: number) {}
  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > this.n) this.lines.splice(0, this.lines.length - this.n);
  }
  text(): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-this.n).join('\n');
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  | ${l}`)
    .join('\n');
}

/** Check the jar exists; `from` names where the path came from, for the error. */
export function checkJar(jar: string, from: string): void {
  if (!existsSync(jar) || !statSync(jar).isFile()) {
    throw new UserError(
      `Synthea jar not found: ${jar} (from ${from}). Download synthea-with-dependencies.jar from ` +
        'https://github.com/synthetichealth/synthea/releases, fix the path, or unset it to use the built-in generator.',
      'synthea_jar_missing',
    );
  }
}

/** Run Synthea for one batch; resolves to the CSV folder (<runDir>/csv). */
export async function runSynthea(o: SyntheaRunOptions): Promise<string> {
  checkJar(o.jar, 'the options');
  ensureDir(o.runDir);
  const java = o.java ?? 'java';
  const args = syntheaArgs(o);
  const stderr = new Tail(20);
  const stdout = new Tail(20);
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const child = spawn(java, args, {
      cwd: o.runDir,
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      // Own process group on POSIX, so Ctrl+C in the terminal lets `generate` finish the batch
      // instead of killing Synthea mid-run; o.signal (a second Ctrl+C) still kills it.
      detached: process.platform !== 'win32',
      signal: o.signal,
      killSignal: 'SIGKILL',
    });
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        reject(
          new UserError(
            `cannot run Synthea: \`${java}\` not found on PATH. Install a Java runtime (17 or newer) ` +
              'or unset SYNTHEA_JAR / generate.synthea_jar to use the built-in generator.',
            'java_not_found',
          ),
        );
      } else if (err.name === 'AbortError') {
        reject(new UserError('Synthea run stopped', 'synthea_stopped'));
      } else {
        reject(new UserError(`cannot run Synthea (${java}): ${err.message}`, 'synthea_failed'));
      }
    });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  if (result.code !== 0) {
    const how = result.code === null ? `was killed by ${result.signal}` : `failed with exit code ${result.code}`;
    const tail = stderr.text().trim();
    throw new UserError(
      `Synthea ${how}.${tail ? ` Last lines of its stderr:\n${indent(tail)}` : ' It wrote nothing to stderr.'}`,
      'synthea_failed',
    );
  }
  const csvDir = path.join(o.runDir, 'csv');
  if (!existsSync(path.join(csvDir, 'patients.csv'))) {
    const tail = [stderr.text(), stdout.text()].filter((t) => t.trim()).join('\n').trim();
    throw new UserError(
      `Synthea exited 0 but wrote no ${path.join(csvDir, 'patients.csv')} (it reports bad arguments that way).` +
        (tail ? ` Last lines of its output:\n${indent(tail)}` : ''),
      'synthea_failed',
    );
  }
  return csvDir;
}
