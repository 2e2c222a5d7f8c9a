// The Safe Harbor rule set medetl applies, as data: the 18 identifier categories of 45 CFR 164.514(b)(2)(i)(A)-(R)
// and what this pipeline does with each. The attestation of every batch (privacy/attestation.ts) carries this table
// with the rule set's version and the SHA-256 of its canonical form, so two attestations made under different rules
// can be told apart. Change a rule in pipeline/deid.ts -> change its text here -> DEID_RULESET_VERSION changes too.
import { createHash } from 'node:crypto';
import { AGE_CAP, DEID_RULESET_VERSION } from '../pipeline/deid.js';
import { ZIP3_MIN_POPULATION } from '../config/zip3.js';

export interface IdentifierRule {
  category: string;
  identifier: string;
  /** What medetl does with it, whatever the batch. */
  rule: string;
}

const NO_INPUT = 'no such input column: the header contract has none, and every column outside the output allow-list is dropped';

export const IDENTIFIER_RULES: readonly IdentifierRule[] = [
  { category: 'A', identifier: 'Names', rule: 'first_name and last_name are never read; no output column holds a name; file names are never published' },
  {
    category: 'B',
    identifier: 'Geographic subdivisions smaller than a state',
    rule: `zip -> zip3, published only when the ZIP3 table gives the prefix more than ${ZIP3_MIN_POPULATION.toLocaleString('en-US')} people, else 000; no address, city or county column`,
  },
  {
    category: 'C',
    identifier: 'All elements of dates (except year) directly related to an individual, and ages over 89',
    rule:
      `dob -> dob_year, event -> event_year (the event's local calendar day); ages >= ${AGE_CAP} -> ${AGE_CAP}; for a patient aged ` +
      `${AGE_CAP}+ at the release or at any event, dob_year and event_year are withheld on every row, earlier releases included; ` +
      'future birth dates -> null; event_date only in the limited_data_set profile; no processing times are published',
  },
  { category: 'D', identifier: 'Telephone numbers', rule: NO_INPUT },
  { category: 'E', identifier: 'Fax numbers', rule: NO_INPUT },
  { category: 'F', identifier: 'Electronic mail addresses', rule: NO_INPUT },
  { category: 'G', identifier: 'Social security numbers', rule: NO_INPUT },
  { category: 'H', identifier: 'Medical record numbers', rule: 'patient_id is replaced by patient_key (see R); the raw id is never written outside the private state' },
  { category: 'I', identifier: 'Health plan beneficiary numbers', rule: NO_INPUT },
  { category: 'J', identifier: 'Account numbers', rule: NO_INPUT },
  { category: 'K', identifier: 'Certificate/license numbers', rule: NO_INPUT },
  { category: 'L', identifier: 'Vehicle identifiers and serial numbers, including license plate numbers', rule: NO_INPUT },
  { category: 'M', identifier: 'Device identifiers and serial numbers', rule: NO_INPUT },
  { category: 'N', identifier: 'Web Universal Resource Locators (URLs)', rule: NO_INPUT },
  { category: 'O', identifier: 'Internet Protocol (IP) address numbers', rule: NO_INPUT },
  { category: 'P', identifier: 'Biometric identifiers, including finger and voice prints', rule: NO_INPUT },
  { category: 'Q', identifier: 'Full face photographic images and any comparable images', rule: NO_INPUT },
  {
    category: 'R',
    identifier: 'Any other unique identifying number, characteristic, or code',
    rule:
      'patient_key: key_mode hmac = HMAC-SHA256(secret, patient_id), a keyed pseudonym derived from the id; key_mode surrogate = ' +
      'a random 128-bit token from the private vault, not derived from the id (a 164.514(c) re-identification code); batch ids ' +
      'are random; content keys and event fingerprints are keyed hashes',
  },
];

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** JSON with object keys sorted at every level: the bytes that are hashed and signed. */
export function canonicalJson(v: unknown): string {
  return canonical(v);
}

export const RULESET = {
  version: DEID_RULESET_VERSION,
  age_cap: AGE_CAP,
  zip3_min_population: ZIP3_MIN_POPULATION,
  identifiers: IDENTIFIER_RULES,
} as const;

/** SHA-256 of the canonical rule set. */
export const RULESET_SHA256 = createHash('sha256').update(canonicalJson(RULESET)).digest('hex');
