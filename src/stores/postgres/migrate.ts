// Creating the two schemas (writer) or checking they are there and readable (reader). All DDL runs in one
// transaction under an advisory lock: two processes starting at once create it once, and a failure (missing
// rights, a lost connection) leaves nothing half-created.
import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { UserError } from '../../core/errors.js';
import { createTables, ident, releaseDdl } from '../ddl.js';
import type { CommitStep } from '../steps.js';
import { PRIVATE_TABLES, SCHEMA_VERSION } from '../schema.js';
import { describeTarget, type PgTarget } from './connect.js';
import { sqlState, storeError } from './errors.js';
import { SEQUENCES, type PgNames } from './names.js';

export interface StoreIdentity {
  storeId: string;
  schemaVersion: number;
  /** stepsDdlKey() of the commit steps whose tables exist, or null before any. */
  stepsDdl: string | null;
}

/** Whether a table exists, from the catalog (which every role may read, whatever its rights on the schema). */
async function tableExists(c: pg.ClientBase, schema: string, table: string): Promise<boolean> {
  const r = await c.query(
    `SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  return r.rowCount === 1;
}

async function schemaExists(c: pg.ClientBase, schema: string): Promise<boolean> {
  const r = await c.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [schema]);
  return r.rowCount === 1;
}

function rightsError(t: PgTarget, names: PgNames, what: string, role: 'writer' | 'reader'): UserError {
  const s = names.schema;
  const ps = names.privateSchema;
  const u = t.user;
  const fix =
    role === 'reader'
      ? `GRANT USAGE ON SCHEMA ${s} TO ${u}; GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${u} (docs/postgres.md)`
      : what.startsWith('create schemas')
        ? `GRANT CREATE ON DATABASE ${t.database} TO ${u}, or have the owner run CREATE SCHEMA ${s} AUTHORIZATION ${u}; CREATE SCHEMA ${ps} AUTHORIZATION ${u}`
        : `run medetl as the owner of schemas ${s} and ${ps}, or GRANT USAGE, CREATE ON SCHEMA ${s}, ${ps} TO ${u} (docs/postgres.md)`;
  return new UserError(`user ${u} may not ${what} (${describeTarget(t)}): ${fix}`, 'pg_permission_denied');
}

/** The store's identity row, or null when the schema has no meta table yet. */
export async function readIdentity(c: pg.ClientBase, names: PgNames): Promise<StoreIdentity | null> {
  if (!(await tableExists(c, names.schema, 'meta'))) return null;
  const r = await c.query<{ name: string; value: string }>(`SELECT name, value FROM ${names.t('meta')} WHERE name IN ('schema_version', 'store_id', 'steps_ddl')`);
  const m = new Map(r.rows.map((x) => [x.name, x.value]));
  if (!m.has('store_id') || !m.has('schema_version')) return null;
  return { storeId: m.get('store_id')!, schemaVersion: Number(m.get('schema_version')), stepsDdl: m.get('steps_ddl') ?? null };
}

function checkVersion(id: StoreIdentity, names: PgNames): void {
  if (id.schemaVersion !== SCHEMA_VERSION) {
    throw new UserError(
      `PostgreSQL schema ${names.schema} is at schema version ${id.schemaVersion}, this medetl writes version ${SCHEMA_VERSION}: ` +
        (id.schemaVersion > SCHEMA_VERSION ? 'upgrade medetl' : `use a new schema (postgres.schema in config.yaml)`),
      'pg_schema_version',
    );
  }
}

/** The DDL of a new store, in order: schemas, tables, indexes, the view, sequences, the identity rows. */
export function storeDdl(names: PgNames, missingSchemas: readonly string[]): string[] {
  return [
    ...missingSchemas.map((s) => `CREATE SCHEMA IF NOT EXISTS "${s}"`),
    ...releaseDdl({ dialect: 'postgres', schema: names.schema }),
    ...createTables(PRIVATE_TABLES, { dialect: 'postgres', schema: names.privateSchema }),
    `CREATE SEQUENCE IF NOT EXISTS ${names.t(SEQUENCES.batchRef)} AS integer`,
    `CREATE SEQUENCE IF NOT EXISTS ${names.t(SEQUENCES.patientRef)} AS integer`,
    `CREATE SEQUENCE IF NOT EXISTS ${names.t(SEQUENCES.outbox)} AS bigint`,
  ];
}

/** A writer on a store made by someone else needs to write every table and use the sequences: checked at start. */
async function checkWriteRights(c: pg.ClientBase, names: PgNames, t: PgTarget): Promise<void> {
  const r = await c.query<{ nspname: string; relname: string }>(
    `SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname IN ($1, $2) AND c.relkind IN ('r', 'S')
        AND NOT (has_schema_privilege(n.oid, 'USAGE') AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'USAGE')
                 ELSE has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE') END)
      ORDER BY 1, 2 LIMIT 1`,
    [names.schema, names.privateSchema],
  );
  if (r.rows.length) throw rightsError(t, names, `write to ${r.rows[0].nspname}.${r.rows[0].relname}`, 'writer');
}

/** Names the commit steps' DDL: a writer runs it again (idempotently) only when it changed. */
export function stepsDdlKey(steps: readonly CommitStep[]): string {
  const ddl = steps.map((st) => [st.name, st.ddl('postgres'), st.privateDdl?.('postgres') ?? []]);
  return createHash('sha256').update(JSON.stringify(ddl)).digest('hex').slice(0, 16);
}

/**
 * Writer: create what is missing (idempotent; safe when two processes start at once), return the identity. The
 * commit steps' tables are created with unqualified names: theirs in the release schema, their private ones in the
 * private schema.
 */
export async function ensureSchema(c: pg.ClientBase, names: PgNames, t: PgTarget, steps: readonly CommitStep[] = []): Promise<StoreIdentity> {
  const step = { what: 'read the store' };
  // A writer without steps (`medetl push`) leaves the steps' tables and their key as they are.
  const stepsKey = steps.length ? stepsDdlKey(steps) : null;
  try {
    const existing = await readIdentity(c, names);
    if (existing) checkVersion(existing, names);
    if (existing && (stepsKey === null || existing.stepsDdl === stepsKey)) {
      step.what = 'write';
      await checkWriteRights(c, names, t);
      return existing;
    }
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [names.lock.ddl]);
      let id = await readIdentity(c, names);
      if (id) checkVersion(id, names);
      if (!id) {
        // CREATE SCHEMA checks the right to create schemas even when the schema exists: create only the missing
        // ones, so a DBA may make the schemas for medetl's user beforehand.
        const missing: string[] = [];
        for (const s of [names.schema, names.privateSchema]) if (!(await schemaExists(c, s))) missing.push(s);
        for (const sql of storeDdl(names, missing)) {
          step.what = sql.startsWith('CREATE SCHEMA')
            ? `create schemas in database ${t.database}`
            : `create tables in schema ${sql.includes(`"${names.privateSchema}".`) ? names.privateSchema : names.schema}`;
          await c.query(sql);
        }
        step.what = `write to schema ${names.schema}`;
        id = { storeId: randomUUID(), schemaVersion: SCHEMA_VERSION, stepsDdl: null };
        await c.query(
          `INSERT INTO ${names.t('meta')} (name, value) VALUES ('schema_version', $1), ('store_id', $2) ON CONFLICT (name) DO NOTHING`,
          [String(id.schemaVersion), id.storeId],
        );
      }
      if (stepsKey !== null && id.stepsDdl !== stepsKey) {
        step.what = `create tables in schema ${names.schema}`;
        await c.query(`SET LOCAL search_path TO ${ident(names.schema)}`);
        for (const st of steps) for (const sql of st.ddl('postgres')) await c.query(sql);
        step.what = `create tables in schema ${names.privateSchema}`;
        await c.query(`SET LOCAL search_path TO ${ident(names.privateSchema)}`);
        for (const st of steps) for (const sql of st.privateDdl?.('postgres') ?? []) await c.query(sql);
        step.what = `write to schema ${names.schema}`;
        await c.query(`INSERT INTO ${names.t('meta')} (name, value) VALUES ('steps_ddl', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [stepsKey]);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    const made = await readIdentity(c, names);
    if (!made) throw new UserError(`PostgreSQL schema ${names.schema} was created but its meta rows cannot be read back`, 'pg_schema_invalid');
    if (existing) {
      step.what = 'write';
      await checkWriteRights(c, names, t);
    }
    return made;
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (sqlState(err) === '42501') {
      const what = step.what === 'read the store' ? `read schema ${names.schema}` : step.what;
      throw rightsError(t, names, what, 'writer');
    }
    throw storeError(err, 'creating the store schema');
  }
}

/** Reader: the schema must exist and be readable; nothing is created. */
export async function checkReadable(c: pg.ClientBase, names: PgNames, t: PgTarget): Promise<StoreIdentity> {
  try {
    const id = await readIdentity(c, names);
    if (!id) {
      throw new UserError(
        `PostgreSQL schema ${names.schema} holds no medetl store in ${describeTarget(t)}: run medetl with store: postgres once (as a writer) to create it, or check postgres.schema`,
        'pg_store_missing',
      );
    }
    checkVersion(id, names);
    // A reader must see the release tables; the private schema is optional (analysts are not granted it).
    await c.query(`SELECT 1 FROM ${names.t('batches')} LIMIT 0`);
    await c.query(`SELECT 1 FROM ${names.t('cleaned_events')} LIMIT 0`);
    return id;
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (sqlState(err) === '42501') throw rightsError(t, names, `read schema ${names.schema}`, 'reader');
    throw storeError(err, 'opening the store for reading');
  }
}
