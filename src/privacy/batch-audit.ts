// The audit of one masked batch before it is committed: the facts the attestation states, checked on the rows
// themselves. A finding here is a bug in medetl, not bad input: the batch is refused (runner.ts).
import type { Zip3Table } from '../config/zip3.js';
import { AGE_CAP, type BatchAgeFacts, type DeidProfile, type MaskedBatch } from '../pipeline/deid.js';
import { NULL_INT } from '../pipeline/types.js';

export interface BatchAuditResult {
  result: 'pass' | 'fail';
  checks: string[];
  findings: string[];
}

export const BATCH_CHECKS = [
  'age_cap: no age_years above 90',
  'age90_years: no row of a patient aged 90+ has dob_year or event_year',
  'zip3_allow_list: every zip3 is 000 or a prefix the ZIP3 table publishes',
  'date_precision: no event_date outside the limited_data_set profile',
  'patient_key_format: patient_key is a keyed hash (64 hex) or a vault token (32 hex)',
] as const;

export function auditMaskedBatch(
  m: MaskedBatch,
  facts: BatchAgeFacts,
  o: { profile: DeidProfile; zip3: Pick<Zip3Table, 'publish'>; keyMode: 'hmac' | 'surrogate' },
): BatchAuditResult {
  const findings: string[] = [];
  let overCap = 0;
  let old = 0;
  let dates = 0;
  for (let i = 0; i < m.n; i++) {
    if (m.ageYears[i] !== NULL_INT && m.ageYears[i] > AGE_CAP) overCap++;
    const p = m.patientKeyIdx[i];
    const aged90 = facts.aged90[p] === 1 || m.ageYears[i] === AGE_CAP;
    if (aged90 && (m.dobYear[i] !== NULL_INT || m.eventYear[i] !== NULL_INT)) old++;
    if (m.eventDate[i] !== NULL_INT) dates++;
  }
  if (overCap) findings.push(`age_cap: ${overCap} row(s) with age_years above ${AGE_CAP}`);
  if (old) findings.push(`age90_years: ${old} row(s) of patients aged 90+ carry a year`);
  if (dates && o.profile !== 'limited_data_set') findings.push(`date_precision: ${dates} row(s) with an event_date`);
  const badZip = m.zip3s.filter((z) => z !== null && z !== '000' && o.zip3.publish(z) !== z).length;
  if (badZip) findings.push(`zip3_allow_list: ${badZip} zip3 value(s) the table does not publish`);
  const format = o.keyMode === 'hmac' ? /^[0-9a-f]{64}$/ : /^[0-9a-f]{32}$/;
  const badKeys = m.patientKeys.filter((k) => !format.test(k)).length;
  if (badKeys) findings.push(`patient_key_format: ${badKeys} key(s) not in the ${o.keyMode} form`);
  return { result: findings.length ? 'fail' : 'pass', checks: [...BATCH_CHECKS], findings };
}
