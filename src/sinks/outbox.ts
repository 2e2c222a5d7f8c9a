// The outbox-sink contract: a destination fed inside the batch transaction (the store writes the chunks with the
// rows, so a batch is queued exactly when it commits) and drained by a sender of its own, beside the pipeline.
// The Power BI push sink (sinks/powerbi.ts) is the one implementation; nothing outside it names Power BI.
import type { MaskedBatch } from '../pipeline/deid.js';
import type { OutboxQueue } from '../stores/outbox.js';

export type { OutboxChunk, OutboxQueue } from '../stores/outbox.js';

/** The sink that runs beside the pipeline once its chunks are queued. */
export interface OutboxSender {
  /** Run until stop(): drain, then wait for new chunks. */
  run(): Promise<void>;
  /** A batch just committed: look at the outbox now. */
  poke(): void;
  /** Send until the outbox is empty (or stop()). */
  drain(): Promise<number>;
  stop(): void;
  close(): Promise<void>;
}

export interface OutboxSink {
  readonly name: string;
  /** The chunks of one batch, computed before the commit and written by the store inside it. */
  chunks(batch: MaskedBatch): { rows: number; payload: string }[];
  sender(queue: OutboxQueue): OutboxSender;
}
