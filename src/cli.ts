#!/usr/bin/env node
// medetl command line: one small file per command in commands/.
import { Command } from 'commander';
import { registerInit } from './commands/init.js';
import { registerGenerate } from './commands/generate.js';
import { registerMap } from './commands/map.js';
import { registerReplay } from './commands/replay.js';
import { registerWatch } from './commands/watch.js';
import { registerWorker } from './commands/worker.js';
import { registerProcess } from './commands/process.js';
import { registerVerify } from './commands/verify.js';
import { registerCompact } from './commands/compact.js';
import { registerStatus } from './commands/status.js';
import { registerScore } from './commands/score.js';
import { registerDemo } from './commands/demo.js';
import { registerPush } from './commands/push.js';
import { registerPowerbi } from './commands/powerbi.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerAudit } from './commands/audit.js';

const program = new Command();
program
  .name('medetl')
  .description(
    'Local-first ETL for healthcare vitals: Synthea feed -> schema -> clean -> QC -> HIPAA Safe Harbor ' +
      'de-identification -> a store (SQLite embedded, or PostgreSQL) + Parquet parts. Only masked data leaves the pipeline.',
  )
  // Usage errors (unknown command or option, missing argument) exit 2, as documented; help exits 0.
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2);
  })
  .version('0.1.0')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Exit codes: 0 ok; 1 unexpected error; 2 bad usage, config or key; 3 a file was quarantined;
4 a file failed (I/O); 5 verify found a mismatch; 6 audit found a problem.

Start here:  medetl demo        (init, generate, watch until drained, summary)
Daemon:      medetl watch       and in another terminal   medetl generate --every 20s
Scale-out:   medetl watch --publish   and on each machine   medetl worker   (NATS + store: postgres; docs/scale-out.md)`,
  );

registerInit(program);
registerGenerate(program);
registerMap(program);
registerWatch(program);
registerWorker(program);
registerReplay(program);
registerProcess(program);
registerVerify(program);
registerCompact(program);
registerStatus(program);
registerScore(program);
registerDemo(program);
registerPush(program);
registerPowerbi(program);
registerDashboard(program);
registerAudit(program);

await program.parseAsync(process.argv);
