import assert from "node:assert/strict";
import { transition } from "../../core/task.ts";
import { textTask } from "../../tests/fixtures.ts";
import { doneOutcome } from "../../tests/queue_fake_gpu.ts";
import { afterRun } from "./outcome.ts";

const training = (attempts: number) => {
  let t = ["submitDataset", "datasetValidated", "enqueue"].reduce(
    (acc, type) => transition(acc, { type } as never, 1),
    textTask("t"),
  );
  for (let i = 0; i < attempts; i++) {
    t = transition(t, { type: "startTraining" }, 1);
    if (i < attempts - 1) t = transition(t, { type: "requeue" }, 1);
  }
  return t;
};

Deno.test("afterRun() trains on done with a passed quality check and fails on a failed one", () => {
  assert.equal(afterRun(training(1), doneOutcome(), 3).kind, "trained");
  assert.deepEqual(afterRun(training(1), doneOutcome(false), 3), {
    kind: "fail",
    reason: "Training failed (quality_failed): fake",
  });
});

Deno.test("afterRun() retries crashes while attempts remain, then fails with the trainer's message", () => {
  const crash = { ok: false as const, code: "oom" as const, message: "Out of GPU memory" };
  assert.equal(afterRun(training(2), crash, 3).kind, "retry");
  assert.deepEqual(afterRun(training(3), crash, 3), {
    kind: "fail",
    reason: "Training failed after 3 attempts (oom): Out of GPU memory",
  });
});

Deno.test("afterRun() fails at once on errors a retry cannot fix and requeues a stopped run", () => {
  const bad = { ok: false as const, code: "model_not_found" as const, message: 'No model "x/y"' };
  assert.deepEqual(afterRun(training(1), bad, 3), {
    kind: "fail",
    reason: 'Training failed (model_not_found): No model "x/y"',
  });
  const stopped = { ok: false as const, code: "cancelled" as const, message: "stopped" };
  assert.deepEqual(afterRun(training(3), stopped, 3), { kind: "requeue" });
});
