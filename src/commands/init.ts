// medetl init: runtime folders and a .env with a fresh key. Never overwrites an existing key.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/load.js';
import { KEY_VARIABLE, newKeyHex, parseKey } from '../config/key.js';
import { ensureDir } from '../core/fsx.js';
import { action, configFrom, withConfigOption } from './common.js';

export interface InitResult {
  createdDirs: string[];
  envFile: string;
  keyCreated: boolean;
  keyId: string;
}

export function initProject(config: Config): InitResult {
  const p = config.resolved;
  const createdDirs: string[] = [];
  for (const dir of [p.incoming, p.quarantine, p.maskedOut, p.parts, p.logs, p.syntheaStream, p.archive, p.state]) {
    if (!existsSync(dir)) createdDirs.push(dir);
    ensureDir(dir);
  }
  const envFile = path.join(p.root, '.env');
  const existing = existsSync(envFile) ? readFileSync(envFile, 'utf8') : '';
  const line = existing.split(/\r?\n/).find((l) => l.trim().startsWith(`${KEY_VARIABLE}=`));
  const fromEnv = config.env[KEY_VARIABLE];
  let keyCreated = false;
  let keyValue = fromEnv;
  if (!line && !fromEnv) {
    keyValue = newKeyHex();
    const sep = existing === '' || existing.endsWith('\n') ? '' : '\n';
    writeFileSync(envFile, `${existing}${sep}# Secret for patient_key (HMAC-SHA256). Keep it out of git and backups you share.\n${KEY_VARIABLE}=${keyValue}\n`, {
      mode: 0o600,
    });
    keyCreated = true;
  } else if (line && !fromEnv) {
    keyValue = line.slice(line.indexOf('=') + 1).trim();
  }
  if (process.platform !== 'win32' && existsSync(envFile)) chmodSync(envFile, 0o600);
  const key = parseKey(keyValue);
  config.env[KEY_VARIABLE] = keyValue;
  return { createdDirs, envFile, keyCreated, keyId: key.id };
}

export function registerInit(program: Command): void {
  withConfigOption(
    program
      .command('init')
      .summary('create the folders and a .env with a fresh MEDETL_HMAC_KEY')
      .description('create the runtime folders and a .env holding a fresh random 256-bit MEDETL_HMAC_KEY (never overwrites one)'),
  ).action(
    action((opts: { config?: string }) => {
      const config = configFrom(opts);
      const r = initProject(config);
      for (const d of r.createdDirs) process.stdout.write(`created ${path.relative(process.cwd(), d) || d}\n`);
      process.stdout.write(
        r.keyCreated
          ? `wrote ${r.envFile} with a new ${KEY_VARIABLE} (key id ${r.keyId})\n`
          : `${KEY_VARIABLE} already set (key id ${r.keyId}); left as is\n`,
      );
    }),
  );
}
