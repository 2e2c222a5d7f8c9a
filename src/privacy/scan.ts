// A byte scanner for identifiers: which of many needles occur, as tokens, in a file's bytes (UTF-8 and UTF-16LE).
// A needle matches only where it is not part of a longer run of letters and digits, so a 5-digit ZIP inside a
// 64-hex-digit key, a batch id or an epoch timestamp is not a hit. All-digit needles without a leading zero are
// also skipped where they stand as a JSON number (`"ms":12345,`) in a text file: counts in logs are not ZIPs.
// Many needles at once: each file is tokenized once (runs of [A-Za-z0-9]), and a token that is some needle's
// anchor is checked against the whole needle at that offset.
// Binary files (SQLite pages, Parquet) glue a value to whatever byte precedes or follows it (a record header, the
// previous column), which may be a letter or digit. So in a binary file a needle that holds a separator (`-`, `/`,
// `:`, `_`...) and is at least 8 characters long, which no run of letters and digits can contain by chance, matches
// as a plain substring; it is found through an interior token, or its first or last, whichever stands free. Needles
// of letters and digits only (names, ZIPs) keep the token rule everywhere (the store's live values are also scanned
// value by value, privacy/audit.ts).

export interface Needle {
  /** The raw value (never printed). */
  value: string;
  /** What it is, for the finding: patient_id, first_name, dob, zip, event_ts, file_name... */
  kind: string;
  /** Where it came from, printable (e.g. "--against events_1.csv", "canary"). */
  source: string;
}

export interface Hit {
  needle: Needle;
  offset: number;
  encoding: 'utf8' | 'utf16le';
}

const isAlnum = (b: number) => (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122);

interface Compiled {
  needle: Needle;
  bytes: Buffer;
  /** Offset of the anchor token inside the needle (in bytes of its encoding). */
  anchorAt: number;
  digitsOnly: boolean;
  /** In binary files: a substring match, no boundary check. */
  loose: boolean;
  /** Lower-case hex digits only (a ZIP, a numeric id): chance finds it in compressed bytes. */
  weak: boolean;
}

/** Needles grouped by anchor token, per encoding. */
export class NeedleSet {
  readonly skipped: Needle[] = [];
  private readonly byAnchor: Record<'utf8' | 'utf16le', Map<string, Compiled[]>> = { utf8: new Map(), utf16le: new Map() };
  private readonly seen = new Set<string>();
  size = 0;

  /** Needles shorter than minLength, or without a letter or digit, cannot be matched meaningfully: skipped. */
  constructor(needles: Iterable<Needle>, readonly minLength = 3) {
    for (const n of needles) this.add(n);
  }

  add(n: Needle): void {
    const v = n.value;
    const id = `${n.kind}\0${v}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    const tokens = [...v.matchAll(/[A-Za-z0-9]+/g)];
    if (v.length < this.minLength || tokens.length === 0) {
      this.skipped.push(n);
      return;
    }
    const loose = v.length >= 8 && /[^A-Za-z0-9]/.test(v);
    const longest = (ts: RegExpExecArray[] | RegExpMatchArray[]) => ts.reduce((a, b) => (b[0].length > a[0].length ? b : a));
    // The longest token; for a loose needle, the longest interior token (never glued to outside bytes), else both
    // the first and the last (one of them stands free unless both sides are glued).
    const anchors = !loose ? [longest(tokens)] : tokens.length >= 3 ? [longest(tokens.slice(1, -1))] : tokens.length === 2 ? tokens : [tokens[0]];
    for (const enc of ['utf8', 'utf16le'] as const) {
      for (const anchor of anchors) {
        const prefix = Buffer.byteLength(v.slice(0, anchor.index), enc);
        const key = Buffer.from(anchor[0], enc).toString('latin1');
        const list = this.byAnchor[enc].get(key) ?? [];
        list.push({ needle: n, bytes: Buffer.from(v, enc), anchorAt: prefix, digitsOnly: /^\d+$/.test(v), loose, weak: /^[0-9a-f]+$/.test(v) });
        this.byAnchor[enc].set(key, list);
      }
    }
    this.size++;
  }

  /**
   * Every needle that occurs in `bytes`, once per needle (the first offset). `text`: apply the JSON-number rule.
   * `compressed`: the bytes are compressed (Parquet pages), where the codec's tags cut runs of hex digits at random
   * places; needles of lower-case hex digits only (ZIPs, numeric ids) are skipped there (the decoded values and the
   * uncompressed footer are scanned for them instead).
   */
  scan(bytes: Uint8Array, text: boolean, compressed = false): Hit[] {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hits = new Map<Needle, Hit>();
    this.scanUnits(buf, 1, this.byAnchor.utf8, text, compressed, hits);
    this.scanUnits(buf, 2, this.byAnchor.utf16le, text, compressed, hits);
    return [...hits.values()];
  }

  private scanUnits(buf: Buffer, unit: 1 | 2, anchors: Map<string, Compiled[]>, text: boolean, compressed: boolean, hits: Map<Needle, Hit>): void {
    if (anchors.size === 0) return;
    const n = buf.length;
    const alnumAt = unit === 1 ? (i: number) => isAlnum(buf[i]) : (i: number) => i + 1 < n && buf[i + 1] === 0 && isAlnum(buf[i]);
    for (let start = 0; start < unit; start++) {
      let i = start;
      while (i < n) {
        if (!alnumAt(i)) {
          i += unit;
          continue;
        }
        const from = i;
        while (i < n && alnumAt(i)) i += unit;
        const list = anchors.get(buf.toString('latin1', from, i));
        if (list) for (const c of list) if (!(compressed && c.weak)) this.check(buf, from, unit, c, text, hits);
      }
      if (unit === 1) break;
    }
  }

  private check(buf: Buffer, tokenAt: number, unit: 1 | 2, c: Compiled, text: boolean, hits: Map<Needle, Hit>): void {
    if (hits.has(c.needle)) return;
    const at = tokenAt - c.anchorAt;
    if (at < 0 || at + c.bytes.length > buf.length) return;
    if (buf.compare(c.bytes, 0, c.bytes.length, at, at + c.bytes.length) !== 0) return;
    const before = at - unit;
    const after = at + c.bytes.length;
    const alnum = (i: number) => i >= 0 && i < buf.length && isAlnum(buf[i]) && (unit === 1 || buf[i + 1] === 0);
    if (!(c.loose && !text) && (alnum(before) || alnum(after))) return;
    if (text && unit === 1 && c.digitsOnly && c.needle.value[0] !== '0' && jsonNumber(buf, before, after)) return;
    hits.set(c.needle, { needle: c.needle, offset: at, encoding: unit === 1 ? 'utf8' : 'utf16le' });
  }
}

/** Whether the digits between `before` and `after` stand as a JSON number: after `:`, `[` or `,`, before `,`, `}`, `]`. */
function jsonNumber(buf: Buffer, before: number, after: number): boolean {
  let b = before;
  while (b >= 0 && buf[b] === 32) b--;
  let a = after;
  while (a < buf.length && buf[a] === 32) a++;
  const open = b >= 0 && (buf[b] === 58 || buf[b] === 91 || buf[b] === 44);
  const digit = (i: number) => i < buf.length && buf[i] >= 48 && buf[i] <= 57;
  const close = a >= buf.length || buf[a] === 44 || buf[a] === 125 || buf[a] === 93 || buf[a] === 10 || (buf[a] === 46 && digit(a + 1));
  return open && close;
}
