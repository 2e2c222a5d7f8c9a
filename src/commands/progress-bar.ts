// The progress bar of long commands (`process`, `watch`, `compact`, `generate`): one cli-progress bar on stderr,
// shown only when a person is watching (stdout and stderr both a terminal, not --json / --quiet). Counts, sizes
// and names only: never a row value. One module so every command's bar looks the same and is gated the same way.
import cliProgress from 'cli-progress';

export interface TtyStream extends NodeJS.WritableStream {
  isTTY?: boolean;
  columns?: number;
}

/** Whether a bar may be drawn: both streams are terminals (a pipe or a file on either side means a script). */
export function progressAllowed(out: TtyStream = process.stdout, err: TtyStream = process.stderr): boolean {
  return out.isTTY === true && err.isTTY === true && process.env.TERM !== 'dumb';
}

export interface BarOptions {
  /** What the bar counts, after the numbers: "bytes" is shown as MB, anything else as a plain count. */
  unit: string;
  /** Where the bar goes (default stderr). */
  stream?: TtyStream;
  /** false: a bar that draws nothing (the caller need not branch). */
  enabled?: boolean;
}

export interface ProgressBar {
  /**
   * Start the bar for one piece of work (`label`: a file name or a command, already safe to show), at `done`.
   * Started again with the same label and total after stop() (a line printed in between), it keeps its clock.
   */
  start(label: string, total: number, done?: number, rows?: number): void;
  /** Done so far (in the bar's unit) and, optionally, rows done so far (for the rate). */
  update(done: number, rows?: number): void;
  /** Remove the bar from the screen (before a line is printed, or at the end). */
  stop(): void;
  readonly active: boolean;
}

const MB = 1024 * 1024;

function count(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function amount(unit: string, x: number): string {
  if (unit !== 'bytes') return count(x);
  return x < MB ? `${(x / 1024).toFixed(0)} KB` : `${(x / MB).toFixed(1)} MB`;
}

/** A cli-progress bar with the house format: label, bar, percent, done/total, rows, rows/s, ETA. */
export function createProgressBar(opts: BarOptions): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled !== false;
  let bar: cliProgress.SingleBar | null = null;
  let startedAt = 0;
  let total = 0;
  let lastLabel: string | null = null;
  const payload = (done: number, rows: number | undefined) => {
    const secs = Math.max(0.001, (Date.now() - startedAt) / 1000);
    const perSec = rows !== undefined ? `${count(rows / secs)} rows/s` : `${amount(opts.unit, done / secs)}${opts.unit === 'bytes' ? '' : ` ${opts.unit}`}/s`;
    return {
      done: amount(opts.unit, done),
      of: amount(opts.unit, total),
      unitName: opts.unit === 'bytes' ? '' : ` ${opts.unit}`,
      rows: rows !== undefined ? `  ${count(rows)} rows` : '',
      rate: perSec,
    };
  };
  return {
    get active() {
      return bar !== null;
    },
    start(label, t, done = 0, rows) {
      if (!enabled) return;
      this.stop();
      if (label !== lastLabel || Math.max(0, t) !== total) startedAt = Date.now();
      lastLabel = label;
      total = Math.max(0, t);
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `  {label} [{bar}] {percentage}% | {done}/{of}{unitName}{rows} | {rate} | ETA {eta_formatted}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          stopOnComplete: false,
          linewrap: false,
          etaBuffer: 20,
          fps: 10,
          // cli-progress keeps quiet by itself off a terminal too; the gate above decides first.
          noTTYOutput: false,
          barCompleteChar: '=',
          barIncompleteChar: ' ',
        },
        cliProgress.Presets.legacy,
      );
      bar.start(Math.max(1, total), Math.min(done, Math.max(1, total)), { label, ...payload(done, rows) });
    },
    update(done, rows) {
      if (!bar) return;
      bar.update(Math.min(done, Math.max(1, total)), payload(done, rows));
    },
    stop() {
      if (!bar) return;
      bar.stop();
      bar = null;
    },
  };
}
