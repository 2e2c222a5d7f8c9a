// Temporary folders for tests. Every folder a test run makes lives inside one run folder
// (<tmpdir>/medetl-run-XXXXXX), made by the global setup (test/global-setup.ts) and passed to the test workers and
// their child processes in MEDETL_TEST_RUN_DIR. The teardown removes that folder and nothing else: other people's
// folders under the temporary directory are not ours to guess at.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const RUN_DIR_ENV = 'MEDETL_TEST_RUN_DIR';
export const KEEP_ENV = 'MEDETL_KEEP_TEST_DIRS';
export const RUN_DIR_PREFIX = 'medetl-run-';

/** A new, empty run folder under the system's temporary directory. */
export function createRunDir(parent = tmpdir()): string {
  return mkdtempSync(path.join(parent, RUN_DIR_PREFIX));
}

/**
 * Remove a run folder at the end of the run, or keep it (and say where) when MEDETL_KEEP_TEST_DIRS=1.
 * Returns what it did.
 */
export function finishRunDir(dir: string, env: NodeJS.ProcessEnv = process.env, say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): 'kept' | 'removed' {
  if (env[KEEP_ENV] === '1') {
    say(`test folders kept in ${dir} (${KEEP_ENV}=1)`);
    return 'kept';
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  return 'removed';
}

let ownRunDir: string | null = null;

/** The run folder: the global setup's, or (outside vitest) one of this process's own, removed when it exits. */
export function runDir(): string {
  const given = process.env[RUN_DIR_ENV];
  if (given) {
    // a child process started by a test sees the run's folder; make sure it is there (it is, during a run)
    mkdirSync(given, { recursive: true });
    return given;
  }
  if (!ownRunDir) {
    const dir = createRunDir();
    ownRunDir = dir;
    process.env[RUN_DIR_ENV] = dir;
    process.once('exit', () => finishRunDir(dir));
  }
  return ownRunDir;
}

/** A new, empty folder for one test (`<run folder>/<prefix>-XXXXXX`). The teardown removes it with the run folder. */
export function testDir(prefix = 'test'): string {
  const name = prefix.replace(/^medetl-/, '').replace(/-+$/, '') || 'test';
  return mkdtempSync(path.join(runDir(), `${name}-`));
}
