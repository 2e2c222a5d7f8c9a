// The store's side of per-patient QC history (pipeline/history.ts): each patient's recent readings and event
// instants, kept in the PRIVATE state (they are dates of service keyed by patient: never part of the release), one
// row per patient holding a compact JSON document. Loaded before the stages run; the batch's appends are merged,
// trimmed to the newest ones and written by a commit step, so the history follows exactly the batches that commit
// (on SQLite the private database commits on its own: a batch that then rolls back leaves readings that its retry
// writes again, which the merge keeps once).
import type { PatientHistory, Reading } from '../pipeline/history.js';
import type { HistoryAppend } from '../pipeline/history.js';
import { VITALS, type Vital } from '../pipeline/types.js';
import type { CommitStep, SqlTx } from './steps.js';

const TABLE = 'patient_history';
const KEYS_PER_QUERY = 500;
const ROWS_PER_UPSERT = 200;

/** The stored document: per vital [atMs, value][] and the instants, oldest first. */
interface Doc {
  v: Record<Vital, [number, number][]>;
  i: number[];
}

function toHistory(d: Doc): PatientHistory {
  const vitals = {} as Record<Vital, Reading[]>;
  for (const v of VITALS) vitals[v] = (d.v[v] ?? []).map(([atMs, value]) => ({ atMs, value: value ?? NaN }));
  return { vitals, instants: d.i ?? [] };
}

function emptyDoc(): Doc {
  return { v: { systolic_bp: [], diastolic_bp: [], heart_rate: [] }, i: [] };
}

export interface HistoryLimits {
  readings: number;
  instants: number;
}

export class HistoryKeeper {
  private readonly loaded = new Map<string, Doc>();
  private readonly staged = new Map<string, Map<string, Doc>>();

  constructor(private readonly limits: HistoryLimits) {}

  /** The history of each patient key (undefined for one never seen), read from the private state. */
  async load(priv: SqlTx, keys: readonly string[]): Promise<(PatientHistory | undefined)[]> {
    const docs = new Map<string, Doc>();
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += KEYS_PER_QUERY) {
      const part = unique.slice(i, i + KEYS_PER_QUERY);
      const rows = await priv.all<{ patient_key: string; doc: string }>(
        `SELECT patient_key, doc FROM ${TABLE} WHERE patient_key IN (${part.map(() => '?').join(',')})`,
        part,
      );
      for (const r of rows) docs.set(r.patient_key, JSON.parse(r.doc) as Doc);
    }
    for (const [k, d] of docs) this.loaded.set(k, d);
    return keys.map((k) => (docs.has(k) ? toHistory(docs.get(k)!) : undefined));
  }

  /** The batch's appends, merged into what was loaded and trimmed: written by the commit step of this batch. */
  stage(batchId: string, appends: readonly HistoryAppend[]): void {
    const out = new Map<string, Doc>();
    for (const a of appends) {
      let d = out.get(a.patientKey);
      if (!d) {
        const base = this.loaded.get(a.patientKey) ?? emptyDoc();
        d = { v: { systolic_bp: [...base.v.systolic_bp], diastolic_bp: [...base.v.diastolic_bp], heart_rate: [...base.v.heart_rate] }, i: [...base.i] };
        out.set(a.patientKey, d);
      }
      if (a.series === 'instant') {
        if (!d.i.includes(a.atMs)) d.i.push(a.atMs);
      } else {
        const list = d.v[a.series];
        const same = list.findIndex((x) => x[0] === a.atMs);
        const entry: [number, number] = [a.atMs, a.value ?? NaN];
        if (same >= 0) list[same] = entry;
        else list.push(entry);
      }
    }
    for (const d of out.values()) {
      d.i.sort((a, b) => a - b);
      if (d.i.length > this.limits.instants) d.i.splice(0, d.i.length - this.limits.instants);
      for (const v of VITALS) {
        const list = d.v[v];
        list.sort((a, b) => a[0] - b[0]);
        if (list.length > this.limits.readings) list.splice(0, list.length - this.limits.readings);
      }
    }
    this.staged.set(batchId, out);
    this.loaded.clear();
  }

  discard(batchId: string): void {
    this.staged.delete(batchId);
    this.loaded.clear();
  }

  step(): CommitStep {
    return {
      name: 'patient_history',
      ddl: () => [],
      privateDdl: (dialect) => [
        `CREATE TABLE IF NOT EXISTS ${TABLE} (patient_key ${dialect === 'postgres' ? 'varchar(64)' : 'VARCHAR(64)'} PRIMARY KEY, doc ${dialect === 'postgres' ? 'text' : 'TEXT'} NOT NULL)`,
      ],
      run: async (_tx, priv, ctx) => {
        const docs = this.staged.get(ctx.batchId);
        this.staged.delete(ctx.batchId);
        if (!docs || docs.size === 0) return;
        const rows = [...docs];
        for (let i = 0; i < rows.length; i += ROWS_PER_UPSERT) {
          const part = rows.slice(i, i + ROWS_PER_UPSERT);
          await priv.run(
            `INSERT INTO ${TABLE} (patient_key, doc) VALUES ${part.map(() => '(?, ?)').join(',')}
             ON CONFLICT (patient_key) DO UPDATE SET doc = excluded.doc`,
            // NaN (a missing value) is stored as null in JSON and read back as null: the history ignores both
            part.flatMap(([k, d]) => [k, JSON.stringify(d)]),
          );
        }
      },
    };
  }
}
