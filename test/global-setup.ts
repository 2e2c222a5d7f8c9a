// Every test makes its projects under os.tmpdir() with a "medetl-" prefix; after the run, the
// ones made during it are removed (set MEDETL_KEEP_TEST_DIRS=1 to keep them for a post-mortem).
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const started = Date.now() - 1000;
  return () => {
    if (process.env.MEDETL_KEEP_TEST_DIRS === '1') return;
    for (const name of readdirSync(tmpdir())) {
      if (!name.startsWith('medetl-')) continue;
      const dir = path.join(tmpdir(), name);
      try {
        if (statSync(dir).birthtimeMs >= started || statSync(dir).ctimeMs >= started) rmSync(dir, { recursive: true, force: true });
      } catch {
        // already gone, or not ours to remove
      }
    }
  };
}
