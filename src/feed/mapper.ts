// Synthea CSV -> events CSV rows: one row per (patient, observation DATE) holding at least one of the
// three vitals, pivoted into columns and joined to the patient. Values pass through as written (a
// typo stays a typo: the pipeline flags it); this is a pivot and a join, not a cleaner.
import { openCsv } from './csv.js';

export const EVENTS_HEADER = [
  'patient_id',
  'first_name',
  'last_name',
  'dob',
  'zip',
  'event_ts',
  'systolic_bp',
  'diastolic_bp',
  'heart_rate',
] as const;

export type VitalColumn = 'systolic_bp' | 'diastolic_bp' | 'heart_rate';

/** LOINC codes of the three vitals, as Synthea writes them. */
export const VITAL_CODES: Readonly<Record<string, VitalColumn>> = {
  '8480-6': 'systolic_bp',
  '8462-4': 'diastolic_bp',
  '8867-4': 'heart_rate',
};

const VITAL_INDEX: Readonly<Record<VitalColumn, number>> = { systolic_bp: 6, diastolic_bp: 7, heart_rate: 8 };

export interface PatientRec {
  id: string;
  first: string;
  last: string;
  birthdate: string;
  zip: string;
  /** Physical line in patients.csv (header = 1). */
  line: number;
}

export interface VitalObs {
  patient: string;
  date: string;
  code: string;
  value: string;
  /** Physical line in observations.csv (header = 1). */
  line: number;
}

export interface SyntheaInput {
  dir: string;
  patients: PatientRec[];
  /** Observation rows whose CODE is one of the three vitals, in file order. */
  vitals: VitalObs[];
  /** All observation data rows read (vitals and everything else). */
  observationRows: number;
  /** Optional columns found, e.g. CATEGORY (v3+), MIDDLE/FIPS/INCOME (v3.3+). */
  optionalColumns: string[];
}

export interface EventSource {
  /** Line of the patient in patients.csv. */
  patientLine: number;
  /** Lines in observations.csv of the vital rows pivoted into this event (file order). */
  obsLines: number[];
}

export interface MapStats {
  patients: number;
  observationRows: number;
  vitalObservations: number;
  events: number;
  /** Vital observation rows whose PATIENT is not in patients.csv (skipped). */
  unknownPatientRows: number;
  /** A second row for the same patient, DATE and code with the same VALUE (ignored). */
  duplicateVitals: number;
  /** ... with a different VALUE (the first one is kept). */
  conflictingVitals: number;
  /** Vital values that are not plain numbers (passed through as text). */
  nonNumericValues: number;
  emptyValues: number;
  /** Patient Ids listed twice in patients.csv (the first row is used). */
  duplicatePatients: number;
}

export interface MapResult {
  header: string[];
  rows: string[][];
  /** Parallel to rows: where each row came from. */
  sources: EventSource[];
  stats: MapStats;
}

const PATIENT_REQUIRED = ['ID', 'BIRTHDATE', 'FIRST', 'LAST', 'ZIP'];
const PATIENT_OPTIONAL = ['MIDDLE', 'FIPS', 'INCOME', 'DEATHDATE'];
const OBS_REQUIRED = ['DATE', 'PATIENT', 'CODE', 'VALUE'];
const OBS_OPTIONAL = ['CATEGORY', 'ENCOUNTER', 'UNITS', 'TYPE', 'DESCRIPTION'];

/** Read what the mapping needs from a Synthea CSV folder: all patients, and the vital observation rows. */
export async function readSynthea(dir: string): Promise<SyntheaInput> {
  const optionalColumns: string[] = [];
  const pf = await openCsv(dir, 'patients.csv', PATIENT_REQUIRED, PATIENT_OPTIONAL);
  for (const c of PATIENT_OPTIONAL) if (pf.col[c] !== -1) optionalColumns.push(`patients.${c}`);
  const patients: PatientRec[] = [];
  const { ID, FIRST, LAST, BIRTHDATE, ZIP } = pf.col;
  for await (const r of pf.records) {
    const f = r.fields;
    patients.push({ id: f[ID], first: f[FIRST], last: f[LAST], birthdate: f[BIRTHDATE], zip: f[ZIP], line: r.line });
  }
  const of = await openCsv(dir, 'observations.csv', OBS_REQUIRED, OBS_OPTIONAL);
  for (const c of OBS_OPTIONAL) if (of.col[c] !== -1) optionalColumns.push(`observations.${c}`);
  const { DATE, PATIENT, CODE, VALUE } = of.col;
  const vitals: VitalObs[] = [];
  let observationRows = 0;
  for await (const r of of.records) {
    observationRows++;
    const f = r.fields;
    const code = f[CODE].trim();
    if (VITAL_CODES[code] === undefined) continue;
    vitals.push({ patient: f[PATIENT], date: f[DATE], code, value: f[VALUE], line: r.line });
  }
  return { dir, patients, vitals, observationRows, optionalColumns };
}

const NUMBER = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

/** The pivot and the join. Pure: same input, same output; row order = first appearance in observations. */
export function mapVitals(input: SyntheaInput): MapResult {
  const stats: MapStats = {
    patients: 0,
    observationRows: input.observationRows,
    vitalObservations: input.vitals.length,
    events: 0,
    unknownPatientRows: 0,
    duplicateVitals: 0,
    conflictingVitals: 0,
    nonNumericValues: 0,
    emptyValues: 0,
    duplicatePatients: 0,
  };
  const byId = new Map<string, PatientRec>();
  for (const p of input.patients) {
    if (byId.has(p.id)) stats.duplicatePatients++;
    else byId.set(p.id, p);
  }
  stats.patients = byId.size;
  const rows: string[][] = [];
  const sources: EventSource[] = [];
  const groups = new Map<string, number>();
  const seen: number[] = []; // per row: bit per vital column already filled
  for (const o of input.vitals) {
    const p = byId.get(o.patient);
    if (!p) {
      stats.unknownPatientRows++;
      continue;
    }
    const key = `${o.patient}\u0000${o.date}`;
    let i = groups.get(key);
    if (i === undefined) {
      i = rows.length;
      groups.set(key, i);
      rows.push([p.id, p.first, p.last, p.birthdate, p.zip, o.date, '', '', '']);
      sources.push({ patientLine: p.line, obsLines: [] });
      seen.push(0);
    }
    const row = rows[i];
    const src = sources[i];
    const col = VITAL_INDEX[VITAL_CODES[o.code]];
    const bit = 1 << (col - 6);
    if (seen[i] & bit) {
      if (row[col] === o.value) stats.duplicateVitals++;
      else stats.conflictingVitals++;
      src.obsLines.push(o.line);
      continue;
    }
    src.obsLines.push(o.line);
    seen[i] |= bit;
    row[col] = o.value;
    if (o.value.trim() === '') stats.emptyValues++;
    else if (!NUMBER.test(o.value)) stats.nonNumericValues++;
  }
  stats.events = rows.length;
  return { header: [...EVENTS_HEADER], rows, sources, stats };
}

/** Read and map a Synthea CSV folder. */
export async function mapSynthea(dir: string): Promise<MapResult> {
  return mapVitals(await readSynthea(dir));
}
