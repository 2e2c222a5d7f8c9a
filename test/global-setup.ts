// One folder per test run: every temporary folder a test makes (testDir() in test/helpers/test-dir.ts) lives in
// it, and the teardown removes that folder only. Workers and the child processes tests start find it in
// MEDETL_TEST_RUN_DIR (vitest's forks pool starts the workers after this setup, with this process's environment).
// MEDETL_KEEP_TEST_DIRS=1 keeps it for a post-mortem and prints where it is.
import { createRunDir, finishRunDir, RUN_DIR_ENV } from './helpers/test-dir.js';

export default function setup(): () => void {
  const dir = createRunDir();
  const before = process.env[RUN_DIR_ENV];
  process.env[RUN_DIR_ENV] = dir;
  // Belt and braces: anything that still asks os.tmpdir() (a library, a child process) lands in the run folder too.
  const tmpBefore = { TMPDIR: process.env.TMPDIR, TMP: process.env.TMP, TEMP: process.env.TEMP };
  process.env.TMPDIR = process.env.TMP = process.env.TEMP = dir;
  return () => {
    Object.assign(process.env, tmpBefore);
    finishRunDir(dir);
    if (before === undefined) delete process.env[RUN_DIR_ENV];
    else process.env[RUN_DIR_ENV] = before;
  };
}
