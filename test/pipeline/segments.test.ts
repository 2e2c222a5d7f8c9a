// readSegments: a file cut into segments of at most maxRows records, only at record boundaries (quote parity),
// with each segment named by the SHA-256 of the file's bytes up to its end. Compared with the whole-file reader.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCsvFile } from '../../src/pipeline/read.js';
import { readSegments, type FileSegment } from '../../src/pipeline/segments.js';
import { testDir } from '../helpers/test-dir.js';

/** Records with quoted commas, quotes and newlines, CRLF line ends and a blank line now and then. */
function trickyCsv(n: number): string {
  const lines = ['id,name,note'];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 0) lines.push(`${i},"Doe, ""J""","two\nlines"`);
    else if (i % 11 === 0) lines.push(`${i},plain,"ends with a quoted newline\n"\r`);
    else if (i % 13 === 0) lines.push('');
    else lines.push(`${i},plain,x`);
  }
  return `${lines.join('\n')}\n`;
}

async function collect(file: string, maxRows: number, cutAt?: number[]) {
  const records: { fields: string[]; line: number; seg: number }[] = [];
  const segments: FileSegment[] = [];
  for await (const s of readSegments(file, (fields, line) => records.push({ fields, line, seg: segments.length }), { maxRows, cutAt })) segments.push(s);
  return { records, segments };
}

describe('readSegments', () => {
  const dir = testDir('segments');
  const file = path.join(dir, 'tricky.csv');
  writeFileSync(file, trickyCsv(1000));
  const bytes = readFileSync(file);

  it('hands over the same records, with the same line numbers, as the whole-file reader, cut at record boundaries', async () => {
    const whole: { fields: string[]; line: number }[] = [];
    await readCsvFile(file, (fields, line) => whole.push({ fields, line }));
    const { records, segments } = await collect(file, 97);
    expect(records.map(({ fields, line }) => ({ fields, line }))).toEqual(whole);
    expect(segments.length).toBeGreaterThanOrEqual(10);
    expect(segments[0]!.startOffset).toBe(0);
    expect(segments.at(-1)).toMatchObject({ endOffset: bytes.length, last: true });
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      expect(s.index).toBe(i);
      if (i > 0) expect(s.startOffset).toBe(segments[i - 1]!.endOffset);
      expect(bytes[s.endOffset - 1]).toBe(10); // a newline
      expect(s.prefixSha256).toBe(createHash('sha256').update(bytes.subarray(0, s.endOffset)).digest('hex'));
      const n = records.filter((r) => r.seg === i).length;
      expect(n).toBeLessThanOrEqual(i === 0 ? 98 : 97);
    }
    // Quoted newlines never end a segment: every segment re-parses on its own to whole records.
    for (const s of segments.slice(1)) {
      const text = bytes.subarray(s.startOffset, s.endOffset).toString('utf8');
      expect(text.split('"').length % 2, `segment ${s.index} has balanced quotes`).toBe(1);
    }
  });

  it('cuts at the ends of earlier segments when they are record boundaries of this file, and not elsewhere', async () => {
    const { segments: first } = await collect(file, 1_000_000);
    expect(first).toHaveLength(1);
    const boundary = bytes.indexOf('\n50,plain') + 1;
    const insideQuotes = bytes.indexOf('two\nlines') + 4;
    const { segments } = await collect(file, 1_000_000, [boundary, insideQuotes]);
    expect(segments.map((s) => s.endOffset)).toEqual([boundary, bytes.length]);
  });

  it('an empty file is one empty segment; a file of one record without a final newline is one segment', async () => {
    const empty = path.join(dir, 'empty.csv');
    writeFileSync(empty, '');
    expect((await collect(empty, 10)).segments).toEqual([expect.objectContaining({ startOffset: 0, endOffset: 0, last: true })]);
    const one = path.join(dir, 'one.csv');
    writeFileSync(one, 'a,b\n1,2');
    const r = await collect(one, 1);
    expect(r.segments.map((s) => [s.startOffset, s.endOffset])).toEqual([[0, 7]]);
    expect(r.records.map((x) => x.fields)).toEqual([['a', 'b'], ['1', '2']]);
  });
});
