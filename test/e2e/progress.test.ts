// Progress bars as a person sees them: the built CLI in a real pseudo-terminal (util-linux `script`), and the same
// commands with stdout piped or under --json / --quiet, where no bar character may appear.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, cleanEnv, EVENTS_HEADER, makeProject, type Project } from '../helpers/project.js';

const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

/** ~200k rows (~22 MB): long enough for a bar (it shows from 300 ms into a batch). */
function bigEvents(rows: number): string {
  const parts: string[] = [EVENTS_HEADER];
  const start = Date.UTC(2021, 0, 1);
  for (let i = 0; i < rows; i++) {
    const p = i % 4000;
    const ts = new Date(start + i * 60_000).toISOString().replace('.000', '');
    parts.push(`pt-${p}-xxxxxxxxxxxxxxxx,Given${p},Family${p},19${50 + (p % 40)}-0${1 + (p % 9)}-1${p % 9},0${2100 + (p % 50)},${ts},${100 + (i % 50)}.5,${60 + (i % 30)}.5,${55 + (i % 50)}.5`);
  }
  return `${parts.join('\n')}\n`;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A shell command line run in a pseudo-terminal; what the terminal showed (stdout and stderr together). Async: a
 * blocking spawnSync of a minute would starve the test worker's own messages to vitest.
 */
function inTerminal(p: Project, command: string): Promise<{ status: number | null; screen: string }> {
  const child = spawn(SCRIPT!, ['-qfec', command, '/dev/null'], {
    cwd: p.dir,
    env: { ...cleanEnv(), TERM: 'xterm', COLUMNS: '160', LINES: '40' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (screen += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (screen += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, screen });
    }),
  );
}

const medetl = (args: string) => `${shq(process.execPath)} ${shq(CLI)} ${args}`;
// What a bar leaves on a screen: the ETA text, a percent, cursor hiding, carriage returns / line clears.
const BAR = /ETA|\d+%|\x1b\[\?25l|\x1b\[2K|\r(?!\n)/;

describe.skipIf(!SCRIPT)('progress bars on a terminal', () => {
  it('process shows a bar (percent, bytes, rows, rate, ETA) on a terminal, none when piped, under --json or --quiet', { timeout: 300_000 }, async () => {
    const p = makeProject();
    writeFileSync(p.file('events_1.csv'), bigEvents(200_000));
    writeFileSync(p.file('events_2.csv'), bigEvents(200_000).replace(/pt-/g, 'qt-'));

    const tty = await inTerminal(p, medetl('process events_1.csv'));
    expect(tty.status).toBe(0);
    expect(tty.screen).toMatch(/events_1\.csv \[[= ]+\] \d+% \| [\d.]+ MB\/[\d.]+ MB {2}[\d,]+ rows \| [\d,]+ rows\/s \| ETA \d+s/);
    expect(tty.screen).toMatch(/loaded events_1\.csv: in 200000, loaded 200000/);

    // stdout piped (a script): no bar, even though stderr is still the terminal
    const piped = await inTerminal(p, `${medetl('process events_2.csv')} | cat`);
    expect(piped.status).toBe(0);
    expect(piped.screen).toMatch(/loaded events_2\.csv: in 200000/);
    expect(piped.screen.replace(/\r\n/g, '\n')).not.toMatch(BAR);

    // --json / --quiet on the terminal: the whole file is read again (then skipped as already loaded), no bar
    const json = await inTerminal(p, medetl('process --json events_1.csv'));
    expect(json.status).toBe(0);
    const lines = json.screen.replace(/\r\n/g, '\n').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ status: 'skipped_duplicate', rowsIn: 0 });
    expect(json.screen.replace(/\r\n/g, '\n')).not.toMatch(BAR);

    const quiet = await inTerminal(p, medetl('process --quiet events_2.csv'));
    expect(quiet.status).toBe(0);
    expect(quiet.screen.replace(/\r\n/g, '\n')).toBe('');

    // compact: a bar over the parts (rows for the rate); piped: the same lines, no bar
    const c = await inTerminal(p, medetl('compact'));
    expect(c.status).toBe(0);
    expect(c.screen).toMatch(/compact \[[= ]+\] \d+% \| \d+\/\d+ parts {2}[\d,]+ rows \| [\d,]+ rows\/s \| ETA/);
    expect(c.screen).toMatch(/wrote masked_out\/cleaned\.parquet: 400000 rows from 2 parts/);
    const cp = await inTerminal(p, `${medetl('compact')} | cat`);
    expect(cp.status).toBe(0);
    expect(cp.screen.replace(/\r\n/g, '\n')).not.toMatch(BAR);
  });

  it('generate shows a bar over the batches on a terminal, none when piped', { timeout: 120_000 }, async () => {
    const p = makeProject();
    const tty = await inTerminal(p, medetl('generate --batches 3 --patients 3 --seed 5'));
    expect(tty.status).toBe(0);
    expect(tty.screen).toMatch(/generate \[[= ]+\] \d+% \| [0-3]\/3 batches/);
    expect(tty.screen.match(/batch \d\/3 \(/g)).toHaveLength(3);
    const piped = await inTerminal(p, `${medetl('generate --batches 2 --patients 3')} | cat`);
    expect(piped.status).toBe(0);
    expect(piped.screen.match(/batch \d\/2 \(/g)).toHaveLength(2);
    expect(piped.screen.replace(/\r\n/g, '\n')).not.toMatch(BAR);
  });
});
