/**
 * Reconnect delays: exponential backoff with full jitter
 * (delay = random(0, min(cap, base * 2^attempt))), which spreads a crowd of
 * clients that lost the same edge instead of letting them return in waves.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry window, in ms. */
  baseMs: number;
  /** Upper bound of any window, in ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/** The window [0, ceiling) the delay of retry number `attempt` (0-based) is drawn from. */
export function backoffCeiling(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const exp = Math.min(Math.max(attempt, 0), 30); // 2^30 is far past any cap
  return Math.min(opts.maxMs, opts.baseMs * 2 ** exp);
}

export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(attempt, opts));
}
