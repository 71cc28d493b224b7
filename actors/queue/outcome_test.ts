import assert from "node:assert/strict";
import { transition } from "../../core/task.ts";
import { textTask } from "../../tests/fixtures.ts";
import { doneOutcome } from "../../tests/queue_fake_gpu.ts";
import { afterRun, interrupted } from "./outcome.ts";

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
    reason: "Training failed (quality_failed): eval_loss 1 (base 2, threshold 1.98)",
    log: "Training failed (quality_failed): fake",
  });
});

Deno.test("afterRun() retries crashes while attempts remain, then fails with the code, the message kept for the log", () => {
  const crash = { ok: false as const, code: "oom" as const, message: "Out of GPU memory" };
  assert.equal(afterRun(training(2), crash, 3).kind, "retry");
  assert.deepEqual(afterRun(training(3), crash, 3), {
    kind: "fail",
    reason: "Training failed after 3 attempts (oom)",
    log: "Training failed after 3 attempts (oom): Out of GPU memory",
  });
});

Deno.test("afterRun() fails at once on errors a retry cannot fix and requeues a stopped run", () => {
  const bad = { ok: false as const, code: "model_not_found" as const, message: 'No model "x/y"' };
  assert.deepEqual(afterRun(training(1), bad, 3), {
    kind: "fail",
    reason: "Training failed (model_not_found)",
    log: 'Training failed (model_not_found): No model "x/y"',
  });
  const stopped = { ok: false as const, code: "cancelled" as const, message: "stopped" };
  assert.deepEqual(afterRun(training(3), stopped, 3), { kind: "requeue" });
});

Deno.test("afterRun() gives the record no local path, stderr or hash from the trainer's message", () => {
  const home = "/home/miner/satori/data/outputs/t-1";
  const messages = [
    {
      code: "crashed",
      message: `Trainer exited with code 1 without a result; last stderr lines: File "${home}/x.py"`,
    },
    {
      code: "dataset_invalid",
      message: `Cannot read dataset '${home}/train.jsonl': no such file or directory`,
    },
    {
      code: "checkpoint_invalid",
      message: `Cannot read checkpoint '${home}/step-000004': sha ${"a".repeat(64)}`,
    },
  ] as const;
  for (const { code, message } of messages) {
    const next = afterRun(training(3), { ok: false, code, message }, 3);
    assert.ok(next.kind === "fail", code);
    assert.match(next.reason, /^Training failed( after 3 attempts)? \([a-z_]+\)$/);
    assert.ok(next.log.includes(home), "the log keeps the whole message");
  }
  const odd = doneOutcome(false);
  if (odd.ok) odd.done.quality = { ...odd.done.quality, metric: "/srv/x", detail: `see ${home}` };
  const quality = afterRun(training(1), odd, 3);
  assert.ok(quality.kind === "fail" && !quality.reason.includes("/"), quality.kind);
});

Deno.test("interrupted() requeues a training the miner's crash cut short and gives its attempt back", () => {
  const once = interrupted(training(2), 3, 5);
  assert.deepEqual([once.state, once.attempts, once.interruptions], ["queued", 1, 1]);
  const twice = interrupted(transition(once, { type: "startTraining" }, 6), 3, 7);
  assert.deepEqual([twice.state, twice.attempts, twice.interruptions], ["queued", 1, 2]);
});

Deno.test("interrupted() fails a task interrupted more than max_interruptions times", () => {
  const t = { ...training(1), interruptions: 2 };
  const failed = interrupted(t, 2, 5);
  assert.deepEqual([failed.state, failed.interruptions], ["failed", 3]);
  assert.equal(failed.reason, "Training failed after 3 interruptions (miner_restarted)");
});
