// One measured `medetl process` run in this process (the same runFiles the CLI uses: the file-list source through
// the runner). Prints {rows, ms, maxRssMB, batchMs} as JSON. argv: projectDir file...
import path from 'node:path';
import { loadConfig } from '../../dist/config/load.js';
import { runFiles } from '../../dist/run.js';

const [dir, ...files] = process.argv.slice(2);
const config = loadConfig(path.join(dir, 'config.yaml'));
const results = [];
let t = performance.now();
await runFiles(config, files, {
  onSuccess: 'keep',
  onBatch: (r) => {
    const now = performance.now();
    results.push({ ...r, wallMs: now - t });
    t = now;
  },
});
const rows = results.reduce((a, r) => a + r.rowsIn, 0);
const ms = results.reduce((a, r) => a + r.wallMs, 0);
process.stdout.write(JSON.stringify({ rows, ms, maxRssMB: process.resourceUsage().maxRSS / 1024, batchMs: results.map((r) => r.wallMs), statuses: [...new Set(results.map((r) => r.status))] }) + '\n');
