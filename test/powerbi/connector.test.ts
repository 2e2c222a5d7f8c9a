// `medetl powerbi --connector`: the .mez unzips (fflate) to the section document, its resources and valid PNG icons,
// and the M parses with Microsoft's Power Query parser. What the M declares is run against the real driver in
// odbc-sql.test.ts.
import { readFileSync, rmSync } from 'node:fs';
import { crc32, inflateSync } from 'node:zlib';
import { DefaultSettings, TaskUtils } from '@microsoft/powerquery-parser';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProject, type Project } from '../helpers/project.js';

const SIZES = [16, 20, 24, 32, 40, 48, 64, 80];

async function parse(text: string) {
  return TaskUtils.tryLexParse(DefaultSettings, text);
}

/** The chunks of a PNG, each with its CRC checked. */
function pngChunks(png: Uint8Array): { type: string; data: Buffer }[] {
  const b = Buffer.from(png);
  expect([...b.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const out: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < b.length; ) {
    const len = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    const data = b.subarray(at + 8, at + 8 + len);
    expect(b.readUInt32BE(at + 8 + len), `${type} CRC`).toBe(crc32(b.subarray(at + 4, at + 8 + len)) >>> 0);
    out.push({ type, data });
    at += 12 + len;
  }
  return out;
}

describe('medetl powerbi --connector', () => {
  let p: Project;
  let entries: Record<string, Uint8Array>;
  let pq: string;

  beforeAll(() => {
    p = makeProject();
    const r = p.run(['powerbi', '--connector', '--out', 'conn']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    entries = unzipSync(readFileSync(p.file('conn/MedetlSQLite.mez')));
    pq = strFromU8(entries['MedetlSQLite.pq']);
  });
  afterAll(() => rmSync(p.dir, { recursive: true, force: true }));

  it('is a zip of the section document, resources.resx and the icons at 16-80 px', () => {
    expect(Object.keys(entries).sort()).toEqual(['MedetlSQLite.pq', 'resources.resx', ...SIZES.map((s) => `MedetlSQLite${s}.png`)].sort());
  });

  it('every icon is a valid PNG of its size: signature, IHDR, IDAT that inflates to the right length, IEND, CRCs', () => {
    for (const s of SIZES) {
      const chunks = pngChunks(entries[`MedetlSQLite${s}.png`]);
      expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
      const ihdr = chunks[0].data;
      expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([s, s, 8, 6]);
      const raw = inflateSync(chunks[1].data);
      expect(raw.length).toBe((s * 4 + 1) * s);
      // Drawn, not blank: some opaque teal, some white line, transparent corners.
      const px = (x: number, y: number) => [...raw.subarray(y * (s * 4 + 1) + 1 + x * 4, y * (s * 4 + 1) + 1 + x * 4 + 4)];
      expect(px(0, 0)[3]).toBeLessThan(64);
      const all = Array.from({ length: s * s }, (_, i) => px(i % s, Math.floor(i / s)));
      expect(all.some(([r, g, b, a]) => a === 255 && r < 40 && g > 90 && b > 90)).toBe(true);
      expect(all.some(([r, g, b, a]) => a === 255 && r > 200 && g > 200 && b > 200)).toBe(true);
    }
  });

  it('the section document parses with @microsoft/powerquery-parser; a broken copy does not', async () => {
    const ok = await parse(pq);
    expect(TaskUtils.isParseStageOk(ok), TaskUtils.isParseStageOk(ok) ? '' : String((ok as { error?: unknown }).error)).toBe(true);
    expect(TaskUtils.isParseStageOk(await parse(pq.replace('SqlCapabilities = [', 'SqlCapabilities = [[')))).toBe(false);
  });

  it('declares DirectQuery and the overrides the SQLite ODBC driver needs', () => {
    expect(pq).toMatch(/^section MedetlSQLite;/m);
    expect(pq).toContain('[DataSource.Kind = "MedetlSQLite", Publish = "MedetlSQLite.Publish"]');
    expect(pq).toContain('shared MedetlSQLite.Contents =');
    expect(pq).toContain('Odbc.DataSource(');
    expect(pq).toContain('DriverName = "SQLite3 ODBC Driver";');
    expect(pq).toMatch(/SupportsDirectQuery = true/);
    for (const needed of [
      'LimitClauseKind = LimitClauseKind.Limit',
      'SupportsTop = false',
      'SupportsDerivedTable = true',
      'SupportsOdbcDateLiterals = true',
      'SupportsOdbcTimestampLiterals = true',
      'SQL_SQL_CONFORMANCE = 8',
      'SQL_IDENTIFIER_QUOTE_CHAR = """"',
      'SQL_CONVERT_FUNCTIONS = 0x2',
      'SQL_AGGREGATE_FUNCTIONS = 0x7F',
      'SQL_NUMERIC_FUNCTIONS = 0x400001',
      'SQL_STRING_FUNCTIONS = 0x518',
      'SQL_SYSTEM_FUNCTIONS = 0x4',
      'SQL_TIMEDATE_FUNCTIONS = 0',
      'HideNativeQuery = true',
      'ClientConnectionPooling = true',
    ])
      expect(pq).toContain(needed);
    for (const s of SIZES.filter((x) => x !== 80)) expect(pq).toContain(`Extension.Contents("MedetlSQLite${s}.png")`);
  });

  it('resources.resx holds every string the M loads', () => {
    const resx = strFromU8(entries['resources.resx']);
    expect(resx).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?>\n<root>/);
    const names = [...pq.matchAll(/Extension\.LoadString\("(\w+)"\)/g)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(5);
    for (const n of names) expect(resx, n).toContain(`<data name="${n}" xml:space="preserve">`);
  });

  it('--odbc-driver names another driver; a second run needs --force; --connector with --source is a usage error', () => {
    expect(p.run(['powerbi', '--connector', '--out', 'conn']).status).toBe(2);
    const r = p.run(['powerbi', '--connector', '--out', 'conn', '--force', '--odbc-driver', 'SQLite3']);
    expect(r.status).toBe(0);
    expect(strFromU8(unzipSync(readFileSync(p.file('conn/MedetlSQLite.mez')))['MedetlSQLite.pq'])).toContain('DriverName = "SQLite3";');
    const both = p.run(['powerbi', '--connector', '--source', 'sqlite', '--out', 'conn2']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--connector and --source/);
  });
});
