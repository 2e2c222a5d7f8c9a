// One measured `medetl process` run in this process (the same openContext + processFile the CLI
// uses). Prints {rows, ms, maxRssMB, results} as JSON. argv: projectDir file...
import path from 'node:path';
import { loadConfig } from '../../dist/config/load.js';
import { closeContext, openContext, processFile } from '../../dist/pipeline/run.js';

const [dir, ...files] = process.argv.slice(2);
const config = loadConfig(path.join(dir, 'config.yaml'));
const ctx = openContext(config);
const results = [];
for (const f of files) {
  const t0 = performance.now();
  const r = await processFile(path.resolve(f), ctx, { onSuccess: 'keep' });
  results.push({ ...r, wallMs: performance.now() - t0 });
}
closeContext(ctx);
const rows = results.reduce((a, r) => a + r.rowsIn, 0);
const ms = results.reduce((a, r) => a + r.wallMs, 0);
process.stdout.write(JSON.stringify({ rows, ms, maxRssMB: process.resourceUsage().maxRSS / 1024, batchMs: results.map((r) => r.wallMs), statuses: [...new Set(results.map((r) => r.status))] }) + '\n');
