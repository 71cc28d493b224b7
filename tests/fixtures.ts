/** Builders for valid domain objects, so each test states only what it cares about. */
import { newTask, type Task, TaskRequest } from "../core/task.ts";

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
