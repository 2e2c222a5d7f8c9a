// The store's side of an outbox sink (sinks/outbox.ts): the chunks a batch transaction wrote for one sink, read and
// settled by that sink's sender on a connection of its own. Each store implements it (sqlite/outbox.ts,
// postgres/outbox.ts).

export interface OutboxChunk {
  seq: number;
  batchId: string;
  rows: number;
  payload: string;
}

/** The store's side of one sink's outbox: what the sender reads and settles. */
export interface OutboxQueue {
  pending(): Promise<{ chunks: number; rows: number }>;
  /** The oldest chunk, or undefined when the outbox is empty. */
  next(): Promise<OutboxChunk | undefined>;
  /** Delivered: remove it (and count it as delivered for its batch). */
  delivered(chunk: OutboxChunk): Promise<void>;
  /** A failed attempt, counted on the chunk. */
  attempted(chunk: OutboxChunk): Promise<void>;
  close(): Promise<void>;
}
