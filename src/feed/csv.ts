// CSV in and out for the feed. Reading uses csv-parse (streaming, so a large Synthea run is never
// held in memory whole); writing is a few lines: quote a field only when it needs it.
import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse';
import { UserError } from '../core/errors.js';

/** Quote only when needed: a comma, a double quote, CR or LF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\n`;
}

/** Header names compare case- and whitespace-insensitively (and ignore a BOM). */
export function normalizeHeaderName(name: string): string {
  return name.replace(/^\uFEFF/, '').trim().toUpperCase();
}

export interface CsvRecord {
  fields: string[];
  /** 1-based physical line where the record starts (header = line 1). */
  line: number;
}

export interface OpenedCsv {
  file: string;
  /** Header as written. */
  header: string[];
  /** Column index by normalized name; optional columns that are absent are -1. */
  col: Record<string, number>;
  records: AsyncIterable<CsvRecord>;
}

function newlinesIn(fields: readonly string[]): number {
  let n = 0;
  for (const f of fields) for (let i = f.indexOf('\n'); i !== -1; i = f.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Open `dir/name` and check its header. `required` and `optional` are normalized names (upper case);
 * a missing file or a missing required column is a UserError naming both.
 */
export async function openCsv(
  dir: string,
  name: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Promise<OpenedCsv> {
  const file = path.join(dir, name);
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new UserError(`${name} not found in ${dir} (expected Synthea CSV output: patients.csv and observations.csv)`, 'feed_missing_file');
  }
  const parser = createReadStream(file).pipe(
    parse({ bom: true, info: true, skip_empty_lines: true, relax_quotes: true, relax_column_count: true }),
  );
  const it = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: string[]; info: { lines: number } }>;
  let first: IteratorResult<{ record: string[]; info: { lines: number } }>;
  try {
    first = await it.next();
  } catch (err) {
    parser.destroy();
    throw new UserError(`${file}: not readable as CSV: ${(err as Error).message}`, 'feed_bad_csv');
  }
  if (first.done) {
    parser.destroy();
    throw new UserError(`${file} is empty (no header line)`, 'feed_bad_csv');
  }
  const header = first.value.record;
  const norm = header.map(normalizeHeaderName);
  const col: Record<string, number> = {};
  for (const c of [...required, ...optional]) col[c] = norm.indexOf(c);
  const missing = required.filter((c) => col[c] === -1);
  if (missing.length > 0) {
    parser.destroy();
    const list = missing.map((c) => JSON.stringify(c)).join(', ');
    throw new UserError(
      `${file}: missing required column${missing.length > 1 ? 's' : ''} ${list} (header: ${header.join(',')})`,
      'feed_missing_column',
    );
  }
  const width = header.length;
  async function* records(): AsyncGenerator<CsvRecord> {
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        const fields = r.value.record;
        const line = r.value.info.lines - newlinesIn(fields);
        if (fields.length < width) while (fields.length < width) fields.push('');
        yield { fields, line };
      }
    } catch (err) {
      if (err instanceof UserError) throw err;
      const e = err as Error & { lines?: number };
      throw new UserError(`${file}${e.lines ? ` line ${e.lines}` : ''}: ${e.message}`, 'feed_bad_csv');
    } finally {
      parser.destroy();
    }
  }
  return { file, header, col, records: records() };
}
