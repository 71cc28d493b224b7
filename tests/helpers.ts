/** Test helpers shared across suites: waiting on a condition and a fake clock for actors. */
import FakeTimers from "@sinonjs/fake-timers";
import type { Clock } from "../actors/runtime/actor.ts";

/**
 * Polls `predicate` until it holds (resolves) or `timeoutMs` passes (rejects). For events the test
 * cannot await directly, such as a worker's death; never a fixed sleep.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  { timeoutMs = 2_000, intervalMs = 5, what = "condition" } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface FakeClock {
  /** Pass this to actors, supervisors and asks. */
  clock: Clock;
  /** Advances time, running due timers and the promise jobs between them. */
  tick(ms: number): Promise<void>;
  /** Runs pending promise jobs without advancing time. */
  flush(): Promise<void>;
}

/** A fake clock starting at `startMs`; it never touches the global timers. */
export function fakeClock(startMs = 0): FakeClock {
  const fake = FakeTimers.createClock(startMs);
  const clock: Clock = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (id) => fake.clearTimeout(id as FakeTimers.TimerId),
  };
  return {
    clock,
    tick: async (ms) => void (await fake.tickAsync(ms)),
    flush: async () => void (await fake.tickAsync(0)),
  };
}
