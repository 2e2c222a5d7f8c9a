// medetl powerbi: write a Power BI Project (PBIP) over one of the stores, or the SQLite DirectQuery connector (.mez).
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../core/errors.js';
import { CONNECTOR_NAME } from '../powerbi/connector.js';
import { buildMez } from '../powerbi/mez.js';
import { buildProject } from '../powerbi/project.js';
import { DEFAULT_ODBC_DRIVER, modeOf, type SourceKind, type SourceOptions } from '../powerbi/sources.js';
import { writeOne, writeTree } from '../powerbi/write.js';
import { action, configFrom, withConfigOption } from './common.js';

interface PowerbiOpts {
  config?: string;
  source?: string;
  connector?: boolean;
  out?: string;
  name: string;
  maskedOut?: string;
  sqlite?: string;
  odbcDriver: string;
  pgServer?: string;
  pgDatabase?: string;
  pgSchema: string;
  refresh: string;
  force?: boolean;
}

const SOURCES: SourceKind[] = ['parquet', 'sqlite', 'postgres'];

/** Absolute as given when it already is, in this machine's convention or Windows' (a project made here for a PC). */
function absolute(p: string): string {
  return path.isAbsolute(p) || /^([A-Za-z]:[\\/]|\\\\)/.test(p) ? p : path.resolve(p);
}

/** Server and database from MEDETL_PG_URL, never its user or password. */
function pgDefaults(url: string | undefined): { server?: string; database?: string } {
  if (!url) return {};
  try {
    const u = new URL(url);
    return { server: u.port ? `${u.hostname}:${u.port}` : u.hostname, database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined };
  } catch {
    return {};
  }
}

export function registerPowerbi(program: Command): void {
  withConfigOption(
    program
      .command('powerbi')
      .summary('write a Power BI project (PBIP) over the store, or the SQLite DirectQuery connector')
      .description(
        'Write a Power BI Project that Power BI Desktop opens: a semantic model (TMDL) with the masked events, the BI ' +
          'tables, relationships and measures, and a five-page report (PBIR). --source parquet: Import from ' +
          'masked_out/cleaned.parquet and masked_out/bi/; sqlite: Import through the SQLite ODBC driver; postgres: ' +
          'DirectQuery through the PostgreSQL connector, with automatic page refresh. --connector writes ' +
          `${CONNECTOR_NAME}.mez instead, a custom connector for DirectQuery over SQLite (see docs/powerbi.md).`,
      )
      .option('--source <kind>', `the store the model reads: ${SOURCES.join(' | ')}`)
      .option('--connector', `write ${CONNECTOR_NAME}.mez (the SQLite DirectQuery connector) instead of a project`)
      .requiredOption('--out <dir>', 'folder to write into')
      .option('--name <name>', 'project name: <name>.pbip, <name>.SemanticModel, <name>.Report', 'medetl')
      .option('--masked-out <dir>', 'parquet: the masked_out folder (default: from the config)')
      .option('--sqlite <file>', 'sqlite: the database file (default: from the config)')
      .option('--odbc-driver <name>', 'sqlite and --connector: the ODBC driver name', DEFAULT_ODBC_DRIVER)
      .option('--pg-server <host[:port]>', 'postgres: server (default: from MEDETL_PG_URL, else localhost)')
      .option('--pg-database <name>', 'postgres: database (default: from MEDETL_PG_URL, else medetl)')
      .option('--pg-schema <name>', 'postgres: schema', 'medetl')
      .option('--refresh <seconds>', 'postgres: automatic page refresh interval', '5')
      .option('--force', 'replace what a previous run wrote'),
  ).action(
    action(async (opts: PowerbiOpts) => {
      const out = path.resolve(opts.out ?? '.');
      if (opts.connector) {
        if (opts.source) throw new UserError('--connector and --source are separate runs: pass one of them', 'usage');
        const file = path.join(out, `${CONNECTOR_NAME}.mez`);
        await writeOne(file, buildMez({ driver: opts.odbcDriver }), opts.force === true);
        process.stdout.write(`wrote ${file}\ncopy it to [Documents]\\Power BI Desktop\\Custom Connectors (see docs/powerbi.md)\n`);
        return;
      }
      if (!opts.source || !SOURCES.includes(opts.source as SourceKind)) {
        throw new UserError(`--source must be one of ${SOURCES.join(', ')} (or pass --connector)`, 'usage');
      }
      const refreshSeconds = Number(opts.refresh);
      if (!Number.isInteger(refreshSeconds) || refreshSeconds < 1) throw new UserError('--refresh must be a whole number of seconds, 1 or more', 'usage');
      const kind = opts.source as SourceKind;
      const config = configFrom(opts);
      const pg = pgDefaults(config.env.MEDETL_PG_URL);
      const source: SourceOptions = {
        kind,
        maskedOut: absolute(opts.maskedOut ?? config.resolved.maskedOut),
        sqliteFile: absolute(opts.sqlite ?? config.resolved.sqlite),
        odbcDriver: opts.odbcDriver,
        pgServer: opts.pgServer ?? pg.server ?? 'localhost',
        pgDatabase: opts.pgDatabase ?? pg.database ?? 'medetl',
        pgSchema: opts.pgSchema,
      };
      let project;
      try {
        project = buildProject({ name: opts.name, source, refreshSeconds });
      } catch (err) {
        throw new UserError((err as Error).message, 'usage');
      }
      const written = await writeTree(out, project.files, opts.force === true);
      const mode = modeOf(kind) === 'directQuery' ? `DirectQuery, page refresh every ${refreshSeconds} s` : 'Import';
      process.stdout.write(
        `wrote ${written.filter((p) => !path.basename(p).startsWith('.')).join(', ')} (${kind}, ${mode}: ${project.model.tables.length} tables, ${project.pages.length} pages)\n` +
          `open ${path.join(out, `${opts.name}.pbip`)} in Power BI Desktop (see docs/powerbi.md)\n`,
      );
    }),
  );
}
