// Ground truth for `medetl score`: the noise manifest and the line lineage of one run folder.
//
// synthea_stream/run_<stamp>_<seq>/   (belongs to incoming/events_<stamp>_<seq>.csv: same stamp and seq)
//   csv/                    the Synthea output as generated (clean; never modified)
//   events.csv              byte-identical copy of the events file delivered to incoming/ (noisy)
//   events.clean.csv        the same Synthea output mapped without any noise
//   noise_manifest.jsonl    one JSON object per injection (NoiseEntry in noise.ts), ordered by id:
//     {"id":3,"kind":"digit_typo","file":"observations.csv","row":57,"rows":[57],"field":"VALUE",
//      "before":"120.0","after":"12O.0","columns":["systolic_bp"],"patient":"<Synthea Id>","event_lines":[12]}
//     file/row: the changed line (1-based physical, header = 1) of run/csv/<file> for patients.csv
//       and observations.csv, or of run/events.csv for events.csv (duplicate_row: the copy's line,
//       with of_line = the original's line; header_format: row 1, field = the canonical name).
//     rows: every line of `file` the injection changed (timestamp kinds move all vital rows of an
//       event together; bp_swap changes the systolic and diastolic rows; before/after are then
//       "sys/dia").
//     columns: the events columns whose value changed ('*' for a whole duplicated row).
//     event_lines: the lines of run/events.csv that carry the injection (a patient-level kind
//       reaches every line of that patient; a duplicated line also carries its original's entries).
//   lineage.jsonl           one JSON object per physical line of run/events.csv, in order, header first:
//     {"line":12,"clean_line":11,"entries":[3],"kinds":["digit_typo"]}
//     line: 1-based physical line in run/events.csv (= the file in incoming/; header = line 1).
//     clean_line: the line of the same event in events.clean.csv (a duplicate copy points at its
//       original's clean line; the header is 1).
//     entries/kinds: manifest ids (ascending) and their kinds; empty = an untouched line.
//   batch.json              summary: engine, seed, stamp, seq, rates, counts by kind, mapper stats.
// The manifest and lineage hold raw values: they stay in synthea_stream/, never under masked_out/.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MapResult } from './mapper.js';
import type { EventsNoiseResult, NoiseEntry, NoiseKind } from './noise.js';

export interface LineageRecord {
  line: number;
  clean_line: number | null;
  entries: number[];
  kinds: NoiseKind[];
}

/**
 * Join injections to events lines. `lines[j]` is the physical line of output row j in the noisy
 * events file; `cleanLines[i]` of clean row i in events.clean.csv. Fills each entry's event_lines
 * (and row/rows/of_line for duplicate_row) in place.
 */
export function buildLineage(
  noisy: MapResult,
  clean: MapResult,
  cleanLines: readonly number[],
  events: EventsNoiseResult,
  lines: readonly number[],
  entries: NoiseEntry[],
): LineageRecord[] {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const bySource = new Map<string, number[]>();
  for (const e of entries) {
    if (e.file === 'events.csv') continue;
    for (const r of e.rows) {
      const k = `${e.file}:${r}`;
      const list = bySource.get(k) ?? [];
      list.push(e.id);
      bySource.set(k, list);
    }
  }
  const eventKey = (obsLines: readonly number[]) => Math.min(...obsLines);
  const cleanLineOf = new Map<number, number>();
  clean.sources.forEach((s, i) => cleanLineOf.set(eventKey(s.obsLines), cleanLines[i]));

  const headerIds = entries.filter((e) => e.kind === 'header_format').map((e) => e.id);
  const records: LineageRecord[] = [{ line: 1, clean_line: 1, entries: headerIds, kinds: headerIds.map((id) => byId.get(id)!.kind) }];
  const firstLineOfOrigin = new Map<number, number>();
  for (let j = 0; j < events.rows.length; j++) {
    const i = events.origin[j];
    const src = noisy.sources[i];
    const ids = new Set<number>(bySource.get(`patients.csv:${src.patientLine}`) ?? []);
    for (const l of src.obsLines) for (const id of bySource.get(`observations.csv:${l}`) ?? []) ids.add(id);
    const dup = events.dupEntry[j];
    if (dup === null) firstLineOfOrigin.set(i, lines[j]);
    else {
      ids.add(dup);
      const e = byId.get(dup)!;
      e.row = lines[j];
      e.rows = [lines[j]];
      e.of_line = firstLineOfOrigin.get(i);
    }
    const sorted = [...ids].sort((a, b) => a - b);
    for (const id of sorted) byId.get(id)!.event_lines.push(lines[j]);
    records.push({
      line: lines[j],
      clean_line: cleanLineOf.get(eventKey(src.obsLines)) ?? null,
      entries: sorted,
      kinds: sorted.map((id) => byId.get(id)!.kind),
    });
  }
  return records;
}

export function jsonl(items: readonly unknown[]): string {
  return items.map((x) => `${JSON.stringify(x)}\n`).join('');
}

/** Append the run's entries to run/noise_manifest.jsonl (created even when empty). */
export async function appendManifest(runDir: string, entries: readonly NoiseEntry[]): Promise<string> {
  const file = path.join(runDir, 'noise_manifest.jsonl');
  const sorted = [...entries].sort((a, b) => a.id - b.id);
  await fs.appendFile(file, jsonl(sorted), 'utf8');
  return file;
}

export async function writeLineage(runDir: string, records: readonly LineageRecord[]): Promise<string> {
  const file = path.join(runDir, 'lineage.jsonl');
  await fs.writeFile(file, jsonl(records), 'utf8');
  return file;
}

/** Count entries by kind (every kind present, zeros included). */
export function countByKind(entries: readonly NoiseEntry[], kinds: readonly NoiseKind[]): Record<NoiseKind, number> {
  const out = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<NoiseKind, number>;
  for (const e of entries) out[e.kind]++;
  return out;
}
