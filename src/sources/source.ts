// The source contract: where events files come from, and what happens to a raw file after the runner is done with
// it. The folder source (sources/folder/) watches incoming/; the file-list source (sources/files.ts) serves
// `medetl process`; the NATS source (sources/nats/) serves `medetl worker`. The runner (src/runner.ts) never
// moves, deletes or acknowledges anything itself: it tells the delivery how the file ended.

/** Why a file was quarantined: codes, counts and line numbers, never a patient value. */
export interface QuarantineReason {
  code: string;
  message: string;
  lines?: number[];
  columns?: string[];
  metrics?: unknown;
}

export interface Delivery {
  /** The file's base name as it arrived (print it through ops/safe-name.ts, never raw). */
  readonly name: string;
  /** A local path the runner can read. */
  readonly path: string;
  /** When the file arrived (modification time, ms), or null. */
  readonly arrivedAtMs: number | null;
  /** 1 on the first delivery of this file; higher after retryLater() or a redelivery. */
  readonly attempt: number;
  /** Aborts when the batch must roll back now (a forced stop, a lease the source lost). */
  readonly signal: AbortSignal;
  /** Loaded, or found already loaded: archive or delete it (NATS: ack). Returns where it went, if it moved. */
  done(): Promise<string | undefined>;
  /** Bad for good: move it to quarantine/ with its reason (NATS: term). Returns where it went. */
  quarantine(reason: QuarantineReason): Promise<string | undefined>;
  /** The machine failed, not the file: keep it and offer it again after delayMs (NATS: nak with a delay). */
  retryLater(delayMs: number, code: string): Promise<void>;
  /** A long batch is still being worked on (NATS: +WPI, so the message is not redelivered to another worker). */
  keepAlive(): void;
}

export interface Source {
  readonly kind: 'folder' | 'files' | 'nats';
  /** Deliveries, one at a time; the iteration ends when the source is drained or stopped. */
  deliveries(): AsyncIterable<Delivery>;
  /** Stop handing out deliveries (the one in flight still finishes). */
  stop(): void;
  close(): Promise<void>;
}
