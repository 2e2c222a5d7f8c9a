// medetl replay FILE | --all: send quarantined files back to incoming/ (after fixing a config, a threshold or the
// file). The reason file moves to quarantine/replayed/ so the history stays; a running daemon picks the file up.
import { existsSync, lstatSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import { freeName, moveFile } from '../core/fsx.js';
import { reasonFileFor, REASON_SUFFIX, REJECTS_SUFFIX } from '../sources/quarantine.js';
import { isTempName } from '../sources/folder/scan.js';
import { safeName } from '../ops/safe-name.js';
import { applyNamePolicy } from '../privacy/names.js';
import { KEY_VARIABLE, parseKey } from '../config/key.js';
import { action, configFrom, UserError, withConfigOption } from './common.js';

export interface Replayed {
  /** Where the file was in quarantine/. */
  from: string;
  /** Where it is now in incoming/. */
  to: string;
  /** Where its reason file went (null when it had none). */
  reason: string | null;
}

/** Quarantined data files: everything in quarantine/ but reason and rejects files, temporary names and folders. */
export async function listQuarantined(config: Config): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(config.resolved.quarantine, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isFile() && !e.name.endsWith(REASON_SUFFIX) && !e.name.endsWith(REJECTS_SUFFIX) && !isTempName(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * Move one quarantined file back to incoming/. The reason file goes first, to quarantine/replayed/, so a daemon
 * that quarantines the file again at once writes a fresh reason instead of having it moved away.
 */
export async function replayFile(config: Config, name: string): Promise<Replayed> {
  const q = config.resolved.quarantine;
  const from = path.join(q, name);
  const reasonFile = reasonFileFor(from);
  let reason: string | null = null;
  if (existsSync(reasonFile)) {
    reason = await freeName(path.join(q, 'replayed'), `${name}${REASON_SUFFIX}`);
    await moveFile(reasonFile, reason);
  }
  const to = await freeName(config.resolved.incoming, name);
  await moveFile(from, to);
  return { from, to, reason };
}

/**
 * `FILE` may be a name or a path; it must be a regular file directly inside quarantine/ (not `.`, `..`, a folder such
 * as `replayed`, a symbolic link, or a reason or rejects file): replay moves files, never folders.
 */
export function resolveName(config: Config, file: string): string {
  const q = path.resolve(config.resolved.quarantine);
  const asGiven = path.resolve(file);
  const inQ = path.dirname(asGiven) === q;
  const name = inQ ? path.basename(asGiven) : file;
  const shown = safeName(name);
  if (name === '' || name === '.' || name === '..' || /[\\/]/.test(name) || (!inQ && path.isAbsolute(file))) {
    throw new UserError(`${shown}: name a file directly inside ${q}`);
  }
  if (name.endsWith(REASON_SUFFIX) || name.endsWith(REJECTS_SUFFIX)) {
    throw new UserError(`${shown} describes a file; name the quarantined file itself`);
  }
  let st: import('node:fs').Stats;
  try {
    st = lstatSync(path.join(q, name));
  } catch {
    throw new UserError(`${shown} is not in ${q}`);
  }
  if (!st.isFile()) throw new UserError(`${shown} is not a regular file in ${q} (a folder or a link): replay moves quarantined files only`);
  if (isTempName(name)) throw new UserError(`${shown} is a temporary file`);
  return name;
}

export function registerReplay(program: Command): void {
  withConfigOption(
    program
      .command('replay')
      .summary('move quarantined files back into incoming/ after a fix')
      .summary('move quarantined files back into incoming/ (reasons kept in quarantine/replayed/)')
      .argument('[file]', 'a quarantined file (its name or its path in quarantine/)')
      .option('--all', 'every file in quarantine/')
      .description('move quarantined files back into incoming/ to be processed again; reasons are kept in quarantine/replayed/'),
  ).action(
    action(async (file: string | undefined, opts: { config?: string; all?: boolean }) => {
      if (!file === !opts.all) throw new UserError('name one quarantined FILE, or --all');
      const config = configFrom(opts);
      try {
        applyNamePolicy(config, parseKey(config.env[KEY_VARIABLE]));
      } catch {
        // no usable key: names that are not safe are shown under a per-process key
      }
      const names = opts.all ? await listQuarantined(config) : [resolveName(config, file!)];
      for (const name of names) {
        const r = await replayFile(config, name);
        const rel = (p: string) => path.relative(process.cwd(), p) || p;
        const to = path.join(path.dirname(rel(r.to)), safeName(path.basename(r.to)));
        // The reason file is named after the file: shown under the file's shown name.
        const why = r.reason ? path.join(path.dirname(rel(r.reason)), `${safeName(name)}${REASON_SUFFIX}`) : null;
        process.stdout.write(`replayed ${safeName(name)} -> ${to}${why ? ` (reason kept in ${why})` : ''}\n`);
      }
      if (opts.all && names.length === 0) process.stdout.write(`nothing to replay: ${config.resolved.quarantine} holds no files\n`);
    }),
  );
}
