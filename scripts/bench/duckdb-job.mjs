// The ceiling: DuckDB doing the equivalent job in one SQL statement: read the CSV, clip the vitals,
// hash the id (sha256 of key || id: DuckDB has no HMAC), years only, ZIP3, write Snappy Parquet.
import { DuckDBInstance } from '@duckdb/node-api';

const [file, out] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '2' });
const con = await db.connect();
const t0 = performance.now();
await con.run(`
  COPY (
    SELECT sha256('${'ab'.repeat(32)}' || patient_id) AS patient_key,
           year(CAST(dob AS DATE)) AS dob_year,
           year(CAST(event_ts AS TIMESTAMP)) AS event_year,
           substr(lpad(CAST(zip AS VARCHAR), 5, '0'), 1, 3) AS zip3,
           least(greatest(TRY_CAST(systolic_bp AS DOUBLE), 50), 260) AS systolic_bp,
           least(greatest(TRY_CAST(diastolic_bp AS DOUBLE), 25), 160) AS diastolic_bp,
           least(greatest(TRY_CAST(heart_rate AS DOUBLE), 20), 250) AS heart_rate
    FROM read_csv('${file}', header = true, all_varchar = true)
  ) TO '${out}' (FORMAT parquet, COMPRESSION snappy)`);
const ms = performance.now() - t0;
const rows = Number((await con.runAndReadAll(`SELECT count(*) FROM '${out}'`)).getRows()[0][0]);
process.stdout.write(JSON.stringify({ rows, ms, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
