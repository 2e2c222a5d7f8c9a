// `medetl audit`: checks a release as an adversary would read it. Two kinds of check, each reported as findings
// (codes, places and counts: never the value found):
// - structural: only allow-listed tables, views, indexes and columns in the store, and only allow-listed files under
//   masked_out/; no row of a patient aged 90+ with a year (store, every Parquet file; the private state says who
//   has crossed 90 by the audit's clock); every zip3 on its batch's ZIP3 table; one profile; no date finer than a
//   year outside the limited-data-set profile; every batch's attestation present, equal in table and file, and
//   signed under the key; no KPI cell of fewer than 11 patients.
// - bytes: every byte a reader can reach (the SQLite file with its free pages and WAL, every Parquet file's raw
//   bytes (metadata, statistics) and decoded values, logs, attestations) scanned for identifiers (privacy/scan.ts):
//   values planted by the canary run (commands/audit.ts), the raw values of `--against` files, and the names of
//   loaded files that the name policy does not let through.
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import type { Config } from '../config/load.js';
import type { HmacKey } from '../config/key.js';
import { zip3TableByVintage, type Zip3Table } from '../config/zip3.js';
import { safeName, printable } from '../ops/safe-name.js';
import { AGE_CAP, processingDay } from '../pipeline/deid.js';
import { OUTPUT_COLUMNS } from '../pipeline/types.js';
import { initWasm } from '../sinks/parquet/encode.js';
import { verifyAttestation } from './attestation.js';
import type { ReleaseInspector, SchemaObject } from '../stores/inspect.js';
import { NeedleSet, type Needle } from './scan.js';

export type FindingKind =
  | 'release_schema'
  | 'release_file'
  | 'age90_year'
  | 'age90_crossed'
  | 'zip3'
  | 'profile'
  | 'date_precision'
  | 'attestation'
  | 'small_cell'
  | 'raw_identifier'
  | 'canary'
  /** A part of the release this audit cannot inspect (the PostgreSQL store's tables): never passed silently. */
  | 'not_inspected';

export interface Finding {
  kind: FindingKind;
  /** A path relative to the project, or a table name. */
  where: string;
  detail: string;
}

/** The small-cell rule: an aggregate over fewer patients than this is suppressed. */
export const MIN_CELL_PATIENTS = 11;

export interface AuditContext {
  config: Config;
  /** Null when MEDETL_HMAC_KEY is missing or invalid: attestations cannot be verified (a finding). */
  key: HmacKey | null;
  /** Null when there is no store file yet. */
  inspector: ReleaseInspector | null;
  /** DDL of the commit steps' release tables (compose.ts), which the store may hold besides schema.ts's. */
  stepDdl: readonly string[];
  nowMs: number;
  /** A live writer holds the output lock: its staged temporary files are expected. */
  writerLive: boolean;
}

const rel = (config: Config, file: string) => path.relative(config.resolved.root, file).split(path.sep).join('/') || '.';

async function walk(dir: string): Promise<{ files: string[]; dirs: string[] }> {
  const out = { files: [] as string[], dirs: [] as string[] };
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      out.dirs.push(p);
      const sub = await walk(p);
      out.files.push(...sub.files);
      out.dirs.push(...sub.dirs);
    } else out.files.push(p);
  }
  return out;
}

// ---- structure: the store ----------------------------------------------------------------------------------

function schemaFindings(i: ReleaseInspector, stepDdl: readonly string[], where: string): Finding[] {
  const allowed = new Map<string, SchemaObject>(i.expectedObjects(stepDdl).map((o) => [`${o.type}:${o.name}`, o]));
  const out: Finding[] = [];
  for (const o of i.objects()) {
    const a = allowed.get(`${o.type}:${o.name}`);
    if (!a) {
      out.push({ kind: 'release_schema', where, detail: `${o.type} ${printable(o.name)} is not on the release allow-list` });
      continue;
    }
    const extra = o.columns.filter((c) => !a.columns.includes(c));
    if (extra.length) out.push({ kind: 'release_schema', where, detail: `${o.type} ${o.name} has column(s) not on the allow-list: ${extra.map(printable).join(', ')}` });
  }
  return out;
}

function storeFindings(c: AuditContext, aged: Set<string> | null): Finding[] {
  const i = c.inspector!;
  const where = rel(c.config, i.where);
  const out: Finding[] = schemaFindings(i, c.stepDdl, where);
  const batches = i.batches();
  const n90 = i.yearsAtAge90();
  if (n90) out.push({ kind: 'age90_year', where, detail: `${n90} row(s) with age_years >= ${AGE_CAP} carry dob_year or event_year` });
  const nPat = i.yearsOfAged90Patients();
  if (nPat) out.push({ kind: 'age90_year', where, detail: `${nPat} row(s) of patients aged ${AGE_CAP}+ carry dob_year or event_year` });
  if (aged) {
    const { patients, rows } = i.yearRowsOf(aged);
    if (rows) {
      out.push({
        kind: 'age90_crossed', where,
        detail: `${patients} patient(s) aged ${AGE_CAP}+ by the audit day still have ${rows} row(s) with a year (the next batch loaded masks them again)`,
      });
    }
  }
  const byVintage = new Map<string, Zip3Table | null>();
  const badZip = new Map<string, number>();
  for (const z of i.zip3s()) {
    if (!byVintage.has(z.vintage)) byVintage.set(z.vintage, zip3TableByVintage(z.vintage));
    const t = byVintage.get(z.vintage);
    if (!t) {
      badZip.set(`unknown ZIP3 table ${printable(z.vintage)}`, (badZip.get(`unknown ZIP3 table ${printable(z.vintage)}`) ?? 0) + z.rows);
      continue;
    }
    if (!/^\d{3}$/.test(z.zip3) || (z.zip3 !== '000' && t.publish(z.zip3) !== z.zip3)) {
      const k = `table ${t.name}`;
      badZip.set(k, (badZip.get(k) ?? 0) + z.rows);
    }
  }
  for (const [k, rows] of badZip) out.push({ kind: 'zip3', where, detail: `${rows} row(s) with a zip3 that is not on the allow-list (${k})` });
  const profiles = [...new Set(batches.map((b) => b.profile))];
  const metaProfile = i.meta('deid_profile');
  if (profiles.length > 1) out.push({ kind: 'profile', where, detail: `the store mixes profiles: ${profiles.join(', ')}` });
  if (metaProfile !== null && profiles.some((p) => p !== metaProfile)) out.push({ kind: 'profile', where, detail: `batches of a profile other than the store's (${metaProfile})` });
  const own = metaProfile ?? profiles[0];
  if (own !== undefined && own !== c.config.deid.profile) out.push({ kind: 'profile', where, detail: `the store is ${own}, the config says ${c.config.deid.profile}` });
  const modes = [...new Set(batches.map((b) => b.keyMode))];
  if (modes.length > 1) out.push({ kind: 'profile', where, detail: `the store mixes key modes: ${modes.join(', ')}` });
  const dates = i.eventDatesOutsideLds();
  if (dates) out.push({ kind: 'date_precision', where, detail: `${dates} row(s) with an event_date outside the limited_data_set profile` });
  for (const s of i.smallCells(MIN_CELL_PATIENTS)) {
    out.push({ kind: 'small_cell', where: `${where} ${s.table}`, detail: `${s.rows} cell(s) over 1 to ${MIN_CELL_PATIENTS - 1} patients are not suppressed` });
  }
  return out;
}

// ---- structure: files --------------------------------------------------------------------------------------

const ID = '[0-9a-f]{20}';

async function fileFindings(c: AuditContext, committed: Set<string>): Promise<Finding[]> {
  const p = c.config.resolved;
  const sqliteName = path.basename(p.sqlite);
  const compactName = path.basename(p.compactParquet);
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const out: Finding[] = [];
  const { files, dirs } = await walk(p.maskedOut);
  const okDirs = new Set(['parts', 'attestations', 'bi']);
  for (const d of dirs) {
    const r = path.relative(p.maskedOut, d).split(path.sep).join('/');
    if (!okDirs.has(r)) out.push({ kind: 'release_file', where: rel(c.config, d), detail: 'a folder that is not on the release allow-list' });
  }
  const live = c.writerLive;
  for (const f of files) {
    const r = path.relative(p.maskedOut, f).split(path.sep).join('/');
    let m: RegExpExecArray | null;
    let ok = false;
    let why = 'a file that is not on the release allow-list';
    if ([sqliteName, `${sqliteName}-wal`, `${sqliteName}-shm`, '.medetl.lock', '.gitkeep'].includes(r)) ok = true;
    else if (r === '.medetl.lock.takeover' || r === `${sqliteName}-journal`) ok = live;
    else if (r === compactName) ok = true;
    else if (new RegExp(`^${esc(compactName)}\\.\\d+\\.tmp$`).test(r)) ok = live;
    else if ((m = new RegExp(`^parts/part-(${ID})\\.parquet$`).exec(r))) {
      ok = committed.has(m[1]);
      if (!ok) why = 'a part of a batch the ledger does not know';
    } else if (new RegExp(`^parts/part-${ID}\\.parquet(\\.tmp|\\.remask\\.tmp)$`).test(r)) {
      ok = live;
      why = 'a temporary part left by a crash (start a writer: recovery removes or publishes it)';
    } else if ((m = new RegExp(`^attestations/(${ID})\\.json$`).exec(r))) {
      ok = committed.has(m[1]);
      if (!ok) why = 'an attestation of a batch the ledger does not know';
    } else if (new RegExp(`^attestations/${ID}\\.json\\.tmp$`).test(r)) {
      ok = live;
      why = 'a temporary attestation left by a crash';
    } else if (/^bi\/[a-z0-9_]+\.parquet$/.test(r)) ok = true;
    if (!ok) out.push({ kind: 'release_file', where: `${rel(c.config, path.dirname(f))}/${safeName(path.basename(f))}`, detail: why });
  }
  return out;
}

// ---- attestations ------------------------------------------------------------------------------------------

async function attestationFindings(c: AuditContext, batchIds: readonly string[]): Promise<Finding[]> {
  const out: Finding[] = [];
  const table = c.inspector?.attestations() ?? new Map<string, string>();
  const where = (id: string) => rel(c.config, path.join(c.config.resolved.attestations, `${id}.json`));
  if (!c.key && batchIds.length) {
    out.push({ kind: 'attestation', where: rel(c.config, c.config.resolved.attestations), detail: 'MEDETL_HMAC_KEY is missing or invalid: the signatures cannot be checked' });
    return out;
  }
  for (const id of batchIds) {
    const doc = table.get(id);
    let file: string | null = null;
    try {
      file = await fs.readFile(path.join(c.config.resolved.attestations, `${id}.json`), 'utf8');
    } catch {
      file = null;
    }
    if (doc === undefined) out.push({ kind: 'attestation', where: `attestations table, batch ${id}`, detail: 'missing' });
    if (file === null) out.push({ kind: 'attestation', where: where(id), detail: 'missing' });
    for (const [text, at] of [[doc, `attestations table, batch ${id}`], [file, where(id)]] as const) {
      if (text === undefined || text === null) continue;
      const v = verifyAttestation(text, c.key!, id);
      if (!v.ok) out.push({ kind: 'attestation', where: at, detail: `invalid: ${v.reason}` });
      else if (v.doc.audit?.result !== 'pass') out.push({ kind: 'attestation', where: at, detail: 'the batch audit it records did not pass' });
    }
    if (doc !== undefined && file !== null && doc !== file) out.push({ kind: 'attestation', where: where(id), detail: 'the file and the table differ' });
  }
  return out;
}

// ---- Parquet -----------------------------------------------------------------------------------------------

interface ParquetFacts {
  /** Keys with a row at 90+ (bounded by the 90+ patients, not by the store). */
  aged: Set<string>;
}

function readTable(bytes: Uint8Array): arrow.Table {
  initWasm();
  return arrow.tableFromIPC(pw.readParquet(bytes).intoIPCStream());
}

/** Every distinct string value of a table (dictionaries and plain strings), NUL-separated, for the byte scan. */
function stringValues(t: arrow.Table): Buffer {
  const seen = new Set<string>();
  for (const f of t.schema.fields) {
    const isDict = arrow.DataType.isDictionary(f.type);
    const isStr = arrow.DataType.isUtf8(f.type) || (isDict && arrow.DataType.isUtf8((f.type as arrow.Dictionary).dictionary));
    if (!isStr) continue;
    for (const rb of t.batches) {
      const d = rb.getChild(f.name)!;
      if (isDict) {
        const dict = d.data[0].dictionary;
        if (dict) for (let k = 0; k < dict.length; k++) seen.add(String(dict.get(k)));
      } else for (let i = 0; i < d.length; i++) if (d.isValid(i)) seen.add(String(d.get(i)));
    }
  }
  return Buffer.from([...seen].join('\0'), 'utf8');
}

function factsOfRows(t: arrow.Table, vintageOf: Map<string, { table: Zip3Table | null; profile: string }>, facts: ParquetFacts): { years90: number; zip3: number; dates: number } {
  const r = { years90: 0, zip3: 0, dates: 0 };
  for (const rb of t.batches) {
    // (the rows with a year of 90+ patients are counted in a second pass, yearRowsOf: a map over every patient
    // key of the store would grow with it, up to the 2^24 ceiling of a JS Map)
    const get = (name: string) => rb.getChild(name);
    const pk = get('patient_key');
    const dob = get('dob_year');
    const age = get('age_years');
    const ev = get('event_year');
    const date = get('event_date');
    const zip = get('zip3');
    const batch = get('batch_id');
    if (!pk || !dob || !age || !ev || !date || !zip || !batch) continue;
    for (let i = 0; i < rb.numRows; i++) {
      const key = String(pk.get(i));
      const hasYear = dob.isValid(i) || ev.isValid(i);
      const a = age.get(i) as number | null;
      if (a !== null && a >= AGE_CAP) {
        facts.aged.add(key);
        if (hasYear) r.years90++;
      }
      const b = vintageOf.get(String(batch.get(i)));
      if (date.isValid(i) && b?.profile !== 'limited_data_set') r.dates++;
      const z = zip.get(i) as string | null;
      if (z !== null && (!/^\d{3}$/.test(z) || (z !== '000' && (!b?.table || b.table.publish(z) !== z)))) r.zip3++;
    }
  }
  return r;
}

/**
 * Rows that carry a year, of patients aged 90+ in the rows (`agedInRows`) or by the audit day (`agedByDay`): a second
 * pass over the files, counting only those patients (an unreadable file was reported by the first pass).
 */
async function yearRowsOf(files: readonly string[], agedInRows: ReadonlySet<string>, agedByDay: ReadonlySet<string> | null): Promise<{ ofAged: number; crossed: number }> {
  let ofAged = 0;
  let crossed = 0;
  for (const f of files) {
    let t: arrow.Table;
    try {
      t = readTable(await fs.readFile(f));
    } catch {
      continue;
    }
    for (const rb of t.batches) {
      const pk = rb.getChild('patient_key');
      const dob = rb.getChild('dob_year');
      const ev = rb.getChild('event_year');
      if (!pk || !dob || !ev) continue;
      for (let i = 0; i < rb.numRows; i++) {
        if (!dob.isValid(i) && !ev.isValid(i)) continue;
        const key = String(pk.get(i));
        if (agedInRows.has(key)) ofAged++;
        else if (agedByDay?.has(key)) crossed++;
      }
    }
  }
  return { ofAged, crossed };
}

/** A release Parquet file as an Arrow table, or null with a release_file finding when it cannot be read. */
async function readReleaseTable(f: string, where: string, out: { kind: string; where: string; detail: string }[]): Promise<arrow.Table | null> {
  try {
    return readTable(await fs.readFile(f));
  } catch (err) {
    out.push({ kind: 'release_file', where, detail: `not a readable Parquet file (${(err as Error).name})` });
    return null;
  }
}

async function parquetFindings(c: AuditContext, needles: NeedleSet | null): Promise<Finding[]> {
  const out: Finding[] = [];
  const p = c.config.resolved;
  const batches = c.inspector?.batches() ?? [];
  const vintageOf = new Map(batches.map((b) => [b.batchId, { table: zip3TableByVintage(b.zip3Vintage), profile: b.profile }]));
  const { files } = await walk(p.maskedOut);
  const rowFiles = files.filter((f) => f.endsWith('.parquet') && (path.dirname(f) === p.parts || f === p.compactParquet));
  const biFiles = files.filter((f) => f.endsWith('.parquet') && path.dirname(f) === path.join(p.maskedOut, 'bi'));
  // Rows of 90+ patients are judged over all row files together (a patient's rows span parts); cleaned.parquet
  // repeats the parts' rows, so it is judged on its own.
  const groups: { files: string[]; label: string }[] = [
    { files: rowFiles.filter((f) => f !== p.compactParquet), label: rel(c.config, p.parts) },
    ...(rowFiles.includes(p.compactParquet) ? [{ files: [p.compactParquet], label: rel(c.config, p.compactParquet) }] : []),
  ];
  const aged = c.inspector?.aged90Keys(processingDay(c.nowMs, c.config.input.timezone)) ?? null;
  for (const g of groups) {
    const gf: ParquetFacts = { aged: new Set() };
    let years90 = 0;
    for (const f of g.files) {
      const where = rel(c.config, f);
      const t = await readReleaseTable(f, where, out);
      if (!t) continue;
      const cols = t.schema.fields.map((x) => x.name);
      if (cols.join(',') !== OUTPUT_COLUMNS.join(',')) {
        out.push({ kind: 'release_schema', where, detail: `columns are not the output allow-list: ${cols.map(printable).join(', ')}` });
      }
      const r = factsOfRows(t, vintageOf, gf);
      years90 += r.years90;
      if (r.zip3) out.push({ kind: 'zip3', where, detail: `${r.zip3} row(s) with a zip3 that is not on the allow-list of their batch's table` });
      if (r.dates) out.push({ kind: 'date_precision', where, detail: `${r.dates} row(s) with an event_date outside the limited_data_set profile` });
      if (needles) out.push(...scanBuffer(stringValues(t), needles, `${where} (decoded values)`, false));
    }
    if (years90) out.push({ kind: 'age90_year', where: g.label, detail: `${years90} Parquet row(s) with age_years >= ${AGE_CAP} carry dob_year or event_year` });
    const { ofAged, crossed } = gf.aged.size > 0 || (aged?.size ?? 0) > 0 ? await yearRowsOf(g.files, gf.aged, aged) : { ofAged: 0, crossed: 0 };
    if (ofAged) out.push({ kind: 'age90_year', where: g.label, detail: `${ofAged} Parquet row(s) of patients aged ${AGE_CAP}+ carry dob_year or event_year` });
    if (crossed) out.push({ kind: 'age90_crossed', where: g.label, detail: `${crossed} Parquet row(s) of patients aged ${AGE_CAP}+ by the audit day carry a year` });
  }
  for (const f of biFiles) {
    const where = rel(c.config, f);
    const t = await readReleaseTable(f, where, out);
    if (!t) continue;
    const patients = t.getChild('patients');
    if (path.basename(f).startsWith('kpi_') && patients) {
      let small = 0;
      for (let i = 0; i < t.numRows; i++) {
        const v = patients.get(i) as number | bigint | null;
        if (v !== null && Number(v) > 0 && Number(v) < MIN_CELL_PATIENTS) small++;
      }
      if (small) out.push({ kind: 'small_cell', where, detail: `${small} cell(s) over 1 to ${MIN_CELL_PATIENTS - 1} patients are not suppressed` });
    }
    if (needles) out.push(...scanBuffer(stringValues(t), needles, `${where} (decoded values)`, false));
  }
  return out;
}

// ---- bytes -------------------------------------------------------------------------------------------------

const TEXT = /\.(log|json|csv|txt|ndjson|jsonl)$/i;

function scanBuffer(bytes: Uint8Array, needles: NeedleSet, where: string, text: boolean, compressed = false): Finding[] {
  return needles.scan(bytes, text, compressed).map((h) => ({
    kind: (h.needle.source === 'canary' ? 'canary' : 'raw_identifier') as FindingKind,
    where: `${where} @${h.offset}${h.encoding === 'utf16le' ? ' (UTF-16)' : ''}`,
    detail: `a ${h.needle.kind} value from ${h.needle.source}`,
  }));
}

/** A finding's `@offset` counted from the start of the file rather than of the slice scanned. */
function shiftOffset(f: Finding, by: number): Finding {
  return { ...f, where: f.where.replace(/@(\d+)/, (_m, n) => `@${Number(n) + by}`) };
}

/** Every file a reader can reach: masked_out/ (all of it: the store with its WAL, Parquet, attestations) and logs/. */
export async function readableFiles(config: Config): Promise<string[]> {
  return [...(await walk(config.resolved.maskedOut)).files, ...(await walk(config.resolved.logs)).files];
}

/**
 * Scan the bytes of every readable file (and the decoded values of every Parquet file, and the store's live values
 * one by one) for the needles.
 */
export async function scanRelease(config: Config, needles: NeedleSet, inspector: ReleaseInspector | null = null): Promise<Finding[]> {
  const out: Finding[] = [];
  if (inspector) out.push(...scanBuffer(inspector.textValues(), needles, `${rel(config, inspector.where)} (values)`, false));
  for (const f of await readableFiles(config)) {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(f);
    } catch {
      continue; // removed meanwhile (a WAL truncated, a temporary file renamed)
    }
    if (f.endsWith('.parquet')) {
      // Pages are compressed: the whole file for distinctive needles, the footer (metadata and column statistics,
      // uncompressed Thrift) for all of them, and every decoded value below.
      out.push(...scanBuffer(bytes, needles, rel(config, f), false, true));
      const footer = bytes.length >= 12 ? bytes.readUInt32LE(bytes.length - 8) : 0;
      if (footer > 0 && footer + 8 <= bytes.length) {
        const at = bytes.length - 8 - footer;
        out.push(...scanBuffer(bytes.subarray(at, bytes.length - 8), needles, `${rel(config, f)} (footer)`, false).map((x) => shiftOffset(x, at)));
      }
    } else out.push(...scanBuffer(bytes, needles, rel(config, f), TEXT.test(f)));
    if (f.endsWith('.parquet')) {
      try {
        out.push(...scanBuffer(stringValues(readTable(bytes)), needles, `${rel(config, f)} (decoded values)`, false));
      } catch {
        // reported by the structural check
      }
    }
  }
  return out;
}

/** Names of loaded or quarantined files that the name policy would not print: they must appear nowhere readable. */
export function unsafeNameNeedles(c: AuditContext): Needle[] {
  const re = new RegExp(c.config.deid.safe_file_names, 'u');
  return (c.inspector?.sourceNames() ?? [])
    .filter((n) => !re.test(n))
    .map((n) => ({ value: n, kind: 'file_name', source: 'the private state' }));
}

/** The structural audit of the release (the byte scans are scanRelease). */
export async function auditRelease(c: AuditContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const batches = c.inspector?.batches() ?? [];
  const committed = new Set(batches.map((b) => b.batchId));
  const aged = c.inspector?.aged90Keys(processingDay(c.nowMs, c.config.input.timezone)) ?? null;
  if (c.inspector) out.push(...storeFindings(c, aged));
  else if (existsSync(c.config.resolved.parts)) out.push({ kind: 'release_file', where: rel(c.config, c.config.resolved.sqlite), detail: 'no store beside the Parquet parts' });
  out.push(...(await fileFindings(c, committed)));
  out.push(...(await attestationFindings(c, batches.map((b) => b.batchId))));
  out.push(...(await parquetFindings(c, null)));
  return out;
}

/** One line per finding, as `medetl audit` prints it. */
export function findingLine(f: Finding): string {
  return `FINDING ${f.kind}: ${f.where}: ${f.detail}`;
}
