/**
 * A tiny Web Worker actor for the runtime tests: a counter that can be told to hang or to die of an
 * uncaught error, the two ways a real GPU worker goes wrong. Methods return results, never throw.
 */
import * as Comlink from "comlink";

let count = 0;

const api = {
  increment(by: number): { ok: true; value: number } {
    count += by;
    return { ok: true, value: count };
  },
  /**
   * Throws outside any call, as a crashing native binding would: the parent sees an `error` event. A
   * little later than the reply, though under load the crash may still reach the parent first.
   */
  crashSoon(): { ok: true } {
    setTimeout(() => {
      throw new Error("Counter worker crashed on purpose");
    }, 50);
    return { ok: true };
  },
  /** Never answers, so the caller's timeout must fire. */
  hang(): Promise<{ ok: true }> {
    return new Promise(() => {});
  },
  /** Reports what it would persist on a graceful stop. */
  flush(): { ok: true; persisted: number } {
    return { ok: true, persisted: count };
  },
};

export type CounterApi = typeof api;

Comlink.expose(api);
