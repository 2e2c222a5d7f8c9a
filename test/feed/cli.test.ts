// `medetl map` and `medetl generate` as a user runs them: the built CLI in a child process, real files.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { itWithShared } from '../helpers/shared.js';
import { testDir } from '../helpers/test-dir.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'dist', 'cli.js');
const HEADER = 'patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate';

function project(configYaml = ''): string {
  const dir = testDir('feedcli');
  writeFileSync(path.join(dir, 'config.yaml'), configYaml);
  return dir;
}

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.SYNTHEA_JAR;
  return e;
}

function run(dir: string, args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: env(), timeout: 60_000 });
}

describe('medetl map', () => {
  itWithShared('fixtures/synthea', 'writes one events file into incoming/ and prints it with the counts', (fixtures) => {
    const dir = project();
    const r = run(dir, ['map', path.join(fixtures, 'invitae-emr-exercise-java')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^wrote incoming\/events_\d{8}T\d{6}Z_001\.csv: 126 rows from 10 patients \(378 vital observations of 2791; 0 of unknown patients skipped; 0 non-numeric and 0 empty values passed through\)\n$/,
    );
    const files = readdirSync(path.join(dir, 'incoming'));
    expect(files).toHaveLength(1);
    const lines = readFileSync(path.join(dir, 'incoming', files[0]), 'utf8').split('\n');
    expect(lines[0]).toBe(HEADER);
    expect(lines.filter(Boolean)).toHaveLength(127);
  });

  itWithShared('fixtures/synthea', '--out and -c; a second run the same second takes the next sequence number', (fixtures) => {
    const dir = project('paths:\n  incoming: feed_in\n');
    mkdirSync(path.join(dir, 'sub'));
    const out = path.join(dir, 'elsewhere');
    const fixture = path.join(fixtures, 'krvenkat12-hl7v2-to-fhir-streaming-pipeline');
    const a = run(path.join(dir, 'sub'), ['map', fixture, '--out', out, '-c', '../config.yaml']);
    const b = run(path.join(dir, 'sub'), ['map', fixture, '-c', path.join(dir, 'config.yaml')]);
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    expect(readdirSync(out)).toHaveLength(1);
    expect(readdirSync(path.join(dir, 'feed_in'))).toHaveLength(1);
    expect(a.stdout).toContain('104 rows from 10 patients');
  });

  it('a folder without observations.csv or with a missing column: one clear line, exit 2', () => {
    const dir = project();
    const bad = path.join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(path.join(bad, 'patients.csv'), 'Id,BIRTHDATE,FIRST,LAST,ZIP\n');
    const r = run(dir, ['map', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`medetl: observations.csv not found in ${bad} (expected Synthea CSV output: patients.csv and observations.csv)\n`);
    writeFileSync(path.join(bad, 'observations.csv'), 'DATE,PATIENT,CODE\n');
    const r2 = run(dir, ['map', bad]);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toContain(`${path.join(bad, 'observations.csv')}: missing required column "VALUE"`);
  });
});

describe('medetl generate', () => {
  it('--batches 2: two progress lines, two events files, two run folders with manifest and lineage', () => {
    const dir = project('generate:\n  patients: 8\n');
    const r = run(dir, ['generate', '--batches', '2', '--noise', 'heavy', '--seed', '100']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // Since issue 13 the first line says where the stream starts (or continues).
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('starting a new stream at batch 1 (seed 100)');
    expect(lines[1]).toMatch(/^batch 1\/2 \(builtin, seed 100\): synthea_stream\/run_\d{8}T\d{6}Z_001 -> incoming\/events_\d{8}T\d{6}Z_001\.csv: \d+ rows, \d+ noise injected/);
    expect(lines[2]).toMatch(/^batch 2\/2 \(builtin, seed 101\): .*_002 -> .*_002\.csv/);
    expect(readdirSync(path.join(dir, 'incoming'))).toHaveLength(2);
    const runs = readdirSync(path.join(dir, 'synthea_stream')).filter((n) => n.startsWith('run_'));
    expect(runs).toHaveLength(2);
    expect(readdirSync(path.join(dir, 'synthea_stream'))).toContain('stream.json');
    expect(readdirSync(path.join(dir, 'synthea_stream', runs[0])).sort()).toEqual(
      ['batch.json', 'csv', 'events.clean.csv', 'events.csv', 'lineage.jsonl', 'noise_manifest.jsonl'],
    );
    // Raw data stays out of the masked output.
    expect(readdirSync(dir).sort()).toEqual(['config.yaml', 'incoming', 'synthea_stream']);
  });

  it('bad options and config are one clear line', () => {
    const dir = project('generate:\n  noise: loud\n');
    const r = run(dir, ['generate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('generate.noise must be one of "default", "heavy", "off", got "loud"');
    const r2 = run(project(), ['generate', '--state', 'Atlantis']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/^medetl: the built-in generator has no data for state "Atlantis"/);
    const r3 = run(project(), ['generate', '--every', 'soon']);
    expect(r3.status).not.toBe(0);
    expect(r3.stderr).toContain('not a duration');
  });

  // Windows has no signals to send a child; Ctrl+C there is covered by the same handler (SIGINT).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it.skipIf(process.platform === 'win32')(`--every repeats until ${sig}, then stops cleanly between batches (exit 0)`, async () => {
      const dir = project('generate:\n  patients: 3\n');
      const child = spawn(process.execPath, [CLI, 'generate', '--every', '300ms'], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const twoBatches = new Promise<void>((resolve) => {
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if ((out.match(/^batch /gm) ?? []).length >= 2) resolve();
        });
      });
      await twoBatches;
      child.kill(sig);
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      expect(code).toBe(0);
      expect(err).toContain(`${sig}: stopping after the current batch`);
      const n = (out.match(/^batch \d+ \(builtin/gm) ?? []).length;
      expect(n).toBeGreaterThanOrEqual(2);
      expect(out).toContain(`stopped after ${n} batches`);
      const files = readdirSync(path.join(dir, 'incoming'));
      expect(files).toHaveLength(n);
      expect(files.every((f) => /^events_\d{8}T\d{6}Z_\d{3}\.csv$/.test(f))).toBe(true);
      expect(readdirSync(path.join(dir, 'synthea_stream')).filter((x) => x.startsWith('run_'))).toHaveLength(n);
    });
  }
});
