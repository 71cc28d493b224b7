import assert from "node:assert/strict";
import { backoffDelay, recordRestart, type RestartWindow } from "./intensity.ts";

const backoff = { minMs: 200, maxMs: 10_000, jitter: 0.2 };

Deno.test("backoffDelay() doubles from minMs and caps at maxMs", () => {
  const mid = () => 0.5; // no jitter either way
  assert.deepEqual([0, 1, 2, 3, 5, 6, 20].map((a) => backoffDelay(a, backoff, mid)), [
    200,
    400,
    800,
    1_600,
    6_400,
    10_000,
    10_000,
  ]);
});

Deno.test("backoffDelay() spreads by at most the jitter fraction", () => {
  assert.equal(backoffDelay(0, backoff, () => 0), 160);
  assert.equal(backoffDelay(0, backoff, () => 0.999_999), 240);
  assert.equal(backoffDelay(0, { ...backoff, jitter: 0 }, () => 0), 200);
});

Deno.test("recordRestart() exceeds the intensity on the 6th restart in 60 s when intensity is 5", () => {
  const limit = { intensity: 5, periodMs: 60_000 };
  let window: RestartWindow = [];
  for (let i = 0; i < 5; i++) {
    const d = recordRestart(window, i * 10_000, limit);
    assert.equal(d.exceeded, false);
    window = d.window;
  }
  const sixth = recordRestart(window, 59_999, limit);
  assert.equal(sixth.exceeded, true);
  assert.equal(sixth.inPeriod, 6);
});

Deno.test("recordRestart() forgets restarts older than the period", () => {
  const limit = { intensity: 2, periodMs: 1_000 };
  const d = recordRestart([0, 500], 1_200, limit);
  assert.deepEqual(d.window, [500, 1_200]);
  assert.equal(d.exceeded, false);
});
