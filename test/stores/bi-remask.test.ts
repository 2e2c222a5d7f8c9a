// The re-mask hook (revisePatients): a commit step that withholds the years of some patients' rows, as the privacy
// layer will for patients who turn 90, moves their contributions inside the batch transaction. Checked with a real
// runner, store and Parquet sink, the step placed before and after `bi`: both give the KPI tables a DuckDB
// recomputation gives over the rows with the same years withheld, including the NULL-year cells.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseKey } from '../../src/config/key.js';
import { silentLogger } from '../../src/ops/log.js';
import { Runner, type BatchResult } from '../../src/runner.js';
import { ParquetPartSink } from '../../src/sinks/parquet/part-sink.js';
import { FilesSource } from '../../src/sources/files.js';
import { biStep, revisePatients } from '../../src/stores/bi/step.js';
import { SqliteStore } from '../../src/stores/sqlite/store.js';
import type { CommitStep, SqlTx } from '../../src/stores/steps.js';
import { Age90Guard } from '../../src/privacy/age90.js';
import { AttestationSink } from '../../src/privacy/attestation-sink.js';
import { ParquetRemasker } from '../../src/sinks/parquet/rewrite.js';
import { makeProject, type Project } from '../helpers/watch-project.js';
import { eventsFor } from './bi-data.js';
import { expectModelMatches, readTable } from './bi-expected.js';

/** Small pages, so every application reads several (the default is 65,536 rows). */
const PAGE = 777;

const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.cleanup();
});

/** Withholds event_year and dob_year on every row of patients aged 85+ at some event, in the batch it is given. */
function remaskStep(atBatchRef: number, chosen: { refs: number[] }): CommitStep {
  return {
    name: 'remask_test',
    ddl: () => [],
    async run(tx, _priv, ctx) {
      if (ctx.batchRef !== atBatchRef) return;
      const rows = await tx.all<{ patient_ref: number }>('SELECT DISTINCT patient_ref FROM events WHERE age_years >= 85 ORDER BY patient_ref');
      chosen.refs = rows.map((r) => r.patient_ref);
      await revisePatients(
        tx, ctx, chosen.refs,
        () => tx.run(`UPDATE events SET event_year = NULL, dob_year = NULL WHERE patient_ref IN (${chosen.refs.map(() => '?').join(', ')})`, chosen.refs),
        { pageRows: PAGE },
      );
    },
  };
}

async function loadWith(p: Project, steps: CommitStep[], files: string[]): Promise<BatchResult[]> {
  const config = p.config();
  const log = silentLogger();
  // The privacy layer as compose.ts wires it (its age90 step first), with this test's steps after it.
  let opened: SqliteStore | null = null;
  const later = (pick: (s: SqliteStore) => SqlTx): SqlTx => ({ dialect: 'sqlite', run: (q, v) => pick(opened!).run(q, v), all: (q, v) => pick(opened!).all(q, v) });
  const age90 = new Age90Guard({
    zone: config.input.timezone, priv: later((s) => s.privateSql()), release: later((s) => s.releaseSql()), fates: (ids) => opened!.stagedFates(ids),
    rewriter: new ParquetRemasker(config.resolved.maskedOut, config.resolved.compactParquet, 'snappy', log), log, revise: revisePatients,
  });
  const store = SqliteStore.openWriter({ release: config.resolved.sqlite, private: config.resolved.privateSqlite }, [age90.step(), ...steps]);
  opened = store;
  const runner = new Runner({
    config, key: parseKey(config.env.MEDETL_HMAC_KEY), log, store, fileSinks: [new ParquetPartSink(config.resolved.maskedOut, 'snappy', log)],
    outboxSinks: [], clock: Date.now, privacy: { age90, vault: null, attestations: new AttestationSink(config.resolved.attestations, log) }, history: null,
  });
  const out: BatchResult[] = [];
  try {
    for await (const d of new FilesSource(config, files, 'keep', log).deliveries()) out.push(await runner.run(d));
  } finally {
    await store.close();
  }
  return out;
}

describe('revisePatients: the re-mask hook', () => {
  for (const order of ['before', 'after'] as const) {
    it(`moves re-masked patients' contributions into the withheld-year cells (re-mask step ${order} bi)`, async () => {
      const p = makeProject({ thresholds: { max_flagged_rate: 1, max_reject_rate: 1 } });
      projects.push(p);
      const files = [
        eventsFor({ from: 0, to: 600, readings: 6, seed: 11 }),
        eventsFor({ from: 200, to: 800, readings: 5, seed: 12, raise: { every: 4, by: 25 } }),
        eventsFor({ from: 500, to: 900, readings: 3, seed: 13 }),
      ].map((content, i) => {
        const f = path.join(p.root, `events_r${i}.csv`);
        writeFileSync(f, content);
        return f;
      });
      const chosen = { refs: [] as number[] };
      const remask = remaskStep(3, chosen);
      const bi = biStep({ pageRows: PAGE });
      const results = await loadWith(p, order === 'before' ? [remask, bi] : [bi, remask], files);
      expect(results.map((r) => r.status)).toEqual(['loaded', 'loaded', 'loaded']);
      expect(chosen.refs.length).toBeGreaterThan(30);

      const db = new Database(p.sqlite, { readonly: true });
      const keys = db.prepare(`SELECT patient_key FROM patients WHERE patient_ref IN (${chosen.refs.join(', ')})`).pluck().all() as string[];
      db.close();
      const qc = results.map((r, i) => ({ seq: i + 1, batchId: r.batchId!, rowsIn: r.rowsIn, rejected: r.rejected, duplicates: r.duplicates }));
      const expected = await expectModelMatches(p.sqlite, p.parts, qc, `UPDATE ev SET event_year = NULL, dob_year = NULL WHERE patient_key IN (${keys.map((k) => `'${k}'`).join(', ')})`);
      // The withheld year is a cell of its own, in every KPI table.
      for (const table of ['kpi_bp_by_year', 'kpi_bp_by_year_age_band', 'kpi_heart_rate_by_age_band', 'kpi_vitals_by_year']) {
        expect(expected[table].filter((r) => r.event_year === null && r.patients !== null).length, table).toBeGreaterThan(0);
      }
      expect(readTable(p.sqlite, 'kpi_vitals_by_year').filter((r) => r.event_year === null)).toHaveLength(3);
    });
  }
});
