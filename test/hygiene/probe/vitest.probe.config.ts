// A small vitest run of its own, started by test/hygiene/run-folder.test.ts: the real global setup, the probe file.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/hygiene/probe/*.probe.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
  },
});
