// One folder per test run: every temporary folder a test makes (testDir() in test/helpers/test-dir.ts) lives in
// it, and the teardown removes that folder only. Workers and the child processes tests start find it in
// MEDETL_TEST_RUN_DIR (vitest's forks pool starts the workers after this setup, with this process's environment).
// MEDETL_KEEP_TEST_DIRS=1 keeps it for a post-mortem and prints where it is.
import { createRunDir, finishRunDir, RUN_DIR_ENV } from './helpers/test-dir.js';

export default function setup(): () => void {
  const dir = createRunDir();
  const before = process.env[RUN_DIR_ENV];
  process.env[RUN_DIR_ENV] = dir;
  return () => {
    finishRunDir(dir);
    if (before === undefined) delete process.env[RUN_DIR_ENV];
    else process.env[RUN_DIR_ENV] = before;
  };
}
