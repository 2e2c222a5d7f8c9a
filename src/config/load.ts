// Loads config.yaml (validated with zod) and .env; resolves every path against the config's folder.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { assertRawPathsOutsideRelease, warnIfEnvReadable } from './guards.js';
import { configSchema, type ConfigFile } from './schema.js';
import { zip3Table, type Zip3Table } from './zip3.js';

export { ConfigError };

export interface Paths {
  root: string;
  incoming: string;
  quarantine: string;
  maskedOut: string;
  logs: string;
  syntheaStream: string;
  archive: string;
  /** Private state (file names, times): never under masked_out. */
  state: string;
  sqlite: string;
  /** paths.state/private.sqlite: the SQLite store's private bookkeeping. */
  privateSqlite: string;
  /** paths.state/vault.sqlite: surrogate patient keys (deid.key_mode: surrogate). Delete it for new tokens. */
  vault: string;
  /** masked_out/attestations: one signed Safe Harbor attestation per batch. */
  attestations: string;
  parts: string;
  compactParquet: string;
  /** incoming/.medetl.lock: one watcher per incoming folder. */
  lock: string;
  /** masked_out/.medetl.lock: one writer per output folder (the SQLite store and its Parquet parts). */
  outputLock: string;
}

export interface Config extends Omit<ConfigFile, 'zip3_restricted'> {
  /** The ZIP3 table deid.zip3_table names (config/zip3.ts). */
  zip3: Zip3Table;
  /** The folder holding .env (the project root). */
  envDir: string;
  /** Absolute paths, resolved against the folder that holds config.yaml. */
  resolved: Paths;
  configFile: string | null;
  /** Variables from .env merged under the process environment (process env wins). */
  env: Record<string, string | undefined>;
}

function describeValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v));
}

function valueAt(obj: unknown, p: readonly PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** One line per problem: `outliers.method must be "iqr" or "mad", got "iqq"`. */
export function formatIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.map(String).join('.') || '(top level)';
      const got = valueAt(input, issue.path);
      if (issue.code === 'invalid_value' && 'values' in issue) {
        const allowed = (issue.values as unknown[]).map(describeValue);
        const list = allowed.length === 2 ? allowed.join(' or ') : `one of ${allowed.join(', ')}`;
        return `${where} must be ${list}, got ${describeValue(got)}`;
      }
      if (issue.code === 'unrecognized_keys') {
        const keys = (issue as { keys: string[] }).keys;
        return `${where}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
      }
      return `${where}: ${issue.message}${got === undefined ? '' : `, got ${describeValue(got)}`}`;
    })
    .join('\n');
}

export function parseConfig(input: unknown, root: string, configFile: string | null, env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new ConfigError(`${configFile ?? 'config'} is invalid:\n${formatIssues(result.error, input ?? {})}`);
  }
  const c = result.data;
  const abs = (p: string) => path.resolve(root, p);
  const maskedOut = abs(c.paths.masked_out);
  const resolved: Paths = {
    root,
    incoming: abs(c.paths.incoming),
    quarantine: abs(c.paths.quarantine),
    maskedOut,
    logs: abs(c.paths.logs),
    syntheaStream: abs(c.paths.synthea_stream),
    archive: abs(c.paths.archive),
    state: abs(c.paths.state),
    sqlite: path.join(maskedOut, c.sinks.sqlite_file),
    privateSqlite: path.join(abs(c.paths.state), 'private.sqlite'),
    vault: path.join(abs(c.paths.state), 'vault.sqlite'),
    attestations: path.join(maskedOut, 'attestations'),
    parts: path.join(maskedOut, 'parts'),
    compactParquet: path.join(maskedOut, c.sinks.parquet.compact_file),
    lock: path.join(abs(c.paths.incoming), '.medetl.lock'),
    outputLock: path.join(maskedOut, '.medetl.lock'),
  };
  assertRawPathsOutsideRelease(resolved);
  const { zip3_restricted: oldZip3, ...rest } = c;
  if (oldZip3 !== undefined) {
    throw new ConfigError(
      `${configFile ?? 'config'}: zip3_restricted is no longer read. HIPAA Safe Harbor asks for current Census data, so the ` +
        'ZIP3 tables are built in: remove the zip3_restricted block and set deid.zip3_table to census2020 (the default), ' +
        'census2010, or hhs2000 (the 2000 HHS list, for stores loaded under it).',
    );
  }
  return {
    ...rest,
    zip3: zip3Table(c.deid.zip3_table),
    envDir: root,
    resolved,
    configFile,
    env,
  };
}

/**
 * Load the config. Without --config, ./config.yaml is used when present, else the built-in defaults.
 * `.env` is read from the config's folder; variables already in the environment win.
 */
export function loadConfig(configPath?: string, processEnv: NodeJS.ProcessEnv = process.env): Config {
  let file: string | null = null;
  if (configPath) {
    file = path.resolve(configPath);
    if (!existsSync(file)) throw new ConfigError(`config file not found: ${file}`);
  } else if (existsSync(path.resolve('config.yaml'))) {
    file = path.resolve('config.yaml');
  }
  const root = file ? path.dirname(file) : process.cwd();
  let input: unknown = {};
  if (file) {
    try {
      input = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
    }
  }
  const envFile = path.join(root, '.env');
  const fromFile = existsSync(envFile) ? parseDotenv(readFileSync(envFile)) : {};
  if (existsSync(envFile)) warnIfEnvReadable(envFile);
  const env: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) env[k] = v;
  return parseConfig(input, root, file, env);
}
