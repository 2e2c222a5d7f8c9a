// Parquet encoding: Arrow tables built straight from the masked batch's typed arrays, encoded by parquet-wasm
// (Rust's parquet crate): dictionary or plain encodings, Snappy by default, writer version 1 (no DELTA_* encodings,
// which Power BI's reader has rejected), DATE/INT32/DOUBLE/UTF8 types. parquetjs-lite measured ~25k rows/s at
// 750 MB RSS here and cannot append (see README).
import { promises as fs, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/esm/parquet_wasm.js';
import type { MaskedBatch } from '../../pipeline/deid.js';
import { NULL_INT } from '../../pipeline/types.js';

export type ParquetCompression = 'snappy' | 'zstd' | 'gzip' | 'uncompressed';

let wasmReady = false;
export function initWasm(): void {
  if (wasmReady) return;
  const require = createRequire(import.meta.url);
  pw.initSync({ module: readFileSync(require.resolve('parquet-wasm/esm/parquet_wasm_bg.wasm')) });
  wasmReady = true;
}

export function writerProperties(compression: ParquetCompression): pw.WriterProperties {
  const codec = {
    snappy: pw.Compression.SNAPPY,
    zstd: pw.Compression.ZSTD,
    gzip: pw.Compression.GZIP,
    uncompressed: pw.Compression.UNCOMPRESSED,
  }[compression];
  return new pw.WriterPropertiesBuilder()
    .setCompression(codec)
    .setWriterVersion(pw.WriterVersion.V1)
    .setDictionaryEnabled(true)
    // The 64-hex-digit patient_key would fall back to PLAIN at the default 1 MB dictionary page.
    .setDictionaryPageSizeLimit(4 << 20)
    .setMaxRowGroupSize(ROW_GROUP_ROWS)
    .setCreatedBy('medetl')
    .build();
}

function validity(n: number, isValid: (i: number) => boolean): { bitmap: Uint8Array; nulls: number } {
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    if (isValid(i)) bitmap[i >> 3] |= 1 << (i & 7);
    else nulls++;
  }
  return { bitmap, nulls };
}

function intColumn(values: Int32Array): arrow.Vector {
  const v = validity(values.length, (i) => values[i] !== NULL_INT);
  return arrow.makeVector(
    arrow.makeData({ type: new arrow.Int32(), length: values.length, nullCount: v.nulls, nullBitmap: v.bitmap, data: values }),
  );
}

function dateColumn(days: Int32Array): arrow.Vector {
  const v = validity(days.length, (i) => days[i] !== NULL_INT);
  return arrow.makeVector(
    arrow.makeData({ type: new arrow.DateDay(), length: days.length, nullCount: v.nulls, nullBitmap: v.bitmap, data: days }),
  );
}

function doubleColumn(values: Float64Array): arrow.Vector {
  const v = validity(values.length, (i) => !Number.isNaN(values[i]));
  return arrow.makeVector(
    arrow.makeData({ type: new arrow.Float64(), length: values.length, nullCount: v.nulls, nullBitmap: v.bitmap, data: values }),
  );
}

/** A dictionary-encoded string column; null dictionary entries become null rows. */
function stringColumn(idx: Int32Array, dict: readonly (string | null)[]): arrow.Vector {
  const compact: string[] = [];
  const remap = new Int32Array(dict.length).fill(-1);
  dict.forEach((s, k) => {
    if (s !== null) {
      remap[k] = compact.length;
      compact.push(s);
    }
  });
  const indices = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) indices[i] = Math.max(remap[idx[i]], 0);
  const v = validity(idx.length, (i) => remap[idx[i]] >= 0);
  const type = new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32());
  const dictionary = arrow.vectorFromArray(compact, new arrow.Utf8());
  return arrow.makeVector(
    arrow.makeData({ type, length: idx.length, nullCount: v.nulls, nullBitmap: v.bitmap, data: indices, dictionary }),
  );
}

/** The column data of a MaskedBatch (what crosses to the encoder thread). */
export type MaskedColumns = Omit<MaskedBatch, symbol>;

/** The masked batch as an Arrow table with exactly the output columns, in order. */
export function toArrow(b: MaskedColumns): arrow.Table {
  return new arrow.Table({
    patient_key: stringColumn(b.patientKeyIdx, b.patientKeys),
    dob_year: intColumn(b.dobYear),
    age_years: intColumn(b.ageYears),
    event_year: intColumn(b.eventYear),
    event_date: dateColumn(b.eventDate),
    zip3: stringColumn(b.zip3Idx, b.zip3s),
    systolic_bp: doubleColumn(b.systolic_bp),
    diastolic_bp: doubleColumn(b.diastolic_bp),
    heart_rate: doubleColumn(b.heart_rate),
    outlier_flags: stringColumn(b.flagIdx, b.flagTexts),
    batch_id: stringColumn(new Int32Array(b.n), [b.batchId]),
  });
}

export function encodeParquet(table: arrow.Table, compression: ParquetCompression): Uint8Array {
  initWasm();
  const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  return pw.writeParquet(wasmTable, writerProperties(compression));
}

/** Rows per Parquet row group: bounds the encoder's memory whatever the batch size. */
export const ROW_GROUP_ROWS = 65_536;

/** Rows [from, to) of a batch as standalone columns: arrays copied, dictionaries cut to what is used. */
export function sliceColumns(b: MaskedColumns, from: number, to: number): MaskedColumns {
  const dict = <T>(idx: Int32Array, values: readonly T[]): { idx: Int32Array; values: T[] } => {
    const remap = new Map<number, number>();
    const out: T[] = [];
    const ix = new Int32Array(to - from);
    for (let i = from; i < to; i++) {
      let k = remap.get(idx[i]);
      if (k === undefined) {
        k = out.length;
        remap.set(idx[i], k);
        out.push(values[idx[i]]);
      }
      ix[i - from] = k;
    }
    return { idx: ix, values: out };
  };
  const pk = dict(b.patientKeyIdx, b.patientKeys);
  const z3 = dict(b.zip3Idx, b.zip3s);
  const fl = dict(b.flagIdx, b.flagTexts);
  return {
    batchId: b.batchId,
    n: to - from,
    patientKeyIdx: pk.idx,
    patientKeys: pk.values,
    dobYear: b.dobYear.slice(from, to),
    ageYears: b.ageYears.slice(from, to),
    eventYear: b.eventYear.slice(from, to),
    eventDate: b.eventDate.slice(from, to),
    zip3Idx: z3.idx,
    zip3s: z3.values,
    systolic_bp: b.systolic_bp.slice(from, to),
    diastolic_bp: b.diastolic_bp.slice(from, to),
    heart_rate: b.heart_rate.slice(from, to),
    flagIdx: fl.idx,
    flagTexts: fl.values,
  };
}

export async function pipeEncoded(encoded: ReadableStream, file: string): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    for await (const chunk of encoded as unknown as AsyncIterable<Uint8Array>) await fh.write(chunk);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Streams row groups into one Parquet file: push slices, then finish (fsync) or abort (delete).
 * Runs on the encoder thread (parquet-worker.ts), or inline when that is not available.
 */
export class PartEncoder {
  private controller!: ReadableStreamDefaultController<pw.RecordBatch>;
  readonly done: Promise<void>;

  constructor(
    readonly file: string,
    compression: ParquetCompression,
  ) {
    initWasm();
    const source = new ReadableStream<pw.RecordBatch>({ start: (c) => void (this.controller = c) });
    this.done = pw.transformParquetStream(source, writerProperties(compression)).then((enc) => pipeEncoded(enc, file));
    this.done.catch(() => undefined);
  }

  push(columns: MaskedColumns): void {
    // wasm-bindgen objects hold wasm memory until freed: free the table once its batches are taken.
    const table = pw.Table.fromIPCStream(arrow.tableToIPC(toArrow(columns), 'stream'));
    try {
      for (const rb of table.recordBatches()) this.controller.enqueue(rb);
    } finally {
      table.free();
    }
  }

  async finish(): Promise<void> {
    this.controller.close();
    await this.done;
  }

  async abort(): Promise<void> {
    try {
      this.controller.error(new Error('aborted'));
    } catch {
      // already closed
    }
    await this.done.catch(() => undefined);
    await fs.rm(this.file, { force: true });
  }
}

