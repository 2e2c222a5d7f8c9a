// The `bi` commit step: keeps the BI model (bi/schema.ts) in step with the rows, inside each batch transaction, on
// either store. And the hook the privacy layer calls when it re-masks rows it has already published.
//
// Per batch: the batch's rows are added (bi/maintain.ts), the KPI rows of the years they fall in are rewritten, and
// the batch's QC row per vital is written. The first batch after the tables were created (or after BI_RULES_VERSION
// changed) builds everything from all rows instead: a store that was loaded before the step existed, or under older
// rules, is brought up to date once, inside that batch's transaction.
//
// Concurrency: on PostgreSQL the store runs commit steps under its commit lock (one committing batch at a time), and
// each statement sees every batch committed before; the step relies on that.
import type { CommitStep, SqlTx, StepContext } from '../steps.js';
import { biDdl } from './ddl.js';
import { addQcRows, addRows, ALL_ROWS, batchRows, clearAll, patientRows, republish, subtractPatients } from './maintain.js';
import { BI_HELPER_TABLES, BI_RULES_VERSION, BI_STATE, KPI_BP_BY_YEAR, KPI_BP_BY_YEAR_AGE_BAND, KPI_HEART_RATE_BY_AGE_BAND, KPI_QC_BY_BATCH, KPI_VITALS_BY_YEAR } from './schema.js';

export const BI_STEP_NAME = 'bi';

interface BiState {
  rulesVersion: string | null;
  appliedBatchRef: number | null;
}

async function readState(tx: SqlTx): Promise<BiState> {
  const rows = await tx.all<{ name: string; value: string }>(`SELECT name, value FROM ${BI_STATE.name}`);
  const m = new Map(rows.map((r) => [r.name, r.value]));
  const applied = m.get('applied_batch_ref');
  return { rulesVersion: m.get('rules_version') ?? null, appliedBatchRef: applied === undefined ? null : Number(applied) };
}

async function writeState(tx: SqlTx, batchRef: number): Promise<void> {
  for (const [name, value] of [['rules_version', BI_RULES_VERSION], ['applied_batch_ref', String(batchRef)]]) {
    await tx.run(`INSERT INTO ${BI_STATE.name} (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [name, value]);
  }
}

const KPI_TABLES = [KPI_BP_BY_YEAR, KPI_BP_BY_YEAR_AGE_BAND, KPI_HEART_RATE_BY_AGE_BAND, KPI_VITALS_BY_YEAR, KPI_QC_BY_BATCH].map((t) => t.name);
const REBUILT = [...KPI_TABLES, ...BI_HELPER_TABLES.filter((t) => t !== BI_STATE).map((t) => t.name)];

export interface BiOptions {
  /** Rows read per page (default 65,536): bounds memory whatever the batch size. Tests make it small. */
  pageRows?: number;
}

/** Apply one batch (or, the first time and after a rules change, every row) inside the batch transaction. */
export async function applyBatch(tx: SqlTx, ctx: StepContext, opts: BiOptions = {}): Promise<void> {
  const state = await readState(tx);
  const rebuild = state.rulesVersion !== BI_RULES_VERSION;
  if (rebuild) await clearAll(tx, REBUILT);
  const years = await addRows(tx, rebuild ? ALL_ROWS : await batchRows(tx, ctx.batchRef), opts.pageRows);
  await republish(tx, years);
  await addQcRows(tx, rebuild ? 'all' : { batchRef: ctx.batchRef });
  await writeState(tx, ctx.batchRef);
}

/**
 * Move patients' contributions when their rows change after they were counted (the privacy layer re-masks the
 * earlier rows of patients who turned 90: event_year and dob_year set to NULL). Call it inside the batch
 * transaction, from any commit step, with the patients and a function that makes the change:
 *
 *   await revisePatients(tx, ctx, refs, () => tx.run('UPDATE events SET event_year = NULL, dob_year = NULL WHERE ...'));
 *
 * It subtracts every contribution of those patients (from their rows as they are before the change), runs
 * `change`, adds their rows back as they are after it, and rewrites the KPI rows of every year touched before or
 * after (a year moved to "withheld" is a cell of its own). Exact, and O(those patients' rows): an index on
 * events(patient_ref) keeps it so on large stores. Which rows are "counted": every committed batch's, and the
 * current batch's once the `bi` step has run in this transaction; so it is right whether the calling step runs
 * before or after `bi`. Rows the change adds or deletes are handled too.
 */
export async function revisePatients(
  tx: SqlTx,
  ctx: StepContext,
  patientRefs: readonly number[],
  change: () => Promise<void>,
  opts: BiOptions = {},
): Promise<void> {
  const state = await readState(tx);
  // Before the tables were ever built (or under older rules) the `bi` step rebuilds from all rows anyway.
  if (patientRefs.length === 0 || state.rulesVersion !== BI_RULES_VERSION) {
    await change();
    return;
  }
  const refs = [...new Set(patientRefs)];
  const counted = patientRows(refs, state.appliedBatchRef === ctx.batchRef ? null : ctx.batchRef);
  const before = await subtractPatients(tx, refs, counted, opts.pageRows);
  await change();
  const after = await addRows(tx, counted, opts.pageRows);
  await republish(tx, new Set([...before, ...after]));
}

export function biStep(opts: BiOptions = {}): CommitStep {
  return {
    name: BI_STEP_NAME,
    ddl: (dialect) => biDdl(dialect),
    run: (tx, _priv, ctx) => applyBatch(tx, ctx, opts),
  };
}
