/**
 * The axon's priority step: at most `maxInFlight` requests run their synapse handler at once; the rest
 * wait, highest priority (validator stake) first, then by arrival. A request that waits past its own
 * `timeout` gets nothing (the SDK's priority `TimeoutError`, answered 408). Time comes from the Clock.
 */
import type { Clock } from "../runtime/actor.ts";

type Waiter = { priority: number; seq: number; grant: (release: () => void) => void };

export interface PriorityGate {
  /** Resolves with a release function, or null when `timeoutMs` passed first. */
  acquire(priority: number, timeoutMs: number): Promise<(() => void) | null>;
  readonly inFlight: number;
  readonly waiting: number;
}

export function priorityGate(maxInFlight: number, clock: Clock): PriorityGate {
  let inFlight = 0;
  let seq = 0;
  const waiting: Waiter[] = [];

  const release = () => {
    inFlight--;
    const next = waiting.shift();
    if (next) {
      inFlight++;
      next.grant(once(release));
    }
  };

  return {
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return waiting.length;
    },
    acquire(priority, timeoutMs) {
      if (inFlight < maxInFlight && waiting.length === 0) {
        inFlight++;
        return Promise.resolve(once(release));
      }
      return new Promise((resolve) => {
        const w: Waiter = {
          priority: Number.isFinite(priority) ? priority : 0,
          seq: seq++,
          grant: (r) => {
            clock.clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = clock.setTimeout(() => {
          const i = waiting.indexOf(w);
          if (i >= 0) waiting.splice(i, 1);
          resolve(null);
        }, Math.max(0, timeoutMs));
        // Insert in order: higher priority first, then earlier arrival.
        let i = waiting.findIndex((o) => o.priority < w.priority);
        if (i < 0) i = waiting.length;
        waiting.splice(i, 0, w);
      });
    },
  };
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}
