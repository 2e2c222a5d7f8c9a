// The raw identifier values of events files (`medetl audit --against FILE...`): every patient id, name, full birth
// date, full ZIP and event timestamp, in the forms they may take after a careless transformation (as written, ISO,
// US order, 5-digit ZIP), so the audit can look for them in everything a reader can reach.
import path from 'node:path';
import { normalizeZip } from '../pipeline/clean.js';
import { civilFromDays, parseDateDays } from '../pipeline/parse.js';
import { readCsvFile } from '../pipeline/read.js';
import { safeName } from '../ops/safe-name.js';
import type { Needle } from './scan.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** The forms a full date may take: ISO and US. */
function dateForms(days: number): string[] {
  const [y, m, d] = civilFromDays(days);
  return [`${y}-${pad(m)}-${pad(d)}`, `${pad(m)}/${pad(d)}/${y}`];
}

export interface NeedleOptions {
  /** Event dates are published in the limited_data_set profile: do not look for them there. */
  eventDatesPublished: boolean;
}

/** The needles of one events file, handed to `add` as they are read (a big file holds millions). */
export async function needlesOfEventsFile(file: string, o: NeedleOptions, add: (n: Needle) => void): Promise<void> {
  const source = `--against ${safeName(path.basename(file))}`;
  const push = (value: string, kind: string) => {
    const v = value.trim();
    if (v) add({ value: v, kind, source });
  };
  let cols: Record<string, number> | null = null;
  await readCsvFile(file, (fields) => {
    if (!cols) {
      cols = {};
      fields.forEach((h, i) => (cols![h.replace(/^\uFEFF/, '').trim().toLowerCase().replace(/\s+/g, '_')] = i));
      return;
    }
    const at = (name: string) => (cols![name] === undefined ? '' : (fields[cols![name]] ?? ''));
    push(at('patient_id'), 'patient_id');
    push(at('first_name'), 'first_name');
    push(at('last_name'), 'last_name');
    const dob = at('dob');
    push(dob, 'dob');
    const dobDays = parseDateDays(dob);
    if (Number.isFinite(dobDays)) for (const f of dateForms(dobDays)) push(f, 'dob');
    const zip = at('zip');
    if (zip.trim().length >= 5) push(zip, 'zip');
    const z5 = normalizeZip(zip);
    if (z5) push(z5, 'zip');
    const ts = at('event_ts');
    push(ts, 'event_ts');
    if (!o.eventDatesPublished) {
      const m = /^\s*(\d{4}-\d{2}-\d{2}|\d{2}\/\d{2}\/\d{4})/.exec(ts);
      if (m) push(m[1], 'event_date');
    }
  });
}
