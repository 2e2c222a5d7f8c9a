// Qualified names and advisory-lock keys of one PostgreSQL store (a release schema + a private schema).
import { createHash } from 'node:crypto';
import { ident } from '../ddl.js';

export interface PgSchemas {
  /** The release schema (default `medetl`). */
  schema: string;
  /** The private schema (default `medetl_private`). */
  privateSchema: string;
}

export interface PgNames extends PgSchemas {
  /** A release table (or sequence, view), quoted and qualified. */
  t(name: string): string;
  /** A private table, quoted and qualified. */
  p(name: string): string;
  /** A sequence name as nextval() takes it (a text literal). */
  seq(name: string): string;
  lock: {
    /** Held around DDL, so two processes starting at once create the schema once. */
    ddl: string;
    /** Held from the batches insert to COMMIT, so seq is the commit order without gaps. */
    commit: string;
    /** Held for a batch's whole transaction: one loader per content. */
    content(contentKey: string): string;
    /** Held for a batch's whole transaction: stagedFates tells a live writer from a dead one. */
    batch(batchId: string): string;
    /** Held by the one sender of an outbox sink (session-level). */
    outbox(sink: string): string;
  };
}

export const SEQUENCES = { batchRef: 'batch_ref_seq', patientRef: 'patient_ref_seq', outbox: 'outbox_seq' } as const;

/**
 * A signed 64-bit advisory-lock key (as text, for `$1::bigint`): the first 8 bytes of SHA-256 over a namespaced
 * name, so content keys, batch ids and two medetl schemas in one database never share a lock by accident.
 */
export function lockKey(...parts: string[]): string {
  const d = createHash('sha256').update(['medetl', ...parts].join('\0')).digest();
  return d.readBigInt64BE(0).toString();
}

export function pgNames(s: PgSchemas): PgNames {
  const rs = ident(s.schema);
  const ps = ident(s.privateSchema);
  return {
    ...s,
    t: (name) => `${rs}.${ident(name)}`,
    p: (name) => `${ps}.${ident(name)}`,
    seq: (name) => `'${rs}.${ident(name)}'`,
    lock: {
      ddl: lockKey('ddl', s.schema),
      commit: lockKey('commit', s.schema),
      content: (k) => lockKey('content', s.schema, k),
      batch: (id) => lockKey('batch', s.schema, id),
      outbox: (sink) => lockKey('outbox', s.schema, sink),
    },
  };
}
