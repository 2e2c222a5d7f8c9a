// Writes a synthetic events CSV of N rows (deterministic) for the benchmark: realistic widths,
// 1 patient per ~50 rows, ~1% typos and spikes so every code path runs. Rows are stepMs apart (default a minute).
import { createWriteStream } from 'node:fs';

export async function makeEvents(file, rows, { seed = 1, startMs = Date.UTC(2020, 0, 1), stepMs = 60_000 } = {}) {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296);
  const out = createWriteStream(file);
  const write = (t) => (out.write(t) ? Promise.resolve() : new Promise((r) => out.once('drain', r)));
  await write('patient_id,first_name,last_name,dob,zip,event_ts,systolic_bp,diastolic_bp,heart_rate\n');
  const patients = Math.max(1, Math.floor(rows / 50));
  let buf = '';
  for (let i = 0; i < rows; i++) {
    const p = Math.floor(rnd() * patients);
    const y = 1930 + (p % 90);
    const dob = `${y}-${String(1 + (p % 12)).padStart(2, '0')}-${String(1 + (p % 28)).padStart(2, '0')}`;
    const zip = String(1000 + ((p * 7919) % 98000)).padStart(5, '0');
    const ts = new Date(startMs + i * stepMs + Math.floor(rnd() * 1000) * 1000).toISOString().replace('.000', '');
    const sys = (100 + rnd() * 50).toFixed(1);
    const dia = (60 + rnd() * 30).toFixed(1);
    let hr = (55 + rnd() * 50).toFixed(1);
    const r = rnd();
    if (r < 0.005) hr = '7O';
    else if (r < 0.01) hr = '320';
    buf += `${p.toString(16).padStart(8, '0')}-aaaa-bbbb-cccc-${String(p).padStart(12, '0')},First${p},Last${p},${dob},${zip},${ts},${sys},${dia},${hr}\n`;
    if (buf.length > 1 << 16) {
      await write(buf);
      buf = '';
    }
  }
  await write(buf);
  await new Promise((r) => out.end(r));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await makeEvents(process.argv[2], Number(process.argv[3] ?? 1000));
}
