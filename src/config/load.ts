// Loads config.yaml (validated with zod) and .env; resolves every path against the config's folder.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { configSchema, type ConfigFile } from './schema.js';
import { DEFAULT_ZIP3_TABLE } from './zip3.js';

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
  parts: string;
  compactParquet: string;
  /** incoming/.medetl.lock: one watcher per incoming folder. */
  lock: string;
  /** masked_out/.medetl.lock: one writer per output folder (the SQLite store and its Parquet parts). */
  outputLock: string;
}

export interface Config extends Omit<ConfigFile, 'zip3_restricted'> {
  zip3_restricted: { version: string; source: string; prefixes: readonly string[] };
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
    parts: path.join(maskedOut, 'parts'),
    compactParquet: path.join(maskedOut, c.sinks.parquet.compact_file),
    lock: path.join(abs(c.paths.incoming), '.medetl.lock'),
    outputLock: path.join(maskedOut, '.medetl.lock'),
  };
  const archiveRel = path.relative(maskedOut, resolved.archive);
  if (!archiveRel.startsWith('..') && !path.isAbsolute(archiveRel)) {
    throw new ConfigError(`paths.archive must not be under paths.masked_out: raw files hold PHI`);
  }
  return {
    ...c,
    zip3_restricted: c.zip3_restricted ?? DEFAULT_ZIP3_TABLE,
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
  const env: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) env[k] = v;
  return parseConfig(input, root, file, env);
}
