// Stage 4, de-identification: the ONE place that decides what leaves the machine.
// HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i). The identifiers this input can carry and their fate:
//   (A) names ............................ first_name, last_name: never read (schema.ts skips them)
//   (B) geographic units smaller than a state: ZIP -> first 3 digits (zip3); the 3-digit prefixes
//       whose population is 20,000 or fewer (HHS table, versioned in config) -> "000"
//   (C) all elements of dates except the year, for dates directly related to a person:
//       birth date -> dob_year; event timestamp -> event_year (event_date only in the
//       limited_data_set profile, which is NOT Safe Harbor: see README); ages over 89 and the
//       date elements (including year) indicative of such age are aggregated into "90 or older":
//       age_years = 90 for every age >= 90, and dob_year withheld (null) for those people
//   (R) any other unique identifying number: patient_id -> patient_key = HMAC-SHA256(secret, id)
//       (a keyed hash, see README "What patient_key is and is not" on 164.514(c))
// Everything else is dropped: only OUTPUT_COLUMNS (types.ts) can be written, and only from a
// MaskedBatch, which only deidentify() below can make.
// Bookkeeping that leaves with the release is keyed too: the ledger names a file's content by contentKey() and
// headKey() (HMACs under the same secret), never by an unkeyed hash that could be brute-forced back to a row.
import { createHmac } from 'node:crypto';
import type { HmacKey } from '../config/key.js';
import { DAY, civilFromDays } from './parse.js';
import { FLAG_NAMES, FLAG, NULL_INT, type RawBatch } from './types.js';

/** The version of the rules in this file; every batch records it in the ledger. Bump it with any rule change. */
export const DEID_RULESET_VERSION = 'safe-harbor-2';

/** Module-private brand: a MaskedBatch cannot be built outside this file. */
const masked: unique symbol = Symbol('MaskedBatch');

export type DeidProfile = 'safe_harbor' | 'limited_data_set';

/** Safe Harbor (C): ages over 89 are one category, shown as 90. */
export const AGE_CAP = 90;

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

export interface DeidContext {
  key: HmacKey;
  profile: DeidProfile;
  restrictedZip3: ReadonlySet<string>;
  batchId: string;
  /** The processing instant (ms); passed in, never read from the clock here. */
  nowMs: number;
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

/** Safe Harbor (B): ZIP5 -> ZIP3, with the small-population prefixes as "000". */
export function zip3Of(zip5: string | null, restricted: ReadonlySet<string>): string | null {
  if (zip5 === null) return null;
  const z3 = zip5.slice(0, 3);
  return restricted.has(z3) ? '000' : z3;
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

export function flagText(bits: number): string {
  if (bits === 0) return '';
  const names: string[] = [];
  for (const name of FLAG_NAMES) if (bits & FLAG[name]) names.push(name);
  return names.join(';');
}

export function deidentify(b: RawBatch, ctx: DeidContext): MaskedBatch {
  const n = b.n;
  // (R) one HMAC per distinct patient of the batch.
  const patientKeys = b.patientIds.map((id) => patientKey(ctx.key, id));
  // (B) one ZIP3 per distinct ZIP.
  const zip3s = b.zips.map((z) => zip3Of(z, ctx.restrictedZip3));
  const nowYmd = packedYmd(Math.floor(ctx.nowMs / DAY));
  const dobYear = new Int32Array(n);
  const ageYears = new Int32Array(n);
  const eventYear = new Int32Array(n);
  const eventDate = new Int32Array(n).fill(NULL_INT);
  const flagIdx = new Int32Array(n);
  const flagTexts: string[] = [];
  const flagSlots = new Map<number, number>();
  const keepDate = ctx.profile === 'limited_data_set';
  for (let i = 0; i < n; i++) {
    const evDays = Math.floor(b.eventMs[i] / DAY);
    const evYmd = packedYmd(evDays);
    eventYear[i] = Math.floor(evYmd / 10000);
    if (keepDate) eventDate[i] = evDays;
    const dob = b.dobDays[i];
    if (dob === NULL_INT) {
      dobYear[i] = NULL_INT;
      ageYears[i] = NULL_INT;
    } else {
      const dobYmd = packedYmd(dob);
      const ageAtEvent = Math.floor((evYmd - dobYmd) / 10000);
      const ageNow = Math.floor((nowYmd - dobYmd) / 10000);
      // (C) ages over 89 -> 90; the birth year of anyone aged 90+ (at the event or today) is withheld.
      ageYears[i] = ageAtEvent < 0 ? NULL_INT : Math.min(ageAtEvent, AGE_CAP);
      dobYear[i] = ageAtEvent >= AGE_CAP || ageNow >= AGE_CAP ? NULL_INT : Math.floor(dobYmd / 10000);
    }
    const bits = b.flags[i];
    let slot = flagSlots.get(bits);
    if (slot === undefined) {
      slot = flagTexts.length;
      flagTexts.push(flagText(bits));
      flagSlots.set(bits, slot);
    }
    flagIdx[i] = slot;
  }
  return {
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
