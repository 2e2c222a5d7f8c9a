// The dashboard's one reader loop: every pollMs it asks the ledger for its change token (summary().lastSeq and the
// quarantine count) and the daemon for its state; new batches go into the batch log and out to SSE clients, and a
// change of daemon state, quarantine count or ledger health goes out as a `state` event.
import type { LedgerReader } from '../stores/ledger.js';
import type { BatchLog } from './batch-log.js';
import type { DaemonState, DaemonStateFn } from './daemon-state.js';
import type { DashboardLog } from './log.js';

export interface LiveState {
  daemon: DaemonState;
  lastSeq: number;
  quarantined: number;
  /** 'unreadable' while the ledger cannot be read (the page says so instead of freezing). */
  ledger: 'ok' | 'unreadable';
  /** When the ledger was last read successfully, ms. */
  checkedAtMs: number | null;
}

export interface LiveListener {
  batches(): void;
  state(): void;
  rewind(to: number): void;
}

export class LivePoll {
  readonly state: LiveState = { daemon: { running: false }, lastSeq: 0, quarantined: 0, ledger: 'ok', checkedAtMs: null };
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private listener: LiveListener | null = null;
  private failures = 0;

  constructor(
    private readonly ledger: LedgerReader,
    private readonly daemonState: DaemonStateFn,
    private readonly batchLog: BatchLog,
    private readonly log: DashboardLog,
    private readonly pollMs: number,
  ) {}

  listen(l: LiveListener): void {
    this.listener = l;
  }

  /** One poll now (also the first one, before the server listens). */
  tick(): Promise<void> {
    this.running = this.running.then(() => this.once());
    return this.running;
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.pollMs);
      });
    };
    this.timer = setTimeout(loop, this.pollMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private async once(): Promise<void> {
    const before = {
      running: this.state.daemon.running, since: this.state.daemon.since, q: this.state.quarantined, ledger: this.state.ledger,
      seq: this.batchLog.lastSeq,
    };
    try {
      this.state.daemon = await this.daemonState();
    } catch {
      this.state.daemon = { running: false };
    }
    try {
      const s = await this.ledger.summary();
      const q = Object.values(s.quarantinedByReason).reduce((a, b) => a + b, 0);
      if (s.lastSeq < this.batchLog.lastSeq) {
        this.log.warn({ event: 'dashboard_ledger_rewound', last_seq: s.lastSeq, had: this.batchLog.lastSeq }, 'the ledger has fewer batches than before: reloading');
        this.batchLog.reset();
        before.seq = -1; // whatever it grows to now is news
        this.listener?.rewind(s.lastSeq);
      }
      if (s.lastSeq > this.batchLog.lastSeq) await this.batchLog.grow(this.ledger);
      this.state.lastSeq = this.batchLog.lastSeq;
      this.state.quarantined = q;
      this.state.ledger = 'ok';
      this.state.checkedAtMs = Date.now();
      if (this.failures > 0) this.log.info({ event: 'dashboard_ledger_readable' }, 'ledger readable again');
      this.failures = 0;
    } catch (err) {
      if (this.failures++ === 0) {
        this.log.warn({ event: 'dashboard_ledger_unreadable', code: (err as NodeJS.ErrnoException).code ?? 'error' }, 'cannot read the ledger; retrying');
      }
      this.state.ledger = 'unreadable';
    }
    if (this.batchLog.lastSeq !== before.seq) this.listener?.batches();
    const d = this.state.daemon;
    const changed = before.running !== d.running || before.since !== d.since || before.q !== this.state.quarantined || before.ledger !== this.state.ledger;
    if (changed || before.seq === -1) {
      this.listener?.state();
    }
  }
}
