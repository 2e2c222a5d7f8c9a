// Test hygiene, checked on a real vitest run of its own (test/hygiene/probe/): the teardown removes the run folder
// and nothing else, MEDETL_KEEP_TEST_DIRS=1 keeps it, and tests that need ../shared skip on a plain clone and fail
// when MEDETL_REQUIRE_SHARED=1. The inner run gets a temporary directory of its own (TMPDIR), so a foreign folder
// next to its run folder stands for other people's folders under /tmp.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/project.js';
import { RUN_DIR_ENV, RUN_DIR_PREFIX, testDir } from '../helpers/test-dir.js';

interface InnerRun {
  code: number | null;
  stderr: string;
  tmp: string;
  foreign: string;
  out: { dir: string; run: string; child: string };
  /** Status of each test by its full name. */
  tests: Map<string, string>;
  failures: string;
}

async function innerRun(env: Record<string, string>): Promise<InnerRun> {
  const base = testDir('hygiene');
  const tmp = path.join(base, 'tmp');
  mkdirSync(tmp);
  // someone else's folder with our prefix, made just before the run (and written to during it)
  const foreign = mkdtempSync(path.join(tmp, 'medetl-foreign-'));
  writeFileSync(path.join(foreign, 'before-run.txt'), 'mine');
  const shared = path.join(base, 'shared');
  mkdirSync(path.join(shared, 'probe-present'), { recursive: true });
  writeFileSync(path.join(shared, 'probe-present', 'marker.txt'), 'x');
  const outFile = path.join(base, 'probe-out.json');
  const report = path.join(base, 'report.json');
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|MEDETL_)|^__VITEST/.test(k)) childEnv[k] = v;
  Object.assign(childEnv, { TMPDIR: tmp, TMP: tmp, TEMP: tmp, MEDETL_SHARED_DIR: shared, PROBE_OUT: outFile, PROBE_FOREIGN: foreign, NODE_ENV: 'test' }, env);
  const child = spawn(
    process.execPath,
    [path.join(REPO, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'test/hygiene/probe/vitest.probe.config.ts', '--reporter=json', `--outputFile=${report}`],
    { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const json = JSON.parse(readFileSync(report, 'utf8')) as { testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[] };
  const results = json.testResults.flatMap((f) => f.assertionResults);
  const tests = new Map(results.map((a) => [a.fullName, a.status]));
  const failures = results.flatMap((a) => a.failureMessages).join('\n');
  return { code, stderr, tmp, foreign, out: JSON.parse(readFileSync(outFile, 'utf8')), tests, failures };
}

describe('one run folder per test run', () => {
  it('plain clone: the teardown removes the run folder only; tests needing ../shared skip and say what they need', async () => {
    const r = await innerRun({});
    expect(r.code, r.stderr).toBe(0);
    // every folder of the run was inside one run folder under the run's temporary directory, seen by a child too
    expect(path.dirname(r.out.run)).toBe(r.tmp);
    expect(path.basename(r.out.run).startsWith(RUN_DIR_PREFIX)).toBe(true);
    expect(path.dirname(r.out.dir)).toBe(r.out.run);
    expect(r.out.child).toBe(r.out.run);
    // gone: the run folder and what was in it; kept: the foreign folder and both its files
    expect(existsSync(r.out.run)).toBe(false);
    expect(readdirSync(r.tmp)).toEqual([path.basename(r.foreign)]);
    expect(readdirSync(r.foreign).sort()).toEqual(['before-run.txt', 'during-run.txt']);
    // ../shared
    expect(r.tests.get('runs when the shared folder is there')).toBe('passed');
    expect(r.tests.get('one test that needs a missing shared folder (needs ../shared/probe-missing)')).toBe('skipped');
    expect(r.tests.get('a block that needs a missing shared folder needs ../shared/probe-missing')).toBe('skipped');
    expect([...r.tests.values()].filter((s) => s === 'skipped')).toHaveLength(2);
    expect(r.stderr).toContain('skipping: probe-missing is not in');
    expect(r.stderr).toContain('put them beside the repository (../shared/probe-missing) or set MEDETL_SHARED_DIR');
  });

  it('CI (MEDETL_REQUIRE_SHARED=1): the tests needing ../shared fail with the reason; MEDETL_KEEP_TEST_DIRS=1 keeps the run folder', async () => {
    const r = await innerRun({ MEDETL_REQUIRE_SHARED: '1', MEDETL_KEEP_TEST_DIRS: '1' });
    try {
      expect(r.code).toBe(1);
      expect(r.tests.get('makes its folder inside the run folder, which child processes see too')).toBe('passed');
      expect(r.tests.get('runs when the shared folder is there')).toBe('passed');
      expect(r.tests.get('one test that needs a missing shared folder (needs ../shared/probe-missing)')).toBe('failed');
      expect(r.tests.get('a block that needs a missing shared folder needs ../shared/probe-missing')).toBe('failed');
      expect(r.failures).toContain('probe-missing is not in');
      expect(r.failures).toContain('(MEDETL_REQUIRE_SHARED=1)');
      expect(r.failures).not.toContain('ran without its shared folder');
      expect(r.stderr).toContain(`test folders kept in ${r.out.run} (MEDETL_KEEP_TEST_DIRS=1)`);
      expect(readFileSync(path.join(r.out.dir, 'data.txt'), 'utf8')).toBe('x');
      expect(existsSync(r.foreign)).toBe(true);
    } finally {
      rmSync(r.out.run, { recursive: true, force: true });
    }
  });

  it('this run: testDir() makes folders inside the run folder the global setup made', () => {
    const run = process.env[RUN_DIR_ENV]!;
    expect(path.basename(run).startsWith(RUN_DIR_PREFIX)).toBe(true);
    const a = testDir('medetl-x-');
    const b = testDir('x');
    expect(path.dirname(a)).toBe(run);
    expect(path.basename(a)).toMatch(/^x-.{6}$/);
    expect(b).not.toBe(a);
  });
});
