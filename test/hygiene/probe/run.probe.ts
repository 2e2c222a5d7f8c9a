// Run only by test/hygiene/run-folder.test.ts, in a vitest run of its own (PROBE_OUT and PROBE_FOREIGN set).
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { describeWithShared, itWithShared } from '../../helpers/shared.js';
import { RUN_DIR_ENV, testDir } from '../../helpers/test-dir.js';

it('makes its folder inside the run folder, which child processes see too', () => {
  const dir = testDir('probe');
  writeFileSync(path.join(dir, 'data.txt'), 'x');
  // someone else keeps working in their own folder while we run
  writeFileSync(path.join(process.env.PROBE_FOREIGN!, 'during-run.txt'), 'still mine');
  const child = execFileSync(process.execPath, ['-e', `process.stdout.write(process.env.${RUN_DIR_ENV} ?? '')`], { encoding: 'utf8' });
  writeFileSync(process.env.PROBE_OUT!, JSON.stringify({ dir, run: process.env[RUN_DIR_ENV], child }));
});

itWithShared('probe-present', 'runs when the shared folder is there', (dir) => {
  expect(existsSync(path.join(dir, 'marker.txt'))).toBe(true);
});

itWithShared('probe-missing', 'one test that needs a missing shared folder', () => {
  throw new Error('ran without its shared folder');
});

describeWithShared('probe-missing', 'a block that needs a missing shared folder', () => {
  it('first', () => {
    throw new Error('ran without its shared folder');
  });
  it('second', () => {
    throw new Error('ran without its shared folder');
  });
});
