// Every test run gets a temporary folder of its own: TMPDIR points into it for the test workers and every process
// they start, so os.tmpdir() in tests lands there. Teardown removes only that folder (MEDETL_KEEP_TEST_DIRS=1 keeps
// it), never anyone else's: two suites running at once on one machine leave each other alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const runDir = mkdtempSync(path.join(tmpdir(), 'medetl-run-'));
  process.env.TMPDIR = runDir;
  process.env.TMP = runDir;
  process.env.TEMP = runDir;
  return () => {
    if (process.env.MEDETL_KEEP_TEST_DIRS === '1') {
      process.stderr.write(`test folders kept in ${runDir}\n`);
      return;
    }
    rmSync(runDir, { recursive: true, force: true });
  };
}
