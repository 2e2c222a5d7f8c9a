// The Safe Harbor attestation of a batch: a JSON document saying, for each of the 18 identifier categories of
// 45 CFR 164.514(b)(2)(i)(A)-(R), how this batch handled it; the rule set's version and hash, the ZIP3 vintage and
// table hash, the key id and key mode, what was done (counts), and the batch audit's result. It is signed with
// HMAC-SHA256 under a key derived from MEDETL_HMAC_KEY, so a changed byte is detected (`medetl audit`). It holds no
// time, no file name and no value of a row. Written with the batch: the attestations table (same transaction) and
// masked_out/attestations/<batch_id>.json (a file sink, staged and published exactly once with the batch).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HmacKey } from '../config/key.js';
import type { Zip3Table } from '../config/zip3.js';
import type { DeidCounts, DeidProfile } from '../pipeline/deid.js';
import type { BatchAuditResult } from './batch-audit.js';
import { canonicalJson, IDENTIFIER_RULES, RULESET, RULESET_SHA256 } from './ruleset.js';

export const ATTESTATION_FORMAT = 'medetl-safe-harbor-attestation/1';

export interface AttestationInput {
  batchId: string;
  profile: DeidProfile;
  zip3: Zip3Table;
  key: HmacKey;
  keyMode: 'hmac' | 'surrogate';
  counts: DeidCounts;
  /** Patients whose earlier rows this release re-masks is decided in the transaction: here, those judged 90+. */
  audit: BatchAuditResult;
  /** Small cells suppressed in the aggregates this batch updates (stores/bi.ts), when known. */
  cellsSuppressed: number | null;
}

export interface AttestationDocument {
  format: string;
  batch_id: string;
  rule: string;
  profile: DeidProfile;
  de_identified: boolean;
  ruleset: { version: string; sha256: string };
  zip3: { table: string; vintage: string; table_hash: string; sha256: string; min_population: number };
  key: { id: string; mode: 'hmac' | 'surrogate' };
  identifiers: { category: string; identifier: string; handling: string; count?: number }[];
  counts: Record<string, number | null>;
  audit: BatchAuditResult;
  signature?: { alg: 'HMAC-SHA256'; key_id: string; value: string };
}

function signingKey(key: HmacKey): Buffer {
  return createHmac('sha256', key.bytes).update('medetl attestation v1').digest();
}

function sign(doc: AttestationDocument, key: HmacKey): string {
  const { signature: _drop, ...body } = doc;
  return createHmac('sha256', signingKey(key)).update(canonicalJson(body)).digest('hex');
}

function handling(category: string, i: AttestationInput): { handling: string; count?: number } {
  const c = i.counts;
  const rule = IDENTIFIER_RULES.find((r) => r.category === category)!.rule;
  switch (category) {
    case 'B':
      return { handling: `${rule}; table ${i.zip3.name} (${i.zip3.vintage}); ${c.zip3sTo000} row(s) published as 000`, count: c.zip3sTo000 };
    case 'C':
      return {
        handling:
          `${rule}; ${c.patientsAged90} patient(s) aged 90+ in this batch, ${c.agesCapped} age(s) capped, ${c.dobYearsWithheld} birth ` +
          `year(s) and ${c.eventYearsWithheld} event year(s) withheld, ${c.futureDobs} future birth date(s) removed` +
          (i.profile === 'limited_data_set' ? `; LIMITED DATA SET: ${c.eventDates} event_date value(s) kept (not Safe Harbor)` : ''),
        count: c.agesCapped + c.dobYearsWithheld + c.eventYearsWithheld,
      };
    case 'R':
      return { handling: `${rule}; this batch: key mode ${i.keyMode}, ${c.patients} patient key(s)`, count: c.patients };
    default:
      return { handling: rule };
  }
}

/** The signed attestation, as the JSON text that is stored (table) and written (file). */
export function makeAttestation(i: AttestationInput): string {
  const doc: AttestationDocument = {
    format: ATTESTATION_FORMAT,
    batch_id: i.batchId,
    rule: 'HIPAA Privacy Rule, 45 CFR 164.514(b)(2) (Safe Harbor)',
    profile: i.profile,
    de_identified: i.profile === 'safe_harbor' && i.audit.result === 'pass',
    ruleset: { version: RULESET.version, sha256: RULESET_SHA256 },
    zip3: { table: i.zip3.name, vintage: i.zip3.vintage, table_hash: i.zip3.hash, sha256: i.zip3.sha256, min_population: RULESET.zip3_min_population },
    key: { id: i.key.id, mode: i.keyMode },
    identifiers: IDENTIFIER_RULES.map((r) => ({ category: r.category, identifier: r.identifier, ...handling(r.category, i) })),
    counts: {
      rows: i.counts.rows,
      patients: i.counts.patients,
      patients_aged_90_or_more: i.counts.patientsAged90,
      ages_capped: i.counts.agesCapped,
      dob_years_withheld: i.counts.dobYearsWithheld,
      event_years_withheld: i.counts.eventYearsWithheld,
      zip3_set_to_000: i.counts.zip3sTo000,
      future_birth_dates_removed: i.counts.futureDobs,
      event_dates_kept: i.counts.eventDates,
      cells_suppressed: i.cellsSuppressed,
    },
    audit: i.audit,
  };
  doc.signature = { alg: 'HMAC-SHA256', key_id: i.key.id, value: sign(doc, i.key) };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export type AttestationCheck = { ok: true; doc: AttestationDocument } | { ok: false; reason: string };

/** Parse and check an attestation: its form, its signature under `key`, and (when given) the batch it names. */
export function verifyAttestation(text: string, key: HmacKey, batchId?: string): AttestationCheck {
  let doc: AttestationDocument;
  try {
    doc = JSON.parse(text) as AttestationDocument;
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  if (!doc || typeof doc !== 'object' || doc.format !== ATTESTATION_FORMAT) return { ok: false, reason: 'not a medetl attestation' };
  if (batchId !== undefined && doc.batch_id !== batchId) return { ok: false, reason: `names batch ${String(doc.batch_id)}` };
  const sig = doc.signature;
  if (!sig || sig.alg !== 'HMAC-SHA256' || typeof sig.value !== 'string') return { ok: false, reason: 'unsigned' };
  if (sig.key_id !== key.id) return { ok: false, reason: `signed under key id ${String(sig.key_id)}, not the configured key ${key.id}` };
  const want = Buffer.from(sign(doc, key), 'hex');
  const got = Buffer.from(sig.value, 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: 'the signature does not match: the document was changed' };
  if (!Array.isArray(doc.identifiers) || doc.identifiers.map((x) => x.category).join('') !== 'ABCDEFGHIJKLMNOPQR') {
    return { ok: false, reason: 'does not list the 18 identifier categories (A)-(R)' };
  }
  return { ok: true, doc };
}
