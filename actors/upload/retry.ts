/**
 * Retries for Hub calls. `@huggingface/hub` never retries, so each step runs under `withRetry`: 408,
 * 409 (a conflicting operation), 412 (a stale parent), 429 and 5xx, and network errors, back off
 * exponentially (the policy of Python's `http_backoff`), honouring Retry-After and the RateLimit reset.
 * 401, 403 and other 4xx fail at once: retrying a bad token or a missing permission only burns quota.
 * Clock and random are injected so tests drive the delays.
 */
import { HubApiError } from "@huggingface/hub";
import type { Clock } from "../runtime/actor.ts";
import { type Backoff, backoffDelay } from "../runtime/intensity.ts";

export type RetryPolicy = Backoff & {
  /** Tries in all, the first included. */
  attempts: number;
  /** A server-given wait above this is capped, so one answer cannot park the actor for hours. */
  maxWaitMs: number;
};

/** Five retries from 1 s doubling to 8 s, as `huggingface_hub`'s `http_backoff`. */
export const DEFAULT_RETRY: RetryPolicy = {
  minMs: 1_000,
  maxMs: 8_000,
  jitter: 0.2,
  attempts: 6,
  maxWaitMs: 600_000,
};

/** Statuses worth another try: timeouts, conflicts of the moment, rate limits, server errors. */
export const RETRYABLE = new Set([408, 409, 412, 429, 500, 502, 503, 504]);

export type RetryNotice = {
  action: string;
  attempt: number;
  delayMs: number;
  status: number | null;
  error: string;
};

type Fetch = typeof globalThis.fetch;

export type RetryDeps = {
  fetch: Fetch;
  clock: Clock;
  random: () => number;
  policy: RetryPolicy;
  /** Called just before each wait (logging, metrics, and tests that tick a fake clock). */
  onRetry?: (notice: RetryNotice) => void;
};

/** What a failed attempt amounted to. */
export type Failure = { kind: "retry" | "fatal"; status: number | null; error: unknown };

/** A wait the server asked for, from Retry-After (seconds or a date) or an exhausted RateLimit's `t`. */
export function serverWaitMs(headers: Headers, nowMs: number): number | null {
  const after = headers.get("retry-after");
  if (after !== null) {
    if (/^\d+(\.\d+)?$/.test(after.trim())) return Math.round(Number(after) * 1000);
    const at = Date.parse(after);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  // `RateLimit: "api";r=0;t=42`: nothing remains until the window resets in t seconds (+1 s, as Python).
  const limit = headers.get("ratelimit")?.match(/;\s*r=(\d+)\s*;\s*t=(\d+)/);
  if (limit && limit[1] === "0") return (Number(limit[2]) + 1) * 1000;
  return null;
}

/** Sorts an error thrown by a client call; `network` is set when a fetch itself rejected. */
export function classify(error: unknown, network: boolean): Failure {
  if (error instanceof HubApiError) {
    return { kind: RETRYABLE.has(error.statusCode) ? "retry" : "fatal", status: error.statusCode, error };
  }
  if ((error as Error)?.name === "AbortError") return { kind: "fatal", status: null, error };
  return { kind: network ? "retry" : "fatal", status: null, error };
}

/** Delay before retry number `attempt` (0-based): the server's wait when given, else exponential backoff. */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
  serverMs: number | null,
) {
  if (serverMs !== null) return Math.min(serverMs, policy.maxWaitMs);
  return backoffDelay(attempt, policy, random);
}

/** Thrown when every attempt failed or one failed for good; `last` is the final classified failure. */
export class RetryError extends Error {
  override name = "RetryError";
  constructor(readonly action: string, readonly attempts: number, readonly last: Failure) {
    const why = last.error instanceof Error ? last.error.message : String(last.error);
    super(`Cannot ${action} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${why}`, {
      cause: last.error,
    });
  }
}

/**
 * Runs `fn` until it succeeds, a failure is fatal, or attempts run out. Each attempt gets a fetch that
 * notes network errors and the last server-requested wait; `fn` must be safe to run again (the upload
 * re-checks the Hub before committing, so a retried commit never lands twice).
 */
export async function withRetry<T>(
  action: string,
  deps: RetryDeps,
  fn: (fetch: Fetch) => Promise<T>,
): Promise<T> {
  const { policy, clock } = deps;
  for (let attempt = 0;; attempt++) {
    const seen = { network: false, waitMs: null as number | null };
    const tracked: Fetch = async (input, init) => {
      try {
        const res = await deps.fetch(input, init);
        if (!res.ok) seen.waitMs = serverWaitMs(res.headers, clock.now());
        return res;
      } catch (e) {
        if ((e as Error)?.name !== "AbortError") seen.network = true;
        throw e;
      }
    };
    try {
      return await fn(tracked);
    } catch (error) {
      const failure = classify(error, seen.network);
      if (failure.kind === "fatal" || attempt + 1 >= policy.attempts) {
        throw new RetryError(action, attempt + 1, failure);
      }
      const delayMs = retryDelayMs(attempt, policy, deps.random, seen.waitMs);
      const message = error instanceof Error ? error.message : String(error);
      deps.onRetry?.({ action, attempt: attempt + 1, delayMs, status: failure.status, error: message });
      await new Promise<void>((resolve) => clock.setTimeout(resolve, delayMs));
    }
  }
}
