import assert from "node:assert/strict";
import { overlapS, trainingOf } from "../local/local_ray.ts";
import type { Task } from "../core/task.ts";
import { textTask } from "./fixtures.ts";

function withHistory(id: string, history: [Task["state"], number][]): Task {
  return { ...textTask(id), history: history.map(([state, at_ms]) => ({ state, at_ms })) };
}

Deno.test("trainingOf() takes the last run's interval when a task trained twice", () => {
  const task = withHistory("t-1", [
    ["queued", 0],
    ["training", 1_000],
    ["queued", 2_000],
    ["training", 3_000],
    ["uploading", 7_000],
    ["done", 8_000],
  ]);
  assert.deepEqual(trainingOf(task), { taskId: "t-1", run: 2, startMs: 3_000, endMs: 7_000 });
});

Deno.test("trainingOf() is null when a task never trained or trains still", () => {
  assert.deepEqual(trainingOf(withHistory("t-1", [["queued", 0], ["failed", 1]])), null);
  assert.deepEqual(trainingOf(withHistory("t-1", [["queued", 0], ["training", 1]])), null);
});

Deno.test("overlapS() is positive only when two trainings ran at the same time", () => {
  const at = (startMs: number, endMs: number) => ({ taskId: "t", run: 1, startMs, endMs });
  assert.deepEqual(overlapS(at(0, 10_000), at(4_000, 20_000)), 6);
  assert.deepEqual(overlapS(at(0, 10_000), at(10_000, 20_000)), 0);
  assert.deepEqual(overlapS(at(0, 1_000), at(5_000, 6_000)), -4);
});
