/** Builders for valid domain objects, so each test states only what it cares about. */
import { newTask, type Task, TaskRequest } from "../core/task.ts";
import type { DoneEvent } from "../core/training.ts";

export function textRequest(id: string, over: Partial<Record<string, unknown>> = {}): TaskRequest {
  return TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training: { base_model: "tiny-llama", hyperparameters: { max_steps: 4 } },
    ...over,
  });
}

export function textTask(id: string, nowMs = 1_000, over: Partial<Record<string, unknown>> = {}): Task {
  return newTask(textRequest(id, over), "5Validator", nowMs);
}

/** A trainer's `done` whose quality check passed (or failed, with `passed: false`). */
export function doneEvent(passed = true): DoneEvent {
  return {
    type: "done",
    time: 1,
    artifacts: [{ path: "adapter_model.safetensors", sha256: "0".repeat(64), bytes: 7 }],
    metrics: { kind: "text", steps: 4, eval_loss: 1.25 },
    quality: {
      passed,
      metric: "eval_loss",
      base: 1.5,
      adapter: passed ? 1.25 : 1.6,
      threshold: 1.485,
      detail: passed ? "adapter beats base" : "adapter is worse than base",
      samples: [],
    },
  };
}
