// Watch latency: each 10k-row file is written under a temporary name, renamed into incoming/, and
// timed until its batch is committed (onBatch fires after the SQLite commit). Then a burst of small
// files dropped at once. argv: projectDir latencyFiles burstFiles. Names are events_<digits>.csv: the console and
// onBatch show any other name as a keyed id (ops/safe-name.ts), which would never match the name waited for.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../dist/config/load.js';
import { startWatch } from '../../dist/run.js';
import { makeEvents } from './make-events.mjs';

const [dir, nLatency, nBurst] = process.argv.slice(2);
const config = loadConfig(path.join(dir, 'config.yaml'));
const incoming = config.resolved.incoming;
mkdirSync(incoming, { recursive: true });
const waiting = new Map();
const handle = await startWatch(config, {
  onBatch: (r) => {
    const w = waiting.get(path.basename(r.file));
    if (w) w(performance.now());
  },
});
const latencies = [];
for (let i = 0; i < Number(nLatency); i++) {
  const name = `events_${100000 + i}.csv`;
  const tmp = path.join(incoming, `.${name}.tmp`);
  await makeEvents(tmp, 10_000, { seed: 1000 + i, startMs: Date.UTC(2021, 0, 1) + i * 10_000 * 60_000 });
  const done = new Promise((r) => waiting.set(name, r));
  const t0 = performance.now();
  renameSync(tmp, path.join(incoming, name));
  latencies.push((await done) - t0);
}
const burst = [];
const staging = path.join(dir, 'staging');
mkdirSync(staging, { recursive: true });
for (let i = 0; i < Number(nBurst); i++) {
  const name = `events_${200000 + i}.csv`;
  await makeEvents(path.join(staging, name), 20, { seed: 5000 + i, startMs: Date.UTC(2022, 0, 1) + i * 20 * 60_000 });
  burst.push(name);
}
let left = burst.length;
const allDone = new Promise((resolve) => {
  for (const name of burst) waiting.set(name, () => (--left === 0 ? resolve(performance.now()) : undefined));
});
const t0 = performance.now();
for (const name of burst) renameSync(path.join(staging, name), path.join(incoming, name));
const burstMs = (await allDone) - t0;
handle.stop();
await handle.done;
writeFileSync(path.join(dir, 'latency.json'), JSON.stringify({ latencies }));
process.stdout.write(JSON.stringify({ latencies, burstMs, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
process.exit(0);
