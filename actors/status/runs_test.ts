import assert from "node:assert/strict";
import type { GpuReport } from "../protocol.ts";
import { addPoint, MAX_POINTS, RunTracker } from "./runs.ts";

const progress = (taskId: string, step: number, time: number, total = 100, eta = 0): GpuReport => ({
  kind: "event",
  taskId,
  event: {
    type: "progress",
    time,
    step,
    total,
    loss: 1 / step,
    lr: 1e-4,
    samples_per_s: 1,
    tokens_per_s: null,
    eta_s: eta,
    gpu_mem_mb: null,
  },
});

Deno.test("RunTracker.report() follows step, rate, ETA and loss from the trainer's progress", () => {
  const runs = new RunTracker(() => 5_000);
  runs.report({ kind: "spawned", taskId: "t", pid: 1 });
  runs.report({
    kind: "event",
    taskId: "t",
    event: {
      type: "started",
      time: 0,
      task_id: "t",
      kind: "text",
      device: "cpu",
      precision: "fp32",
      total_steps: 100,
      start_step: 0,
      train_samples: 10,
      eval_samples: 2,
      trainable_params: 5,
    },
  });
  runs.report(progress("t", 10, 1));
  runs.report(progress("t", 20, 2)); // 10 steps per second, no ETA from the trainer
  const run = runs.get("t")!;
  assert.equal(run.startedMs, 5_000);
  assert.deepEqual([run.step, run.total, run.rate, run.loss], [20, 100, 10, 1 / 20]);
  assert.equal(run.etaS, 8);
  runs.report(progress("t", 30, 3, 100, 42)); // the trainer's own ETA wins
  assert.equal(runs.get("t")!.etaS, 42);
  assert.deepEqual(runs.get("t")!.points.map((p) => p[0]), [10, 20, 30]);
  runs.report({ kind: "ended", taskId: "t", outcome: { ok: false, code: "cancelled", message: "x" } });
  assert.equal(runs.get("t"), undefined);
});

Deno.test("addPoint() keeps at most MAX_POINTS points, oldest first and the newest last, on a long run", () => {
  const run = { points: [] as [number, number][], stride: 1 };
  for (let step = 1; step <= 100_000; step++) addPoint(run, step, 1 / step);
  assert.ok(run.points.length <= MAX_POINTS && run.points.length > MAX_POINTS / 4, String(run.points.length));
  const steps = run.points.map((p) => p[0]);
  assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
  assert.ok(100_000 - steps.at(-1)! < run.stride, "the curve reaches the latest steps");
});

Deno.test("addPoint() restarts the curve from a checkpoint when a resumed run replays steps", () => {
  const run = { points: [] as [number, number][], stride: 1 };
  for (const step of [1, 2, 3, 4, 5, 3, 4]) addPoint(run, step, step);
  assert.deepEqual(run.points.map((p) => p[0]), [1, 2, 3, 4]);
});

Deno.test("RunTracker.retain() forgets runs whose end it never heard", () => {
  const runs = new RunTracker();
  runs.report(progress("a", 1, 1));
  runs.report(progress("b", 1, 1));
  runs.retain(new Set(["b"]));
  assert.deepEqual([runs.get("a"), runs.size], [undefined, 1]);
});
