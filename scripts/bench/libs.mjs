// Why the hot path does not use two of the named libraries: csv-parse vs the pipeline's tokenizer
// (parse only), and parquetjs-lite vs parquet-wasm (write masked rows). argv: which csvFile rows
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse';
import { readCsvFile } from '../../dist/pipeline/read.js';

const [which, file, n] = process.argv.slice(2);
const t0 = performance.now();
let rows = 0;
if (which === 'csv-parse') {
  for await (const _ of createReadStream(file).pipe(parse({ bom: true, relax_column_count: true }))) rows++;
} else if (which === 'tokenizer') {
  await readCsvFile(file, () => rows++);
} else if (which === 'parquetjs-lite' || which === 'parquet-wasm') {
  rows = Number(n);
  const out = `${file}.${which}.parquet`;
  const keys = Array.from({ length: 2000 }, (_, i) => i.toString(16).padStart(64, 'a'));
  if (which === 'parquetjs-lite') {
    const pq = (await import('parquetjs-lite')).default;
    const schema = new pq.ParquetSchema({
      patient_key: { type: 'UTF8' }, dob_year: { type: 'INT32', optional: true }, age_years: { type: 'INT32', optional: true },
      event_year: { type: 'INT32' }, event_date: { type: 'DATE', optional: true }, zip3: { type: 'UTF8', optional: true },
      systolic_bp: { type: 'DOUBLE', optional: true }, diastolic_bp: { type: 'DOUBLE', optional: true }, heart_rate: { type: 'DOUBLE', optional: true },
      outlier_flags: { type: 'UTF8' }, batch_id: { type: 'UTF8' },
    });
    const w = await pq.ParquetWriter.openFile(schema, out, { compression: 'SNAPPY' });
    for (let i = 0; i < rows; i++)
      await w.appendRow({ patient_key: keys[i % 2000], dob_year: 1950 + (i % 50), age_years: 40, event_year: 2024, zip3: '021',
        systolic_bp: 120 + (i % 20), diastolic_bp: 80, heart_rate: 70, outlier_flags: '', batch_id: 'b1' });
    await w.close();
  } else {
    const { openPart } = await import('../../dist/sinks/parquet/encoder.js');
    const { deidentify } = await import('../../dist/pipeline/deid.js');
    const { parseKey } = await import('../../dist/config/key.js');
    const { zip3Table } = await import('../../dist/config/zip3.js');
    const idx = Int32Array.from({ length: rows }, (_, i) => i % 2000);
    const raw = {
      kind: 'raw', n: rows, line: new Int32Array(rows), patientIdx: idx, patientIds: keys, dobDays: new Int32Array(rows).fill(-3000),
      zipIdx: new Int32Array(rows), zips: ['02134'], eventMs: new Float64Array(rows).fill(Date.UTC(2024, 0, 1)), eventDay: new Int32Array(rows).fill(19723),
      systolic_bp: Float64Array.from(idx, (i) => 120 + (i % 20)), diastolic_bp: new Float64Array(rows).fill(80),
      heart_rate: new Float64Array(rows).fill(70), flags: new Uint32Array(rows),
    };
    const m = deidentify(raw, { key: parseKey('ab'.repeat(32)), profile: 'safe_harbor', zip3: zip3Table('census2020'), batchId: 'b1', nowMs: Date.now() });
    const tmp = `${out}.dir`;
    await rm(tmp, { recursive: true, force: true });
    await (await import('node:fs/promises')).mkdir(tmp, { recursive: true });
    const part = openPart(path.join(tmp, 'part-b1.parquet.tmp'), 'snappy');
    for (let f = 0; f < rows; f += 65536) part.write(m, f, Math.min(rows, f + 65536));
    await part.finish();
    await rm(tmp, { recursive: true, force: true });
  }
  await rm(out, { force: true });
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ rows, ms, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
process.exit(0);
