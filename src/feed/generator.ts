// Built-in generator: writes patients.csv, encounters.csv and observations.csv in the format of
// current Synthea (v3.3+/v3.4 headers, ids, timestamps, codes, units and descriptions as Synthea
// writes them), for when no Synthea jar is configured. Deterministic: the output is a function of
// the options alone (seeded PRNG, reference time and window passed in, no clock, no Math.random).
//
// One population over time, as Synthea does with a saved population: the people are a function of
// the seed and the reference time, and each person's whole life (visits, vitals, death, moves) is
// drawn from that person's own random stream, independent of the window asked for. The first batch
// exports the years_of_history before the reference time; a later batch exports what happened in its
// window (the same people's new encounters, plus people born or moved in during it, and deaths and
// move-outs in it). A batch never repeats an earlier window's events.
//
// Realism, roughly: ages follow the US age pyramid (a few 90+); blood pressure and heart rate depend
// on age and sex (infants: high heart rate, low pressure); hypertension onset by age (~30% of adults,
// more with age; about half treated later); chronic tachycardia in a few percent; symptom visits
// raise heart rate a little; yearly mortality rises with age (DEATHDATE, nothing after it); hospital
// stays with daily vitals at the admission's time of day (a person's other visits keep their one time
// of day, as in real Synthea output); births, moves in, out and within the state after the reference
// time (about 1%, 3%, 3% and 4% a year). Vitals
// come from wellness visits (well-child schedule for infants) and part of the other visits; a few
// visits have only blood pressure or only heart rate. Non-vital observations (height, weight, BMI,
// pain, respiratory rate, tobacco status, QALY/DALY/QOLS with an empty ENCOUNTER, cause of death)
// are there for the mapper to skip. Rows of different patients are interleaved, as Synthea's
// threads do.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { ensureDir } from '../core/fsx.js';
import { csvLine } from './csv.js';
import { FIRST_F, FIRST_M, FOREIGN_BIRTHPLACES, LAST, STREETS } from './names.js';
import { findCity, findState, RESTRICTED_HOMES, STATES, type City, type Home } from './geo.js';
import { Rng } from './random.js';

export interface GeneratorOptions {
  patients: number;
  seed: number;
  state: string;
  city: string | null;
  minAge: number;
  maxAge: number;
  /** Encounters span this many years before the reference time (Synthea's exporter.years_of_history). */
  yearsOfHistory: number;
  /** The population's reference time: the initial residents' ages are counted here; the first batch ends here. */
  referenceTime: Date;
  /**
   * Follow the population: export what happened in (fromMs, toMs] (fromMs >= the reference time for a later
   * batch). Default: the first batch, (referenceTime - yearsOfHistory, referenceTime].
   */
  window?: { fromMs: number; toMs: number };
}

export interface GeneratorStats {
  patients: number;
  deceased: number;
  aged90plus: number;
  /** Adults (18+ at the reference time or at death) with hypertension by then. */
  adults: number;
  hypertensiveAdults: number;
  tachycardic: number;
  encounters: number;
  observations: number;
  vitalTimestamps: number;
  restrictedZip3: number;
  leadingZeroZip: number;
  placeholderZip: number;
  /** In the window: people born, moved in, moved away (no encounters after), moved within the area (new address). */
  births: number;
  movedIn: number;
  movedOut: number;
  movedLocally: number;
  /** Hospital stays with daily vitals (at the admission's own time of day) in the window. */
  inpatientStays: number;
}

export interface GeneratedSynthea {
  patients: string;
  encounters: string;
  observations: string;
  stats: GeneratorStats;
}

export const PATIENTS_HEADER = [
  'Id', 'BIRTHDATE', 'DEATHDATE', 'SSN', 'DRIVERS', 'PASSPORT', 'PREFIX', 'FIRST', 'MIDDLE', 'LAST', 'SUFFIX',
  'MAIDEN', 'MARITAL', 'RACE', 'ETHNICITY', 'GENDER', 'BIRTHPLACE', 'ADDRESS', 'CITY', 'STATE', 'COUNTY', 'FIPS',
  'ZIP', 'LAT', 'LON', 'HEALTHCARE_EXPENSES', 'HEALTHCARE_COVERAGE', 'INCOME',
];
export const ENCOUNTERS_HEADER = [
  'Id', 'START', 'STOP', 'PATIENT', 'ORGANIZATION', 'PROVIDER', 'PAYER', 'ENCOUNTERCLASS', 'CODE', 'DESCRIPTION',
  'BASE_ENCOUNTER_COST', 'TOTAL_CLAIM_COST', 'PAYER_COVERAGE', 'REASONCODE', 'REASONDESCRIPTION',
];
export const OBSERVATIONS_HEADER = ['DATE', 'PATIENT', 'ENCOUNTER', 'CATEGORY', 'CODE', 'DESCRIPTION', 'VALUE', 'UNITS', 'TYPE'];

const DAY = 86_400_000;
const YEAR = 365.2425 * DAY;

/** Synthea timestamp: 2011-05-21T17:54:57Z. */
export function syntheaTs(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
export function syntheaDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

// ---- population shape -------------------------------------------------------------------------

/** US age pyramid, 5-year bands (share in percent), 90+ slightly boosted so small batches see some. */
const AGE_BANDS: readonly (readonly [number, number])[] = [
  [0, 6.0], [5, 6.1], [10, 6.5], [15, 6.5], [20, 6.6], [25, 7.0], [30, 7.0], [35, 6.6], [40, 6.2], [45, 6.1],
  [50, 6.3], [55, 6.5], [60, 6.3], [65, 5.4], [70, 4.3], [75, 2.9], [80, 1.9], [85, 1.3], [90, 1.0], [95, 0.5],
];

function sampleAge(rng: Rng, minAge: number, maxAge: number): number {
  const hi = Math.min(maxAge, 104);
  const lo = Math.min(minAge, hi);
  const items: [number, number][] = [];
  for (const [start, w] of AGE_BANDS) {
    const end = start === 95 ? 104 : start + 4;
    const a = Math.max(start, lo);
    const b = Math.min(end, hi);
    if (a <= b) items.push([a * 1000 + b, (w * (b - a + 1)) / (end - start + 1)]);
  }
  if (items.length === 0) return lo;
  const band = rng.weighted(items);
  return rng.int(Math.floor(band / 1000), band % 1000);
}

/** Probability of hypertension by age `a` (~30% of adults overall with the US age mix). */
function htnPrevalence(a: number, male: boolean): number {
  if (a < 18) return a < 12 ? 0 : 0.01;
  const pts: [number, number][] = [[18, 0.04], [40, 0.19], [60, 0.45], [80, 0.65], [105, 0.7]];
  let p = 0.7;
  for (let i = 1; i < pts.length; i++) {
    if (a <= pts[i][0]) {
      const [a0, p0] = pts[i - 1];
      const [a1, p1] = pts[i];
      p = p0 + ((p1 - p0) * (a - a0)) / (a1 - a0);
      break;
    }
  }
  return male && a < 60 ? p + 0.04 : p;
}

/** Yearly mortality (Gompertz-like), higher in the first year of life. */
function mortality(a: number): number {
  if (a < 1) return 0.005;
  return Math.min(0.45, 0.00005 * Math.exp(0.09 * a));
}

function interp(pts: readonly (readonly [number, number])[], x: number): number {
  if (x <= pts[0][0]) return pts[0][1];
  for (let i = 1; i < pts.length; i++) {
    if (x <= pts[i][0]) {
      const [x0, y0] = pts[i - 1];
      const [x1, y1] = pts[i];
      return y0 + ((y1 - y0) * (x - x0)) / (x1 - x0);
    }
  }
  return pts[pts.length - 1][1];
}

// Resting reference values by age in years (pediatric tables, adult means).
const HR_BY_AGE = [[0, 140], [0.25, 138], [1, 122], [2, 112], [6, 95], [12, 82], [18, 74], [40, 72], [80, 70]] as const;
const SBP_BY_AGE = [[0, 70], [0.25, 82], [1, 90], [6, 98], [12, 106], [18, 112], [30, 114], [60, 124], [90, 134]] as const;
const DBP_BY_AGE = [[0, 42], [0.25, 48], [1, 55], [6, 60], [12, 65], [18, 70], [30, 73], [55, 77], [90, 71]] as const;
const RR_BY_AGE = [[0, 40], [1, 30], [3, 25], [6, 21], [12, 18], [18, 15], [90, 16]] as const;
const HEIGHT_BY_AGE = [[0, 50], [0.5, 67], [1, 75], [2, 87], [5, 110], [10, 138], [14, 160], [18, 170]] as const;
const BMI_BY_AGE = [[0, 13.5], [1, 17], [2, 16.5], [5, 15.5], [10, 17.5], [15, 20.5], [18, 22]] as const;

// ---- visit types --------------------------------------------------------------------------------

interface VisitType {
  cls: string;
  code: string;
  desc: string;
  cost: string;
  minutes: [number, number];
  reason?: readonly (readonly [string, string])[];
}

const V_WELL_CHILD: VisitType = { cls: 'wellness', code: '410620009', desc: 'Well child visit (procedure)', cost: '136.80', minutes: [15, 15] };
const V_GENERAL: VisitType = { cls: 'wellness', code: '162673000', desc: 'General examination of patient (procedure)', cost: '136.80', minutes: [15, 15] };
const SYMPTOMS = [
  ['444814009', 'Viral sinusitis (disorder)'],
  ['195662009', 'Acute viral pharyngitis (disorder)'],
  ['10509002', 'Acute bronchitis (disorder)'],
  ['65363002', 'Otitis media (disorder)'],
  ['43878008', 'Streptococcal sore throat (disorder)'],
] as const;
const V_SYMPTOM: VisitType = { cls: 'ambulatory', code: '185345009', desc: 'Encounter for symptom (procedure)', cost: '85.55', minutes: [15, 45], reason: SYMPTOMS };
const V_CHECKUP: VisitType = { cls: 'ambulatory', code: '185349003', desc: 'Encounter for check up (procedure)', cost: '85.55', minutes: [15, 30] };
const V_PROBLEM: VisitType = { cls: 'outpatient', code: '185347001', desc: 'Encounter for problem (procedure)', cost: '85.55', minutes: [20, 60] };
const V_URGENT: VisitType = { cls: 'urgentcare', code: '702927004', desc: 'Urgent care clinic (environment)', cost: '142.58', minutes: [30, 90], reason: SYMPTOMS };
const V_EMERGENCY: VisitType = { cls: 'emergency', code: '50849002', desc: 'Emergency room admission (procedure)', cost: '146.18', minutes: [60, 240] };
const V_HTN_FOLLOWUP: VisitType = {
  cls: 'ambulatory', code: '390906007', desc: 'Follow-up encounter (procedure)', cost: '85.55', minutes: [15, 30],
  reason: [['59621000', 'Essential hypertension (disorder)']],
};
const V_INPATIENT: VisitType = { cls: 'inpatient', code: '32485007', desc: 'Hospital admission (procedure)', cost: '106.16', minutes: [1380, 1380] };
const V_DEATH: VisitType = { cls: 'wellness', code: '308646001', desc: 'Death Certification', cost: '136.80', minutes: [15, 15] };
const CAUSES_OF_DEATH = [
  'Myocardial infarction (disorder)',
  'Chronic congestive heart failure (disorder)',
  'Cerebrovascular accident (disorder)',
  'Metastatic malignant neoplasm to colon (disorder)',
  'Pneumonia (disorder)',
  'Alzheimer\'s disease (disorder)',
  'Chronic obstructive lung disease (disorder)',
];
const TOBACCO = { never: 'Never smoked tobacco (finding)', ex: 'Ex-smoker (finding)', daily: 'Smokes tobacco daily (finding)' };

type VitalSet = 'full' | 'bp_hr' | 'bp' | 'hr' | 'none';

interface Visit {
  ms: number;
  type: VisitType;
  vitals: VitalSet;
  symptomatic: boolean;
  /** Hospital stays: daily readings at the admission's time of day (not the person's usual one). */
  ownTime?: boolean;
}

// ---- people -------------------------------------------------------------------------------------

interface Person {
  id: string;
  male: boolean;
  birthMs: number;
  deathMs: number | null;
  htnOnsetAge: number | null;
  treatAfterYears: number | null;
  htnSbp: number;
  htnDbp: number;
  tachy: boolean;
  tachyHr: number;
  sbpOff: number;
  dbpOff: number;
  hrOff: number;
  heightFactor: number;
  adultBmi: number;
  smoking: keyof typeof TOBACCO;
}

function yearsAt(p: Person, ms: number): number {
  return (ms - p.birthMs) / YEAR;
}

function hasHtn(p: Person, a: number): boolean {
  return p.htnOnsetAge !== null && a >= p.htnOnsetAge;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function vitalsAt(p: Person, ms: number, rng: Rng, symptomatic: boolean): { sbp: number; dbp: number; hr: number; rr: number } {
  const a = yearsAt(p, ms);
  const adult = a >= 18;
  const k = adult ? 1 : 0.5;
  let sbp = interp(SBP_BY_AGE, a) + k * p.sbpOff + (adult && p.male && a < 60 ? 4 : 0);
  let dbp = interp(DBP_BY_AGE, a) + k * p.dbpOff + (adult && p.male ? 2 : 0);
  let hr = interp(HR_BY_AGE, a) + k * p.hrOff + (adult && p.male ? -3 : 0);
  if (hasHtn(p, a)) {
    const treated = p.treatAfterYears !== null && a >= (p.htnOnsetAge ?? 0) + p.treatAfterYears;
    sbp += treated ? p.htnSbp * 0.4 : p.htnSbp;
    dbp += treated ? p.htnDbp * 0.4 : p.htnDbp;
  }
  if (p.tachy && a >= 12) hr += p.tachyHr;
  if (symptomatic) {
    hr += Math.max(0, rng.normal(10, 6));
    sbp += rng.normal(3, 4);
  }
  sbp += rng.normal(0, a < 12 ? 6 : 7);
  dbp += rng.normal(0, a < 12 ? 5 : 5);
  hr += rng.normal(0, a < 12 ? 8 : 6);
  sbp = clamp(Math.round(sbp), 60, 215);
  dbp = clamp(Math.round(dbp), 32, 125);
  if (dbp > sbp - 15) dbp = sbp - 15;
  if (sbp - dbp > 95) dbp = sbp - 95;
  hr = clamp(Math.round(hr), 42, 195);
  const rr = clamp(Math.round(interp(RR_BY_AGE, a) + rng.normal(0, 2) + (symptomatic ? 2 : 0)), 10, 60);
  return { sbp, dbp, hr, rr };
}

function wellnessTimes(p: Person, rng: Rng): number[] {
  const out: number[] = [];
  for (const months of [0.1, 1, 2, 4, 6, 9, 12, 15, 18, 24, 30]) out.push(p.birthMs + (months / 12) * YEAR + rng.int(0, 6) * DAY);
  for (let age = 3; age < 18; age++) out.push(p.birthMs + age * YEAR + rng.int(0, 40) * DAY);
  let age = 18 + rng.range(0, 2);
  while (age < 110) {
    out.push(p.birthMs + age * YEAR + rng.int(0, 20) * DAY);
    age += age < 40 ? rng.pick([2, 3]) : age < 65 ? rng.pick([1, 2]) : 1;
  }
  return out;
}

function otherVisits(p: Person, from: number, to: number, rng: Rng): Visit[] {
  const out: Visit[] = [];
  for (let t = from; t < to; t += YEAR) {
    const a = yearsAt(p, t);
    const htn = hasHtn(p, a);
    const n = rng.poisson(0.7 + (a >= 65 ? 0.8 : 0) + (a < 2 ? 0.8 : 0));
    for (let i = 0; i < n; i++) {
      const ms = t + rng.range(0, YEAR);
      const type = rng.weighted<VisitType>([[V_SYMPTOM, 40], [V_CHECKUP, 20], [V_PROBLEM, 20], [V_URGENT, 12], [V_EMERGENCY, 8]]);
      const symptomatic = type === V_SYMPTOM || type === V_URGENT || type === V_EMERGENCY;
      let vitals: VitalSet = rng.chance(0.55) ? 'bp_hr' : 'none';
      if (vitals !== 'none' && (type === V_URGENT || type === V_EMERGENCY) && rng.chance(0.15)) vitals = 'hr';
      out.push({ ms, type, vitals, symptomatic });
    }
    if (htn) {
      for (let i = 0; i < 2; i++) {
        const ms = t + rng.range(0, YEAR);
        if (yearsAt(p, ms) < (p.htnOnsetAge ?? 0)) continue;
        out.push({ ms, type: V_HTN_FOLLOWUP, vitals: rng.chance(0.3) ? 'bp' : 'bp_hr', symptomatic: false });
      }
    }
    // A hospital stay: vitals every day at the admission's time of day (as real Synthea writes them).
    if (rng.chance(a >= 65 ? 0.06 : a < 1 ? 0.02 : 0.015)) {
      const start = Math.floor((t + rng.range(0, YEAR)) / DAY) * DAY + rng.int(0, 86_399) * 1000;
      const days = rng.int(2, 7);
      for (let d = 0; d < days; d++) out.push({ ms: start + d * DAY, type: V_INPATIENT, vitals: 'bp_hr', symptomatic: true, ownTime: true });
    }
  }
  return out;
}

function money(x: number): string {
  return x.toFixed(2);
}

// ---- the generator ------------------------------------------------------------------------------

function resolvePlace(state: string, city: string | null): { stateInfo: (typeof STATES)[number]; city: City | null } {
  const stateInfo = findState(state);
  if (!stateInfo) {
    throw new UserError(
      `the built-in generator has no data for state ${JSON.stringify(state)}; known: ${STATES.map((s) => s.name).join(', ')} ` +
        `(or set SYNTHEA_JAR / generate.synthea_jar to use real Synthea, which knows every state)`,
      'feed_unknown_state',
    );
  }
  if (city === null || city === '') return { stateInfo, city: null };
  const found = findCity(stateInfo, city);
  if (!found) {
    throw new UserError(
      `the built-in generator has no city ${JSON.stringify(city)} in ${stateInfo.name}; known: ${stateInfo.cities.map((x) => x.name).join(', ')}`,
      'feed_unknown_city',
    );
  }
  return { stateInfo, city: found };
}

// ---- population dynamics -------------------------------------------------------------------------

/** Per person and year: births into the population, people moving in, moving away, moving within the area. */
const BIRTH_RATE = 0.011;
const MOVE_IN_RATE = 0.03;
const MOVE_OUT_RATE = 0.03;
const LOCAL_MOVE_RATE = 0.04;
/** A person's life is drawn this far past the reference time (every window must end before it). */
const HORIZON_YEARS = 40;

type Origin = 'resident' | 'birth' | 'move_in';

interface Member {
  p: Person;
  index: number;
  origin: Origin;
  /** When the person joined the population (born or moved in); -Infinity for the initial residents. */
  arriveMs: number;
  /** Moved away at this instant (no encounters after it); Infinity when never. */
  leaveMs: number;
  tod: number;
  home: Home;
  fips: string;
  zip: string;
  /** A move within the area: the new address from moveMs. */
  move: { ms: number; home: Home; fips: string; zip: string } | null;
  /** Fixed at creation (names, ids, money) so that every batch writes the same person the same way. */
  line: (deathMs: number | null, moved: boolean) => string;
  visits: Visit[];
  visitRoot: Rng;
  primary: { org: string; providers: string[] };
  provider: string;
  payerIndex: number;
}

function homeFor(rng: Rng, place: { stateInfo: (typeof STATES)[number]; city: City | null }): { home: Home; fips: string; zip: string } {
  let home: Home;
  if (place.city === null && rng.chance(0.03)) {
    home = rng.pick(RESTRICTED_HOMES);
  } else {
    const city = place.city ?? rng.weighted(place.stateInfo.cities.map((x) => [x, x.pop] as const));
    home = { city: city.name, state: place.stateInfo.name, county: city.county, fips: city.fips, zip: rng.pick(city.zips), lat: city.lat, lon: city.lon };
  }
  let fips = home.fips;
  let zip = home.zip;
  if (rng.chance(0.02)) {
    // Synthea's placeholder when it has no ZIP for the city.
    zip = '00000';
    fips = '';
  }
  return { home, fips, zip };
}

function exponentialYears(rng: Rng, ratePerYear: number): number {
  return (-Math.log(1 - rng.next()) / ratePerYear) * YEAR;
}

/** A population followed over time: export any window of it (the same people, the same lives). */
export interface Population {
  export(window?: { fromMs: number; toMs: number }): GeneratedSynthea;
}

export function generateSynthea(opts: GeneratorOptions): GeneratedSynthea {
  return followPopulation(opts).export(opts.window);
}

/**
 * The population of `opts` (its window is ignored): residents at the reference time, then arrivals drawn
 * lazily as later windows need them. Exporting a window from one object or from a fresh one gives the same
 * bytes; keeping the object saves re-drawing everyone's life for every batch of a long run.
 */
export function followPopulation(opts: Omit<GeneratorOptions, 'window'>): Population {
  if (!Number.isInteger(opts.patients) || opts.patients < 1) throw new UserError(`patients must be a whole number >= 1, got ${opts.patients}`);
  if (opts.minAge < 0 || opts.maxAge < opts.minAge) {
    throw new UserError(`ages must satisfy 0 <= min_age <= max_age, got ${opts.minAge}-${opts.maxAge}`);
  }
  if (opts.yearsOfHistory < 1) throw new UserError(`years_of_history must be >= 1, got ${opts.yearsOfHistory}`);
  const ref = opts.referenceTime.getTime();
  if (!Number.isFinite(ref)) throw new UserError('reference time is not a valid date');
  const place = resolvePlace(opts.state, opts.city);
  const root = new Rng(opts.seed);
  const n = opts.patients;
  const historyStart = ref - opts.yearsOfHistory * YEAR;
  const horizon = ref + HORIZON_YEARS * YEAR;
  // A population of 20+ always shows the rare cases: one person aged 90+ and one death in the first batch.
  const forceOld = n >= 20 && opts.maxAge >= 90 ? root.int(0, n - 1) : -1;
  let forceDeath = n >= 20 ? root.int(0, n - 1) : -1;
  if (forceDeath === forceOld) forceDeath = (forceDeath + 1) % n;

  const orgRng = root.fork('organizations');
  const orgs = Array.from({ length: 6 }, () => ({ org: orgRng.uuidLike(), providers: [orgRng.uuidLike(), orgRng.uuidLike()] }));
  const hospital = { org: orgRng.uuidLike(), providers: [orgRng.uuidLike(), orgRng.uuidLike()] };
  const payers = Array.from({ length: 5 }, () => orgRng.uuidLike());
  const medicare = orgRng.uuidLike();
  const mixBase = root.fork('interleave');
  const arrivalsRng = root.fork('arrivals');

  /** One person's whole life, from their own stream: the same whatever the window. */
  const makeMember = (index: number, rng: Rng, origin: Origin, arriveAt: number): Member => {
    const male = !rng.chance(0.51);
    let birthMs: number;
    let tod: number;
    if (origin === 'birth') {
      birthMs = arriveAt;
      tod = ((arriveAt % DAY) + DAY) % DAY;
    } else {
      let age: number;
      if (origin === 'resident') {
        age = sampleAge(rng, opts.minAge, opts.maxAge);
        if (index === forceOld) age = rng.int(Math.max(90, opts.minAge), Math.min(104, Math.max(90, opts.maxAge)));
      } else {
        // Movers are mostly young adults and their children.
        const band = rng.weighted([[0, 22], [18, 55], [45, 15], [65, 8]] as const);
        age = band === 0 ? rng.int(0, 17) : band === 18 ? rng.int(18, 44) : band === 45 ? rng.int(45, 64) : rng.int(65, 90);
      }
      // Synthea keeps one time of day per person (its clock steps from the birth instant).
      tod = rng.int(0, 86_399) * 1000;
      const at = origin === 'resident' ? ref : arriveAt;
      const birthDay = Math.floor((at - (age + rng.range(0.002, 0.998)) * YEAR) / DAY) * DAY;
      birthMs = birthDay + tod;
    }
    const p: Person = {
      id: rng.uuidLike(),
      male,
      birthMs,
      deathMs: null,
      htnOnsetAge: null,
      treatAfterYears: null,
      htnSbp: Math.max(12, rng.normal(21, 6)),
      htnDbp: Math.max(5, rng.normal(11, 4)),
      tachy: rng.chance(0.04),
      tachyHr: Math.max(20, rng.normal(30, 5)),
      sbpOff: rng.normal(0, 7),
      dbpOff: rng.normal(0, 5),
      hrOff: rng.normal(0, 6),
      heightFactor: rng.normal(1, 0.04),
      adultBmi: clamp(rng.normal(27.5, 5), 17, 48),
      smoking: 'never',
    };
    const u = rng.next();
    for (let a = 12; a <= 110; a += 0.25) {
      if (u < htnPrevalence(a, male)) {
        p.htnOnsetAge = a;
        break;
      }
    }
    if (p.htnOnsetAge !== null && rng.chance(0.55)) p.treatAfterYears = rng.range(0.5, 2.5);
    p.smoking = rng.weighted([['never', 60], ['ex', 25], ['daily', 15]] as const);
    const arriveMs = origin === 'resident' ? -Infinity : arriveAt;
    const visibleFrom = Math.max(birthMs, historyStart, arriveMs);
    // Death: yearly hazard from the first visible instant to the horizon; one forced in the first batch of 20+.
    for (let t = visibleFrom; t < horizon; t += YEAR) {
      if (rng.chance(mortality(yearsAt(p, t)))) {
        const d = t + rng.range(0, YEAR);
        if (d < horizon) p.deathMs = d;
        break;
      }
    }
    if (index === forceDeath && origin === 'resident' && (p.deathMs === null || p.deathMs >= ref - 7 * DAY)) {
      const lo = Math.max(historyStart, birthMs + 60 * DAY);
      if (lo < ref - 7 * DAY) p.deathMs = lo + rng.range(0, ref - 7 * DAY - lo);
    }
    if (p.deathMs !== null) p.deathMs = Math.floor(p.deathMs / DAY) * DAY + tod;
    // Moving away, and moving within the area, after the reference time (or after arriving).
    const settled = Math.max(ref, arriveMs);
    const leave = settled + exponentialYears(rng, MOVE_OUT_RATE);
    const leaveMs = leave < horizon ? leave : Infinity;
    const addr = homeFor(rng, place);
    const moveAt = settled + exponentialYears(rng, LOCAL_MOVE_RATE);
    const moveTo = homeFor(rng, place);
    const move = moveAt < Math.min(leaveMs, horizon) ? { ms: moveAt, ...moveTo } : null;

    // Demographics, fixed at creation (age at the reference time or at arrival).
    const ageThen = yearsAt(p, Math.min(p.deathMs ?? Infinity, Math.max(ref, arriveMs)));
    const adult = ageThen >= 18;
    const female = !male;
    const first = `${rng.pick(female ? FIRST_F : FIRST_M)}${rng.int(1, 999)}`;
    const middle = rng.chance(0.85) ? `${rng.pick(female ? FIRST_F : FIRST_M)}${rng.int(1, 999)}` : '';
    const last = `${rng.pick(LAST)}${rng.int(1, 999)}`;
    const marital = adult ? rng.weighted([['M', 50], ['S', 28], ['D', 12], ['W', ageThen > 70 ? 20 : 3], ['', 4]] as const) : '';
    const maiden = female && adult && marital !== 'S' && marital !== '' && rng.chance(0.8) ? `${rng.pick(LAST)}${rng.int(1, 999)}` : '';
    const prefix = adult ? (male ? 'Mr.' : marital === 'M' || marital === 'W' || marital === 'D' ? 'Mrs.' : 'Ms.') : '';
    const suffix = adult && ageThen > 28 && rng.chance(0.02) ? rng.pick(['PhD', 'MD', 'JD']) : '';
    const race = rng.weighted([['white', 72], ['black', 9], ['asian', 7], ['native', 1], ['other', 5], ['hawaiian', 0.5]] as const);
    const ethnicity = rng.chance(0.12) ? 'hispanic' : 'nonhispanic';
    const birthplace = rng.chance(0.12)
      ? rng.pick(FOREIGN_BIRTHPLACES)
      : `${rng.pick(place.stateInfo.cities).name}  ${place.stateInfo.name}  US`;
    const street = `${rng.int(1, 999)} ${rng.pick(STREETS)}${rng.chance(0.25) ? ` Unit ${rng.int(1, 99)}` : ''}`;
    const street2 = `${rng.int(1, 999)} ${rng.pick(STREETS)}`;
    const jitter = [rng.normal(0, 0.03), rng.normal(0, 0.03)];
    const expenses = rng.range(500, 25_000) * Math.max(1, ageThen / 4);
    const coverage = rng.range(0, 1) * expenses * 0.8;
    const income = Math.round(rng.range(9_000, 520_000) * (rng.chance(0.7) ? 0.3 : 1));
    const ssn = `999-${rng.digits(2)}-${rng.digits(4)}`;
    const drivers = ageThen >= 16 ? `S999${rng.digits(5)}` : '';
    const passport = adult && rng.chance(0.6) ? `X${rng.digits(8)}X` : '';
    const line = (deathMs: number | null, moved: boolean) => {
      const h = moved && move ? move : addr;
      return csvLine([
        p.id, syntheaDate(birthMs), deathMs === null ? '' : syntheaDate(deathMs), ssn, drivers, passport,
        prefix, first, middle, last, suffix, maiden, marital, race, ethnicity, male ? 'M' : 'F', birthplace,
        moved ? street2 : street, h.home.city, h.home.state, h.home.county, h.fips, h.zip,
        String(h.home.lat + jitter[0]), String(h.home.lon + jitter[1]), money(expenses), money(coverage), String(income),
      ]);
    };

    // Visits over the person's whole visible life (at most one per day, so each keeps its own DATE).
    const primary = rng.pick(orgs);
    const provider = rng.pick(primary.providers);
    const endMs = Math.min(p.deathMs ?? Infinity, leaveMs, horizon);
    const raw: Visit[] = [];
    for (const ms of wellnessTimes(p, rng)) raw.push({ ms, type: yearsAt(p, ms) < 18 ? V_WELL_CHILD : V_GENERAL, vitals: 'full', symptomatic: false });
    raw.push(...otherVisits(p, visibleFrom, endMs, rng));
    const days = new Set<number>();
    const visits: Visit[] = [];
    const normalized = raw
      .map((v) => (v.ownTime ? v : { ...v, ms: Math.floor(v.ms / DAY) * DAY + tod }))
      .filter((v) => v.ms >= visibleFrom && v.ms >= birthMs && v.ms < endMs)
      .sort((a, b) => a.ms - b.ms || (a.type.cls === 'wellness' ? -1 : 1));
    // Hospital days first: a stay keeps every day; other visits on those days are dropped.
    for (const pass of [true, false]) {
      for (const v of normalized) {
        if (Boolean(v.ownTime) !== pass) continue;
        const day = Math.floor(v.ms / DAY);
        if (days.has(day)) continue;
        days.add(day);
        visits.push(v);
      }
    }
    visits.sort((a, b) => a.ms - b.ms);
    if (p.deathMs !== null && p.deathMs < Math.min(leaveMs, horizon)) visits.push({ ms: p.deathMs, type: V_DEATH, vitals: 'none', symptomatic: false });
    return {
      p, index, origin, arriveMs, leaveMs, tod, home: addr.home, fips: addr.fips, zip: addr.zip, move, line, visits,
      visitRoot: rng.fork('visits'), primary, provider, payerIndex: index % payers.length,
    };
  };

  const members: Member[] = [];
  for (let i = 0; i < n; i++) members.push(makeMember(i, root.fork(`patient-${i}`), 'resident', ref));
  // Arrivals after the reference time, in order: births and people moving in (one sequence, drawn as far as
  // the windows asked for so far need it).
  let arrivalAt = ref;
  let arrivals = 0;
  let pending = false;
  const arriveUntil = (to: number) => {
    for (;;) {
      if (!pending) {
        arrivalAt += exponentialYears(arrivalsRng, (BIRTH_RATE + MOVE_IN_RATE) * n);
        pending = true;
      }
      if (arrivalAt > to) return;
      const origin: Origin = arrivalsRng.chance(BIRTH_RATE / (BIRTH_RATE + MOVE_IN_RATE)) ? 'birth' : 'move_in';
      members.push(makeMember(n + arrivals, root.fork(`arrival-${arrivals}`), origin, Math.floor(arrivalAt / 1000) * 1000));
      arrivals++;
      pending = false;
    }
  };

  const exportWindow = (window?: { fromMs: number; toMs: number }): GeneratedSynthea => {
    const from = window?.fromMs ?? historyStart;
    const to = window?.toMs ?? ref;
    if (!(to >= from) || to > horizon) throw new UserError('the generator window must satisfy from <= to <= reference time + 40 years');
    arriveUntil(to);
    const mix = mixBase.fork(`${from}:${to}`);
    const stats: GeneratorStats = {
      patients: 0, deceased: 0, aged90plus: 0, adults: 0, hypertensiveAdults: 0, tachycardic: 0, encounters: 0, observations: 0,
      vitalTimestamps: 0, restrictedZip3: 0, leadingZeroZip: 0, placeholderZip: 0,
      births: 0, movedIn: 0, movedOut: 0, movedLocally: 0, inpatientStays: 0,
    };
    const inWindow = (ms: number) => ms > from && ms <= to;
    const patientLines: string[] = [];
    const encounterRuns: string[][] = [];
    const observationRuns: string[][] = [];

    for (const m of members) {
      const { p } = m;
      const visibleFrom = Math.max(p.birthMs, historyStart, m.arriveMs);
      const gone = Math.min(p.deathMs ?? Infinity, m.leaveMs);
      // In the population for some part of the window (a death or move-out in it still shows).
      if (visibleFrom > to || gone <= from) continue;
      stats.patients++;
      const deathShown = p.deathMs !== null && p.deathMs <= to && p.deathMs <= m.leaveMs ? p.deathMs : null;
      const endMs = Math.min(deathShown ?? to, m.leaveMs, to);
      const finalAge = yearsAt(p, endMs);
      if (deathShown !== null) stats.deceased++;
      if (finalAge >= 90) stats.aged90plus++;
      if (finalAge >= 18) {
        stats.adults++;
        if (hasHtn(p, finalAge)) stats.hypertensiveAdults++;
      }
      if (p.tachy && finalAge >= 12) stats.tachycardic++;
      if (m.origin === 'birth' && inWindow(m.arriveMs)) stats.births++;
      if (m.origin === 'move_in' && inWindow(m.arriveMs)) stats.movedIn++;
      if (inWindow(m.leaveMs)) stats.movedOut++;
      const moved = m.move !== null && m.move.ms <= to;
      if (m.move !== null && inWindow(m.move.ms)) stats.movedLocally++;
      const where = moved ? m.move! : { home: m.home, fips: m.fips, zip: m.zip };
      if (where.zip === '00000') stats.placeholderZip++;
      if (where.zip !== '00000' && where.zip.startsWith('0')) stats.leadingZeroZip++;
      if (['036', '059', '063', '102'].includes(where.zip.slice(0, 3))) stats.restrictedZip3++;
      patientLines.push(m.line(deathShown, moved));

      const payer = (ms: number) => (yearsAt(p, ms) >= 65 ? medicare : payers[m.payerIndex]);
      const encLines: string[] = [];
      const obsLines: string[] = [];
      const idPrefix = p.id.slice(0, 18); // Synthea v3.4: an encounter Id starts with its patient's first 64 bits
      const obs = (ms: number, enc: string, cat: string, code: string, desc: string, value: string, units: string, type: string) =>
        obsLines.push(csvLine([syntheaTs(ms), p.id, enc, cat, code, desc, value, units, type]));
      // QALY/DALY/QOLS: yearly, no encounter.
      const qaly: number[] = [];
      const qalyEnd = Math.min(p.deathMs ?? Infinity, m.leaveMs);
      for (let k = 1; p.birthMs + k * YEAR < qalyEnd && p.birthMs + k * YEAR <= to; k++) {
        const t = p.birthMs + k * YEAR;
        if (t >= visibleFrom && inWindow(Math.floor(t / DAY) * DAY + m.tod)) qaly.push(k);
      }
      let qi = 0;
      const flushQaly = (until: number) => {
        while (qi < qaly.length && p.birthMs + qaly[qi] * YEAR <= until) {
          const k = qaly[qi++];
          const ms = Math.floor((p.birthMs + k * YEAR) / DAY) * DAY + m.tod;
          obs(ms, '', '', 'QALY', 'QALY', `${(k * 0.97).toFixed(1)}`, 'a', 'numeric');
          obs(ms, '', '', 'DALY', 'DALY', `${(k * 0.03).toFixed(1)}`, 'a', 'numeric');
          obs(ms, '', '', 'QOLS', 'QOLS', m.visitRoot.fork(`qols-${k}`).chance(0.8) ? '1.0' : '0.9', '{score}', 'numeric');
        }
      };
      let stayOpen = false;
      for (const v of m.visits) {
        if (!inWindow(v.ms)) {
          stayOpen = false;
          continue;
        }
        flushQaly(v.ms);
        const rng = m.visitRoot.fork(`visit-${v.ms}`);
        if (v.type === V_INPATIENT && !stayOpen) stats.inpatientStays++;
        stayOpen = v.type === V_INPATIENT;
        const encId = `${idPrefix}-${rng.hex(4)}-${rng.hex(12)}`;
        const far = v.type === V_URGENT || v.type === V_EMERGENCY || v.type === V_INPATIENT;
        const org = far ? hospital : m.primary;
        const stop = v.ms + rng.int(v.type.minutes[0], v.type.minutes[1]) * 60_000;
        const reason = v.type.reason ? rng.pick(v.type.reason) : null;
        const base = Number(v.type.cost);
        const total = base + (v.type.cls === 'wellness' ? rng.range(0, 900) : rng.range(0, 300));
        encLines.push(
          csvLine([
            encId, syntheaTs(v.ms), syntheaTs(stop), p.id, org.org, far ? rng.pick(org.providers) : m.provider, payer(v.ms),
            v.type.cls, v.type.code, v.type.desc, v.type.cost, money(total), money(total * rng.range(0, 0.8)),
            reason ? reason[0] : '', reason ? reason[1] : '',
          ]),
        );
        stats.encounters++;
        const a = yearsAt(p, v.ms);
        if (v.type === V_DEATH) {
          obs(v.ms, encId, 'exam', '69453-9', 'Cause of Death [US Standard Certificate of Death]', rng.pick(CAUSES_OF_DEATH), '', 'text');
          continue;
        }
        if (v.vitals === 'none') {
          if (rng.chance(0.5)) obs(v.ms, encId, 'vital-signs', '72514-3', 'Pain severity - 0-10 verbal numeric rating [Score] - Reported', `${rng.int(0, 6)}.0`, '{score}', 'numeric');
          continue;
        }
        const vs = vitalsAt(p, v.ms, rng, v.symptomatic);
        stats.vitalTimestamps++;
        if (v.vitals === 'full') {
          const adultHeight = p.male ? 176 : 163;
          const h = (a >= 18 ? adultHeight : Math.min(interp(HEIGHT_BY_AGE, a), adultHeight)) * p.heightFactor;
          const bmi = (a >= 18 ? p.adultBmi : interp(BMI_BY_AGE, a)) * rng.normal(1, 0.02);
          const w = bmi * (h / 100) ** 2;
          obs(v.ms, encId, 'vital-signs', '8302-2', 'Body Height', h.toFixed(1), 'cm', 'numeric');
          obs(v.ms, encId, 'vital-signs', '72514-3', 'Pain severity - 0-10 verbal numeric rating [Score] - Reported', `${rng.int(0, 4)}.0`, '{score}', 'numeric');
          obs(v.ms, encId, 'vital-signs', '29463-7', 'Body Weight', w.toFixed(1), 'kg', 'numeric');
          if (a >= 2) obs(v.ms, encId, 'vital-signs', '39156-5', 'Body mass index (BMI) [Ratio]', bmi.toFixed(1), 'kg/m2', 'numeric');
        }
        if (v.vitals !== 'hr') {
          obs(v.ms, encId, 'vital-signs', '8462-4', 'Diastolic Blood Pressure', `${vs.dbp}.0`, 'mm[Hg]', 'numeric');
          obs(v.ms, encId, 'vital-signs', '8480-6', 'Systolic Blood Pressure', `${vs.sbp}.0`, 'mm[Hg]', 'numeric');
        }
        if (v.vitals !== 'bp') {
          obs(v.ms, encId, 'vital-signs', '8867-4', 'Heart rate', `${vs.hr}.0`, '/min', 'numeric');
          obs(v.ms, encId, 'vital-signs', '9279-1', 'Respiratory rate', `${vs.rr}.0`, '/min', 'numeric');
        }
        if (v.vitals === 'full') {
          const status = a < 14 ? TOBACCO.never : TOBACCO[p.smoking];
          obs(v.ms, encId, 'social-history', '72166-2', 'Tobacco smoking status', status, '', 'text');
        }
      }
      flushQaly(endMs);
      stats.observations += obsLines.length;
      encounterRuns.push(encLines);
      observationRuns.push(obsLines);
    }

    return {
      patients: csvLine(PATIENTS_HEADER) + patientLines.join(''),
      encounters: csvLine(ENCOUNTERS_HEADER) + interleave(encounterRuns, mix).join(''),
      observations: csvLine(OBSERVATIONS_HEADER) + interleave(observationRuns, mix).join(''),
      stats,
    };
  };
  return { export: exportWindow };
}

/**
 * Mimic Synthea's writer threads: up to 4 patients "in flight", each writing runs of its rows in
 * turn. Each patient's own rows keep their order.
 */
function interleave(perPatient: readonly string[][], rng: Rng): string[] {
  const out: string[] = [];
  const pos = perPatient.map(() => 0);
  const active: number[] = [];
  let next = 0;
  for (;;) {
    while (active.length < 4 && next < perPatient.length) active.push(next++);
    if (active.length === 0) break;
    const slot = rng.int(0, active.length - 1);
    const who = active[slot];
    const rows = perPatient[who];
    const take = rng.int(1, 40);
    for (let k = 0; k < take && pos[who] < rows.length; k++) out.push(rows[pos[who]++]);
    if (pos[who] >= rows.length) active.splice(slot, 1);
  }
  return out;
}

/** Write the three files into `dir` (created if needed). */
export async function writeSyntheaCsv(dir: string, g: GeneratedSynthea): Promise<void> {
  ensureDir(dir);
  await fs.writeFile(path.join(dir, 'patients.csv'), g.patients, 'utf8');
  await fs.writeFile(path.join(dir, 'encounters.csv'), g.encounters, 'utf8');
  await fs.writeFile(path.join(dir, 'observations.csv'), g.observations, 'utf8');
}
