import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CsvError, CsvTokenizer, readCsvFile } from '../../src/pipeline/read.js';
import { testDir } from '../helpers/test-dir.js';

function tokenize(chunks: string[]): [string[], number][] {
  const out: [string[], number][] = [];
  const t = new CsvTokenizer((f, l) => out.push([f, l]));
  for (const c of chunks) t.push(c);
  t.end();
  return out;
}

const TRICKY = '\uFEFFa,b,c\r\n1,"x, y",3\r\n\r\n2,"multi\nline ""quoted""",4\n5,,\n"6",7,"8"';

describe('CSV tokenizer', () => {
  it('handles BOM, CRLF, quoted commas, quoted newlines, escaped quotes, blank lines and a missing final newline', () => {
    expect(tokenize([TRICKY])).toEqual([
      [['a', 'b', 'c'], 1],
      [['1', 'x, y', '3'], 2],
      [['2', 'multi\nline "quoted"', '4'], 4],
      [['5', '', ''], 6],
      [['6', '7', '8'], 7],
    ]);
  });

  it('gives the same records whatever the chunk boundaries', () => {
    const whole = tokenize([TRICKY]);
    for (let size = 1; size <= 7; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < TRICKY.length; i += size) chunks.push(TRICKY.slice(i, i + size));
      expect(tokenize(chunks)).toEqual(whole);
    }
  });

  it('reports an unterminated quote with the line where the record starts', () => {
    expect(() => tokenize(['a,b\n1,2\n3,"open\nmore\n'])).toThrowError(CsvError);
    try {
      tokenize(['a,b\n1,2\n3,"open\nmore\n']);
    } catch (e) {
      expect((e as CsvError).line).toBe(3);
      expect((e as CsvError).code).toBe('unterminated_quote');
    }
  });

  it('hashes exactly the bytes of the file while streaming it', async () => {
    const dir = testDir('read');
    const file = path.join(dir, 'x.csv');
    const body = 'h1,h2\n' + Array.from({ length: 50_000 }, (_, i) => `${i},"v ${i}"`).join('\n') + '\n';
    writeFileSync(file, body);
    let n = 0;
    const r = await readCsvFile(file, () => n++);
    expect(n).toBe(50_001);
    expect(r.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(r.bytes).toBe(Buffer.byteLength(body));
  });
});
