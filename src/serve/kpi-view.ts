// The BI rows as the page may see them: each field picked by name and type-checked (nothing else a store returns
// passes), codes checked, and the two headline ratios. NULL stays NULL: it is a suppressed cell (fewer than 11
// patients), and the page says "suppressed (<11)" where a number would be.
import { safeCode } from './safe-text.js';

export type Cell = number | null;

/** The CMS cell-size rule: a cell describing fewer patients than this is not published. */
export const MIN_CELL_PATIENTS = 11;

const num = (v: unknown): Cell => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'bigint' ? Number(v) : null);
const year = (v: unknown): number | null => {
  const y = num(v);
  return y !== null && Number.isInteger(y) ? y : null;
};

export const AGE_BAND_ORDER = ['0-1', '2-12', '13-17', '18-39', '40-64', '65-89', '90+'] as const;
const HYPERTENSIVE = new Set(['stage_1', 'stage_2', 'crisis']);
const band = (v: unknown): string => (AGE_BAND_ORDER as readonly string[]).includes(v as string) ? (v as string) : 'other';

export interface BpCell { year: number; category: string; patients: Cell; readings: Cell }
export interface BpBandCell extends BpCell { ageBand: string }
export interface HrCell { year: number; ageBand: string; patients: Cell; readings: Cell; tachycardiaReadings: Cell; meanHeartRate: Cell }
export interface VitalYear { year: number; vital: string; patients: Cell; n: Cell; mean: Cell; p10: Cell; median: Cell; p90: Cell }

export function bpCells(rows: Record<string, unknown>[]): BpCell[] {
  const out: BpCell[] = [];
  for (const r of rows) {
    const y = year(r.event_year);
    if (y === null) continue;
    out.push({ year: y, category: safeCode(r.bp_category), patients: num(r.patients), readings: num(r.readings) });
  }
  return out;
}

export function bpBandCells(rows: Record<string, unknown>[]): BpBandCell[] {
  const out: BpBandCell[] = [];
  for (const r of rows) {
    const y = year(r.event_year);
    if (y === null) continue;
    out.push({ year: y, ageBand: band(r.age_band), category: safeCode(r.bp_category), patients: num(r.patients), readings: num(r.readings) });
  }
  return out;
}

export function hrCells(rows: Record<string, unknown>[]): HrCell[] {
  const out: HrCell[] = [];
  for (const r of rows) {
    const y = year(r.event_year);
    if (y === null) continue;
    out.push({
      year: y, ageBand: band(r.age_band), patients: num(r.patients), readings: num(r.readings),
      tachycardiaReadings: num(r.tachycardia_readings), meanHeartRate: num(r.mean_heart_rate),
    });
  }
  return out;
}

export function vitalYears(rows: Record<string, unknown>[]): VitalYear[] {
  const out: VitalYear[] = [];
  for (const r of rows) {
    const y = year(r.event_year);
    if (y === null) continue;
    out.push({
      year: y, vital: safeCode(r.vital), patients: num(r.patients), n: num(r.n), mean: num(r.mean),
      p10: num(r.p10), median: num(r.median), p90: num(r.p90),
    });
  }
  return out;
}

export interface Ratio {
  /** The event year the ratio describes (the newest year with a publishable denominator), or null. */
  year: number | null;
  /** null: suppressed (no year with a denominator of 11 patients or more) or nothing counted yet. */
  share: Cell;
  numerator: Cell;
  denominator: Cell;
  /** Suppressed cells of that year, left out of both numerator and denominator. */
  excludedCells: number;
}

const none: Ratio = { year: null, share: null, numerator: null, denominator: null, excludedCells: 0 };

/**
 * Hypertension prevalence: adult patients in stage_1, stage_2 or crisis over adult patients counted, in the newest
 * year whose published cells count 11 patients or more (patients are counted once per year, so years do not add).
 */
export function hypertensionPrevalence(cells: BpCell[]): Ratio {
  const years = [...new Set(cells.map((c) => c.year))].sort((a, b) => b - a);
  for (const y of years) {
    const ofYear = cells.filter((c) => c.year === y);
    let num = 0;
    let den = 0;
    let excluded = 0;
    for (const c of ofYear) {
      if (c.patients === null) {
        excluded++;
        continue;
      }
      den += c.patients;
      if (HYPERTENSIVE.has(c.category)) num += c.patients;
    }
    if (den >= MIN_CELL_PATIENTS) return { year: y, share: num / den, numerator: num, denominator: den, excludedCells: excluded };
  }
  return none;
}

/** Tachycardia share: tachycardia readings over heart-rate readings, all age bands of the newest published year. */
export function tachycardiaShare(cells: HrCell[]): Ratio {
  const years = [...new Set(cells.map((c) => c.year))].sort((a, b) => b - a);
  for (const y of years) {
    let num = 0;
    let den = 0;
    let excluded = 0;
    for (const c of cells) {
      if (c.year !== y) continue;
      if (c.readings === null || c.tachycardiaReadings === null) {
        excluded++;
        continue;
      }
      den += c.readings;
      num += c.tachycardiaReadings;
    }
    if (den > 0) return { year: y, share: num / den, numerator: num, denominator: den, excludedCells: excluded };
  }
  return none;
}
