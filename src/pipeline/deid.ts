// Stage 4, de-identification: the ONE place that decides what leaves the machine.
// HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i). The identifiers this input can carry and their fate:
//   (A) names ............................ first_name, last_name: never read (schema.ts skips them)
//   (B) geographic units smaller than a state: ZIP -> first 3 digits (zip3), published only when the configured
//       Census table (config/zip3.ts, default 2020) gives the prefix more than 20,000 people; otherwise "000"
//   (C) all elements of dates except the year, for dates directly related to a person:
//       birth date -> dob_year; event -> event_year, both from the calendar day where the event happened
//       (parse.ts eventCalendarDay), event_date only in the limited_data_set profile (NOT Safe Harbor: see
//       docs/privacy.md). A birth date after the processing day is no date (null, flag future_dob).
//       Ages over 89 "and all elements of dates (including year) indicative of such age" are aggregated into a
//       single category of 90 or older, judged PER PATIENT AND AT RELEASE: anyone aged 90+ at the processing day
//       or at any of their events (in this batch or, through `prior`, in an earlier one) has dob_year and
//       event_year withheld on EVERY row, and age_years = 90 on rows at 90+. A younger row of such a patient keeps
//       its age only because its year is withheld (two readings at 89 and 90 in one year would give the birth date
//       away). Earlier releases of a patient who crosses 90 later are masked again by privacy/age90.ts.
//   (R) any other unique identifying number: patient_id -> patient_key = HMAC-SHA256(secret, id), or in the
//       surrogate key mode a random token from the vault (privacy/vault.ts), passed in as `patientKeys`
// Everything else is dropped: only OUTPUT_COLUMNS (types.ts) can be written, and only from a
// MaskedBatch, which only this file can make.
// Bookkeeping that leaves with the release is keyed too: the ledger names a file's content by contentKey() and
// headKey() (HMACs under the same secret), never by an unkeyed hash that could be brute-forced back to a row.
import { createHmac } from 'node:crypto';
import type { HmacKey } from '../config/key.js';
import { DAY, civilFromDays, daysFromCivil, zoneOffsetMs } from './parse.js';
import { FLAG_NAMES, FLAG, NULL_INT, type RawBatch } from './types.js';

/** The version of the rules in this file; every batch records it in the ledger. Bump it with any rule change. */
export const DEID_RULESET_VERSION = 'safe-harbor-3';

/** Module-private brand: a MaskedBatch cannot be built outside this file. */
const masked: unique symbol = Symbol('MaskedBatch');

export type DeidProfile = 'safe_harbor' | 'limited_data_set';

/** Safe Harbor (C): ages over 89 are one category, shown as 90. */
export const AGE_CAP = 90;

/** What de-identification did to one batch: counts only (the attestation reports them). */
export interface DeidCounts {
  rows: number;
  patients: number;
  /** Patients judged 90 or older (at the release or at one of their events). */
  patientsAged90: number;
  /** Rows whose age was 90 or more, published as 90. */
  agesCapped: number;
  /** Rows with a birth date whose dob_year was withheld (90+). */
  dobYearsWithheld: number;
  /** Rows whose event_year was withheld (90+). */
  eventYearsWithheld: number;
  /** Rows whose ZIP3 was published as 000 (small or unknown population). */
  zip3sTo000: number;
  /** Rows whose birth date lay after the processing day (published as null). */
  futureDobs: number;
  /** Rows with a full event_date (limited_data_set only). */
  eventDates: number;
}

export interface MaskedBatch {
  readonly [masked]: true;
  readonly batchId: string;
  readonly n: number;
  readonly patientKeyIdx: Int32Array;
  readonly patientKeys: readonly string[];
  readonly dobYear: Int32Array;
  readonly ageYears: Int32Array;
  readonly eventYear: Int32Array;
  /** Days since epoch, NULL_INT unless the profile is limited_data_set. */
  readonly eventDate: Int32Array;
  readonly zip3Idx: Int32Array;
  readonly zip3s: readonly (string | null)[];
  readonly systolic_bp: Float64Array;
  readonly diastolic_bp: Float64Array;
  readonly heart_rate: Float64Array;
  readonly flagIdx: Int32Array;
  /** Distinct `outlier_flags` strings ('' = no flag), indexed by flagIdx. */
  readonly flagTexts: readonly string[];
}

/**
 * What is known about a patient's age, per patient (dictionary index of the batch): private facts, never published.
 * turn90Day: the day they turn 90 from the earliest birth date seen, NULL_INT when no birth date is known;
 * maxEventDay: their latest event day seen (NULL_INT: none).
 */
export interface PatientAgeFacts {
  turn90Day: Int32Array;
  maxEventDay: Int32Array;
}

export interface BatchAgeFacts extends PatientAgeFacts {
  /** 1 when the patient is judged 90+ in this release. */
  aged90: Uint8Array;
  /** 1 when the patient has rows in this batch (a filtered batch keeps unused dictionary entries). */
  present: Uint8Array;
}

export interface DeidContext {
  key: HmacKey;
  profile: DeidProfile;
  /** The ZIP3 table's rule (config/zip3.ts): the published form of a prefix. */
  zip3: { publish(prefix: string): string };
  batchId: string;
  /** The processing instant (ms); passed in, never read from the clock here. */
  nowMs: number;
  /** input.timezone: the processing day is the calendar day there (default UTC). */
  zone?: string;
  /** patient_key per patient dictionary index (surrogate mode); default HMAC(key, patient_id). */
  patientKeys?: readonly string[];
  /** Facts from earlier batches per patient dictionary index (privacy/age90.ts), merged with this batch's. */
  prior?: PatientAgeFacts;
  /** The latest processing day of any earlier release: the release clock never goes back (MEDETL_NOW). */
  releaseFloorDay?: number;
}

export function patientKey(key: HmacKey, patientId: string): string {
  return createHmac('sha256', key.bytes).update(patientId, 'utf8').digest('hex');
}

/** The ledger's name for a file's content: HMAC(key, "content" + SHA-256 of the bytes). */
export function contentKey(key: HmacKey, sha256Hex: string): string {
  return createHmac('sha256', key.bytes).update('medetl content\0').update(sha256Hex, 'hex').digest('hex');
}

/** The ledger's name for a file's first bytes (finds earlier segments of a file that grew). */
export function headKey(key: HmacKey, headSha256Hex: string): string {
  return createHmac('sha256', key.bytes).update('medetl head\0').update(headSha256Hex, 'hex').digest('hex');
}

/** Safe Harbor (B): ZIP5 -> ZIP3 by the table's rule (small or unknown populations -> "000"). */
export function zip3Of(zip5: string | null, table: { publish(prefix: string): string }): string | null {
  if (zip5 === null) return null;
  return table.publish(zip5.slice(0, 3));
}

/** A day number as yyyymmdd, so that whole years between two dates are floor(difference / 10000). */
export function packedYmd(days: number): number {
  const [y, m, d] = civilFromDays(days);
  return y * 10000 + m * 100 + d;
}

/** Whole years from birth to a date (both as days since epoch); negative when born later. */
export function ageInYears(dobDays: number, atDays: number): number {
  return Math.floor((packedYmd(atDays) - packedYmd(dobDays)) / 10000);
}

/** The first day on which someone born on `dobDays` is 90 (a 29 February birthday: 1 March in a common year). */
export function turn90Day(dobDays: number): number {
  const [y, m, d] = civilFromDays(dobDays);
  return daysFromCivil(y + AGE_CAP, m, d);
}

/** The processing day: the calendar day of the processing instant in `zone`. */
export function processingDay(nowMs: number, zone = 'UTC'): number {
  return Math.floor((nowMs + zoneOffsetMs(zone, nowMs)) / DAY);
}

/** Whether a patient is in the 90-or-older category at a release on `releaseDay`. */
export function isAged90(turn90: number, maxEventDay: number, releaseDay: number): boolean {
  if (turn90 === NULL_INT) return false;
  return turn90 <= Math.max(releaseDay, maxEventDay === NULL_INT ? releaseDay : maxEventDay);
}

export function flagText(bits: number): string {
  if (bits === 0) return '';
  const names: string[] = [];
  for (const name of FLAG_NAMES) if (bits & FLAG[name]) names.push(name);
  return names.join(';');
}

/** Per-patient age facts of a batch, merged with `prior`; birth dates after `nowDay` are ignored. */
export function batchAgeFacts(b: RawBatch, nowDay: number, releaseDay: number, prior?: PatientAgeFacts): BatchAgeFacts {
  const np = b.patientIds.length;
  const earliestDob = new Int32Array(np).fill(NULL_INT);
  const maxEventDay = new Int32Array(np).fill(NULL_INT);
  const present = new Uint8Array(np);
  for (let i = 0; i < b.n; i++) {
    const p = b.patientIdx[i];
    present[p] = 1;
    const dob = b.dobDays[i];
    if (dob !== NULL_INT && dob <= nowDay && (earliestDob[p] === NULL_INT || dob < earliestDob[p])) earliestDob[p] = dob;
    if (maxEventDay[p] === NULL_INT || b.eventDay[i] > maxEventDay[p]) maxEventDay[p] = b.eventDay[i];
  }
  const turn90 = new Int32Array(np).fill(NULL_INT);
  const aged90 = new Uint8Array(np);
  for (let p = 0; p < np; p++) {
    let t = earliestDob[p] === NULL_INT ? NULL_INT : turn90Day(earliestDob[p]);
    let ev = maxEventDay[p];
    if (prior) {
      const pt = prior.turn90Day[p];
      if (pt !== NULL_INT && (t === NULL_INT || pt < t)) t = pt;
      const pe = prior.maxEventDay[p];
      if (pe !== NULL_INT && (ev === NULL_INT || pe > ev)) ev = pe;
    }
    turn90[p] = t;
    maxEventDay[p] = ev;
    aged90[p] = isAged90(t, ev, releaseDay) ? 1 : 0;
  }
  return { turn90Day: turn90, maxEventDay, aged90, present };
}

export function deidentify(b: RawBatch, ctx: DeidContext): MaskedBatch {
  return deidentifyWithFacts(b, ctx).masked;
}

/** The masked batch, what was done to it (counts), and the private per-patient age facts (for privacy/age90.ts). */
export function deidentifyWithFacts(b: RawBatch, ctx: DeidContext): { masked: MaskedBatch; counts: DeidCounts; facts: BatchAgeFacts } {
  const n = b.n;
  // (R) one key per distinct patient of the batch.
  const patientKeys = ctx.patientKeys ?? b.patientIds.map((id) => patientKey(ctx.key, id));
  if (patientKeys.length !== b.patientIds.length) throw new Error('deid: one patient key per patient is needed');
  // (B) one ZIP3 per distinct ZIP.
  const zip3s = b.zips.map((z) => zip3Of(z, ctx.zip3));
  const to000 = b.zips.map((z, k) => z !== null && zip3s[k] === '000' && z.slice(0, 3) !== '000');
  const nowDay = processingDay(ctx.nowMs, ctx.zone);
  const releaseDay = Math.max(nowDay, ctx.releaseFloorDay ?? nowDay);
  // (C) per patient: the 90-or-older category, judged at the release and at every event.
  const facts = batchAgeFacts(b, nowDay, releaseDay, ctx.prior);
  const counts: DeidCounts = {
    rows: n, patients: 0, patientsAged90: 0, agesCapped: 0, dobYearsWithheld: 0, eventYearsWithheld: 0, zip3sTo000: 0,
    futureDobs: 0, eventDates: 0,
  };
  for (let p = 0; p < facts.present.length; p++) {
    if (!facts.present[p]) continue;
    counts.patients++;
    counts.patientsAged90 += facts.aged90[p];
  }
  const dobYear = new Int32Array(n);
  const ageYears = new Int32Array(n);
  const eventYear = new Int32Array(n);
  const eventDate = new Int32Array(n).fill(NULL_INT);
  const flagIdx = new Int32Array(n);
  const flagTexts: string[] = [];
  const flagSlots = new Map<number, number>();
  const keepDate = ctx.profile === 'limited_data_set';
  const ymdCache = new Map<number, number>();
  const ymd = (days: number) => {
    let v = ymdCache.get(days);
    if (v === undefined) ymdCache.set(days, (v = packedYmd(days)));
    return v;
  };
  for (let i = 0; i < n; i++) {
    const p = b.patientIdx[i];
    const old = facts.aged90[p] === 1;
    const evDay = b.eventDay[i];
    const evYmd = ymd(evDay);
    if (keepDate) {
      eventDate[i] = evDay;
      counts.eventDates++;
    }
    let bits = b.flags[i];
    let dob = b.dobDays[i];
    if (dob !== NULL_INT && dob > nowDay) {
      // (C) a birth date in the future is no birth date.
      dob = NULL_INT;
      bits |= FLAG.future_dob;
      counts.futureDobs++;
    }
    if (dob === NULL_INT) {
      dobYear[i] = NULL_INT;
      ageYears[i] = NULL_INT;
    } else {
      const age = Math.floor((evYmd - ymd(dob)) / 10000);
      // The patient's earliest known birth date decides whether this row is at 90+.
      const t90 = facts.turn90Day[p];
      const at90 = age >= AGE_CAP || (t90 !== NULL_INT && evDay >= t90);
      if (age < 0) ageYears[i] = NULL_INT;
      else if (at90) {
        ageYears[i] = AGE_CAP;
        counts.agesCapped++;
      } else ageYears[i] = age;
      if (old) {
        dobYear[i] = NULL_INT;
        counts.dobYearsWithheld++;
      } else dobYear[i] = Math.floor(ymd(dob) / 10000);
    }
    if (old) {
      eventYear[i] = NULL_INT;
      counts.eventYearsWithheld++;
    } else eventYear[i] = Math.floor(evYmd / 10000);
    if (to000[b.zipIdx[i]]) counts.zip3sTo000++;
    let slot = flagSlots.get(bits);
    if (slot === undefined) {
      slot = flagTexts.length;
      flagTexts.push(flagText(bits));
      flagSlots.set(bits, slot);
    }
    flagIdx[i] = slot;
  }
  const m: MaskedBatch = {
    [masked]: true,
    batchId: ctx.batchId,
    n,
    patientKeyIdx: b.patientIdx,
    patientKeys,
    dobYear,
    ageYears,
    eventYear,
    eventDate,
    zip3Idx: b.zipIdx,
    zip3s,
    systolic_bp: b.systolic_bp,
    diastolic_bp: b.diastolic_bp,
    heart_rate: b.heart_rate,
    flagIdx,
    flagTexts,
  };
  return { masked: m, counts, facts };
}

/** A batch with no rows (the schema of an empty compacted file). */
export function emptyMaskedBatch(batchId: string): MaskedBatch {
  const none = new Int32Array(0);
  const noD = new Float64Array(0);
  return {
    [masked]: true, batchId, n: 0, patientKeyIdx: none, patientKeys: [], dobYear: none, ageYears: none, eventYear: none,
    eventDate: none, zip3Idx: none, zip3s: [], systolic_bp: noD, diastolic_bp: noD, heart_rate: noD, flagIdx: none, flagTexts: [],
  };
}

/**
 * Cross-batch duplicate detection needs a stable name for an event that reveals nothing: a 63-bit
 * keyed fingerprint of (patient, instant, values). Each patient gets a secret salt,
 * HMAC(key, "event-fingerprint\0" + patient_id), computed once per patient; rows are then mixed
 * with a fast 64-bit hash. Without the key the salt is unknown, so the fingerprints in the
 * ledger cannot be brute-forced back to a timestamp. They live only in the ledger table.
 */
export function eventFingerprints(b: RawBatch, key: HmacKey): BigInt64Array {
  const salts = b.patientIds.map((id) => {
    const d = createHmac('sha256', key.bytes).update('event-fingerprint\0').update(id, 'utf8').digest();
    return [d.readUInt32LE(0), d.readUInt32LE(4)] as const;
  });
  const out = new BigInt64Array(b.n);
  const f64 = new Float64Array(1);
  const u32 = new Uint32Array(f64.buffer);
  for (let i = 0; i < b.n; i++) {
    const [s0, s1] = salts[b.patientIdx[i]];
    let h1 = s0 ^ 0x85ebca6b;
    let h2 = s1 ^ 0xc2b2ae35;
    const feed = (x: number) => {
      f64[0] = x;
      for (let k = 0; k < 2; k++) {
        const w = u32[k];
        h1 = Math.imul(h1 ^ w, 0xcc9e2d51);
        h1 = (h1 << 15) | (h1 >>> 17);
        h1 = Math.imul(h1 + h2, 5) + 0xe6546b64;
        h2 = Math.imul(h2 ^ w ^ h1, 0x1b873593);
        h2 = (h2 << 13) | (h2 >>> 19);
        h2 = Math.imul(h2 + h1, 5) + 0x561ccd1b;
      }
    };
    feed(b.eventMs[i]);
    feed(b.systolic_bp[i]);
    feed(b.diastolic_bp[i]);
    feed(b.heart_rate[i]);
    h1 ^= h2 >>> 16;
    h1 = Math.imul(h1, 0x85ebca6b);
    h2 ^= h1 >>> 13;
    h2 = Math.imul(h2, 0xc2b2ae35);
    h1 ^= h2 >>> 16;
    // 63 bits so the value fits SQLite's signed INTEGER PRIMARY KEY.
    out[i] = (BigInt(h1 >>> 1) << 32n) | BigInt(h2 >>> 0);
  }
  return out;
}
