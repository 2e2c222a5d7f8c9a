// What `medetl audit` (privacy/audit.ts) may read of a release store and its private state: facts only, read-only. The SQLite
// store implements it (stores/sqlite/inspect.ts); the checks that judge the facts are in privacy/audit.ts.

export interface SchemaObject {
  type: 'table' | 'view' | 'index';
  name: string;
  /** Columns of a table or view; [] for an index. */
  columns: string[];
}

export interface BatchFacts {
  batchId: string;
  profile: string;
  keyMode: string;
  zip3Vintage: string;
}

export interface ReleaseInspector {
  /** Where the store lives (for findings). */
  readonly where: string;
  /** Tables, views and indexes the store holds (internal sqlite_* objects excluded). */
  objects(): SchemaObject[];
  /** The objects the store may hold: the DDL of the release tables and of the commit steps, as the store makes it. */
  expectedObjects(stepDdl: readonly string[]): SchemaObject[];
  batches(): BatchFacts[];
  meta(name: string): string | null;
  /** Rows with age_years >= 90 that carry a dob_year or event_year. */
  yearsAtAge90(): number;
  /** Rows that carry a year, of patients who have a row at age 90 or more. */
  yearsOfAged90Patients(): number;
  /**
   * Of these patient_keys, how many have rows that carry a year, and how many such rows (asked about a given set,
   * never a map of every patient of the store).
   */
  yearRowsOf(keys: Iterable<string>): { patients: number; rows: number };
  /** Distinct zip3 values per batch zip3 vintage, with row counts. */
  zip3s(): { vintage: string; zip3: string; rows: number }[];
  /** Rows with an event_date in batches whose profile is not limited_data_set. */
  eventDatesOutsideLds(): number;
  /** batch_id -> attestation document. */
  attestations(): Map<string, string>;
  /** Rows of KPI tables (kpi_*) with 1 to 10 patients: cells the small-cell rule must suppress. */
  smallCells(minPatients: number): { table: string; rows: number }[];
  /** patient_keys judged 90+ by the private state at `day` (days since epoch); null without private state. */
  aged90Keys(day: number): Set<string> | null;
  /** Every distinct text value of every table, NUL-separated (the byte scan reads live values one by one too). */
  textValues(): Buffer;
  /** File names the private state knows (batch sources, quarantined files). */
  sourceNames(): string[];
  close(): void;
}
