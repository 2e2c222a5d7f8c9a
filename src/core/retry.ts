// The one retry helper (exponential backoff with jitter) and the one abortable sleep, for errors that may go away
// (a busy database, a file held open, a webhook that times out). Callers decide what is worth retrying.

export interface RetryOptions {
  /** Total attempts, the first one included (1 = no retry). */
  attempts: number;
  /** Delay before the second attempt; doubles each time (before jitter). */
  baseMs?: number;
  /** Upper bound of one delay. */
  maxMs?: number;
  /** Whether this error is worth another attempt; default: every error is. */
  retryable?: (err: unknown) => boolean;
  /** Called before each wait, with the attempt that just failed (1-based) and the delay chosen. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Abort: the wait ends at once and the last error is thrown (the operation itself is not interrupted). */
  signal?: AbortSignal;
  /** Randomness in [0, 1), for tests. */
  random?: () => number;
}

/**
 * The delay before attempt `attempt + 1`: "equal jitter", half fixed and half random, so retries of many
 * callers spread out but never collapse to zero. `attempt` is 1-based (the attempt that failed).
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** The one sleep: resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function retry<T>(op: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const { attempts, baseMs = 200, maxMs = 10_000, retryable = () => true, onRetry, signal, random } = opts;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (attempt >= attempts || !retryable(err) || signal?.aborted) throw err;
      const delay = backoffDelay(attempt, baseMs, maxMs, random);
      onRetry?.(err, attempt, delay);
      await sleep(delay, signal);
      if (signal?.aborted) throw err;
    }
  }
}
