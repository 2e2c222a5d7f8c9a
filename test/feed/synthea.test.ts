// The real-Synthea driver, run through the built CLI (dist/cli.js) in a child process, with a
// stand-in `java` on PATH: a small node script that records its arguments and copies a real
// Synthea fixture folder into <exporter.baseDirectory>/csv, as Synthea does.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { syntheaArgs } from '../../src/feed/synthea.js';
import { itWithShared } from '../helpers/shared.js';
import { testDir } from '../helpers/test-dir.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'dist', 'cli.js');
/** The real Synthea output the stand-in copies (only the tests where it succeeds need it). */
const FIXTURE = 'fixtures/synthea/krvenkat12-hl7v2-to-fhir-streaming-pipeline';
const posix = process.platform !== 'win32';

const STAND_IN = `#!/usr/bin/env node
const fs = require('fs');
const path = require('path');
const args = process.argv.slice(2);
fs.appendFileSync(process.env.STANDIN_LOG, JSON.stringify({ args, cwd: process.cwd() }) + '\\n');
const mode = process.env.STANDIN_MODE || 'ok';
if (mode === 'fail') {
  for (let i = 1; i <= 30; i++) process.stderr.write('synthea err line ' + i + '\\n');
  process.exit(3);
}
if (mode === 'usage') {
  process.stderr.write('java.lang.NumberFormatException: For input string: "x"\\n');
  process.stdout.write('Usage: run_synthea [options] [state [city]]\\n');
  process.exit(0);
}
const base = args[args.indexOf('--exporter.baseDirectory') + 1];
if (args[0] !== '-jar' || !fs.existsSync(args[1]) || !base) { process.stderr.write('bad arguments\\n'); process.exit(9); }
if (args.includes('-u')) fs.writeFileSync(args[args.indexOf('-u') + 1], 'population snapshot');
if (args.includes('-i') && !fs.existsSync(args[args.indexOf('-i') + 1])) { process.stderr.write('no snapshot\\n'); process.exit(8); }
fs.mkdirSync(path.join(base, 'csv'), { recursive: true });
for (const f of ['patients.csv', 'encounters.csv', 'observations.csv']) {
  fs.copyFileSync(path.join(process.env.STANDIN_FIXTURE, f), path.join(base, 'csv', f));
}
process.stdout.write('Running with options:\\nPopulation: ' + args[args.indexOf('-p') + 1] + '\\n');
`;

interface Setup {
  dir: string;
  bin: string;
  log: string;
  run(args: string[], env?: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string };
  calls(): { args: string[]; cwd: string }[];
}

function setup(configYaml: string, dotenv = 'SYNTHEA_JAR=synthea.jar\n', fixture?: string): Setup {
  const dir = testDir('synthea');
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'java'), STAND_IN);
  chmodSync(path.join(bin, 'java'), 0o755);
  writeFileSync(path.join(dir, 'synthea.jar'), 'not really a jar');
  writeFileSync(path.join(dir, 'config.yaml'), configYaml);
  writeFileSync(path.join(dir, '.env'), dotenv, { mode: 0o600 });
  const log = path.join(dir, 'java-calls.jsonl');
  return {
    dir,
    bin,
    log,
    run(args, env = {}) {
      const r = spawnSync(process.execPath, [CLI, ...args], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          SYNTHEA_JAR: undefined,
          PATH: `${bin}${path.delimiter}${process.env.PATH}`,
          STANDIN_LOG: log,
          STANDIN_FIXTURE: fixture,
          ...env,
        },
      });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    calls() {
      try {
        return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      } catch {
        return [];
      }
    },
  };
}

describe.skipIf(!posix)('real Synthea driver (stand-in java)', () => {
  itWithShared(FIXTURE, 'runs java -jar with Synthea flags, seed + 1 per batch, and maps <runDir>/csv', (fixture) => {
    const s = setup('generate:\n  patients: 7\n  seed: 9\n  noise: "off"\n  min_age: 5\n  max_age: 80\n  years_of_history: 3\n', undefined, fixture);
    const r = s.run(['generate', '--batches', '2']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').slice(1); // line 1: "starting a new stream at batch 1 (seed 9)"
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^batch 1\/2 \(synthea, seed 9\): synthea_stream\/run_\d{8}T\d{6}Z_001 -> incoming\/events_\d{8}T\d{6}Z_001\.csv: 104 rows, 0 noise injected$/);
    expect(lines[1]).toMatch(/\(synthea, seed 10\).*_002\.csv: 104 rows/);
    const calls = s.calls();
    expect(calls).toHaveLength(2);
    const runs = readdirSync(path.join(s.dir, 'synthea_stream')).filter((n) => n.startsWith('run_')).sort();
    calls.forEach((c, i) => {
      const runDir = path.join(s.dir, 'synthea_stream', runs[i]);
      expect(c.args).toEqual([
        '-jar', path.join(s.dir, 'synthea.jar'),
        '-p', '7', '-s', String(9 + i), '-a', '5-80',
        '--exporter.csv.export', 'true',
        '--exporter.fhir.export', 'false',
        '--exporter.hospital.fhir.export', 'false',
        '--exporter.practitioner.fhir.export', 'false',
        '--exporter.years_of_history', '3',
        '--exporter.baseDirectory', runDir,
        'Massachusetts',
      ]);
    });
    const incoming = readdirSync(path.join(s.dir, 'incoming')).sort();
    expect(incoming).toHaveLength(2);
    const text = readFileSync(path.join(s.dir, 'incoming', incoming[0]), 'utf8');
    expect(text.split('\n').filter(Boolean)).toHaveLength(105);
    expect(text).toContain('512cbdeb-2461-65ce-6e06-ebe74134ed95,Aubrey96,Reinger292,2026-01-13,01852,2026-01-13T11:24:09Z,106.0,77.0,97.0\n');
    const batch = JSON.parse(readFileSync(path.join(s.dir, 'synthea_stream', runs[0], 'batch.json'), 'utf8'));
    expect(batch).toMatchObject({ engine: 'synthea', seed: 9, rows: 104, generator_stats: null });
  });

  itWithShared(FIXTURE, '--follow: the first batch saves the population, later ones reload it with the clock moved forward', (fixture) => {
    const s = setup('generate:\n  patients: 4\n  noise: "off"\n', undefined, fixture);
    expect(s.run(['generate', '--batches', '2', '--follow']).status).toBe(0);
    const snapshot = path.join(s.dir, 'synthea_stream', 'population.bin');
    const [first, second] = s.calls().map((c) => c.args);
    expect(first.slice(0, 4)).toEqual(['-jar', path.join(s.dir, 'synthea.jar'), '-u', snapshot]);
    expect(second.slice(0, 6)).toEqual(['-jar', path.join(s.dir, 'synthea.jar'), '-i', snapshot, '-t', '0']);
    expect(first).not.toContain('-i');
    // Ten days later: the clock moves ten days from the snapshot.
    const meta = path.join(s.dir, 'synthea_stream', 'population.json');
    const saved = JSON.parse(readFileSync(meta, 'utf8'));
    writeFileSync(meta, JSON.stringify({ ...saved, saved_at: new Date(Date.now() - 10.5 * 86_400_000).toISOString() }));
    expect(s.run(['generate', '--follow']).status).toBe(0);
    expect(s.calls()[2].args.slice(2, 6)).toEqual(['-i', snapshot, '-t', '10']);
    // Since issue 13 the built-in generator always follows its population, so follow: true without a jar is fine.
    const b = setup('generate:\n  follow: true\n  patients: 3\n', '');
    const rb = b.run(['generate']);
    expect(rb.stderr).toBe('');
    expect(rb.status).toBe(0);
    expect(rb.stdout).toMatch(/\(builtin, seed 42\)/);
  });

  itWithShared(FIXTURE, 'passes state and city as Synthea positional arguments; config generate.synthea_jar works too; noise applies', (fixture) => {
    const s = setup('generate:\n  synthea_jar: synthea.jar\n  noise: heavy\n', '', fixture);
    const r = s.run(['generate', '--state', 'Utah', '--city', 'Salt Lake City', '--patients', '3', '--seed', '123']);
    expect(r.status).toBe(0);
    const args = s.calls()[0].args;
    expect(args.slice(-2)).toEqual(['Utah', 'Salt Lake City']);
    expect(args.slice(args.indexOf('-p'), args.indexOf('-p') + 4)).toEqual(['-p', '3', '-s', '123']);
    expect(r.stdout).toMatch(/\(synthea, seed 123\).* noise injected \(/);
  });

  it('no java on PATH: a clear error, exit 2', () => {
    const s = setup('generate:\n  patients: 2\n');
    const empty = testDir('nojava');
    const r = s.run(['generate'], { PATH: empty });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^medetl: cannot run Synthea: `java` not found on PATH\. Install a Java runtime/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('missing jar: a clear error naming the path and where it came from, exit 2', () => {
    const s = setup('generate:\n  patients: 2\n', 'SYNTHEA_JAR=jars/missing.jar\n');
    const r = s.run(['generate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`Synthea jar not found: ${path.join(s.dir, 'jars', 'missing.jar')} (from SYNTHEA_JAR)`);
    expect(s.calls()).toHaveLength(0);
    const s2 = setup('generate:\n  synthea_jar: nowhere.jar\n', '');
    const r2 = s2.run(['generate']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain('(from generate.synthea_jar)');
  });

  it('Synthea failing: exit code and the last 20 lines of its stderr, exit 2, no events file', () => {
    const s = setup('generate:\n  patients: 2\n');
    const r = s.run(['generate'], { STANDIN_MODE: 'fail' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Synthea failed with exit code 3. Last lines of its stderr:');
    expect(r.stderr).toContain('synthea err line 11\n');
    expect(r.stderr).toContain('synthea err line 30');
    expect(r.stderr).not.toMatch(/synthea err line 10$/m);
    expect(readdirSync(path.join(s.dir, 'incoming'))).toEqual([]);
  });

  it('Synthea exiting 0 without CSVs (how it reports bad arguments) is a failure too', () => {
    const s = setup('generate:\n  patients: 2\n');
    const r = s.run(['generate'], { STANDIN_MODE: 'usage' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Synthea exited 0 but wrote no .*patients\.csv/);
    expect(r.stderr).toContain('NumberFormatException');
  });
});

describe('syntheaArgs', () => {
  it('leaves out the city when there is none', () => {
    const a = syntheaArgs({ jar: 'j.jar', runDir: 'r', patients: 1, seed: -5, minAge: 0, maxAge: 100, state: 'Massachusetts', city: null, yearsOfHistory: 5 });
    expect(a.slice(0, 8)).toEqual(['-jar', 'j.jar', '-p', '1', '-s', '-5', '-a', '0-100']);
    expect(a[a.length - 1]).toBe('Massachusetts');
  });
});
