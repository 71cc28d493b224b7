import assert from "node:assert/strict";
import { formatDuration, type ProgressEvent, progressLine, stepRate } from "./progress.ts";

const ev = (step: number, time: number, eta_s = 10): ProgressEvent => ({
  type: "progress",
  time,
  step,
  total: 10,
  loss: 1.23456,
  lr: 0.01,
  samples_per_s: 1,
  tokens_per_s: null,
  eta_s,
  gpu_mem_mb: null,
});

Deno.test("progressLine() gives percent, step/s, ETA and loss", () => {
  assert.equal(
    progressLine("t-1", ev(4, 10, 5), stepRate(ev(2, 8), ev(4, 10, 5))),
    'Task "t-1" 40% (4 of 10 steps), 1.00 step/s, ETA 5 s, loss 1.2346',
  );
  assert.equal(stepRate(null, ev(5, 1, 10)), 0.5, "the first event's rate comes from its ETA");
  assert.equal(stepRate(null, ev(10, 1, 0)), null);
});

Deno.test("formatDuration() reads well from seconds to hours", () => {
  assert.equal(formatDuration(59.4), "59 s");
  assert.equal(formatDuration(125), "2 min 05 s");
  assert.equal(formatDuration(3 * 3600 + 7 * 60), "3 h 07 min");
});
