/**
 * Pure restart arithmetic for supervisors: the intensity window (at most N restarts in a period, as
 * in OTP) and exponential backoff with jitter. No clock and no randomness of its own: callers pass
 * `now` and `random`, so the supervisor's timing is testable to the millisecond.
 */

export interface Intensity {
  /** Restarts allowed within `periodMs`; one more escalates. */
  intensity: number;
  periodMs: number;
}

export interface Backoff {
  minMs: number;
  maxMs: number;
  /** Fraction of the delay drawn at random either way, 0..1: 0.2 gives ±20 %. */
  jitter: number;
}

/** Timestamps of past restarts, oldest first. */
export type RestartWindow = readonly number[];

/** Drops restarts older than the period. */
export function prune(window: RestartWindow, now: number, periodMs: number): RestartWindow {
  return window.filter((t) => now - t < periodMs);
}

export interface RestartDecision {
  window: RestartWindow;
  /** Restarts in the period, this one included. */
  inPeriod: number;
  /** True when this restart would pass the intensity limit: escalate instead. */
  exceeded: boolean;
}

/** Records a restart at `now` and says whether it passes the limit. */
export function recordRestart(window: RestartWindow, now: number, limit: Intensity): RestartDecision {
  const next = [...prune(window, now, limit.periodMs), now];
  return { window: next, inPeriod: next.length, exceeded: next.length > limit.intensity };
}

/**
 * Delay before restart number `attempt` (0 for the first): minMs doubling up to maxMs, then spread by
 * ±jitter so siblings that crashed together do not restart in lockstep. `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.max(0, attempt));
  const spread = base * backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}
