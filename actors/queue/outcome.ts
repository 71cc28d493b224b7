/**
 * What the queue does with a finished run, decided purely from the task record and the trainer's
 * outcome: a bad dataset, model or config fails at once (retrying cannot help); a crash, OOM or
 * time-out is retried from the checkpoint while attempts remain; a run stopped with the miner goes
 * back to the queue without using up an attempt. The failure reason keeps the trainer's message.
 */
import type { Task } from "../../core/task.ts";
import type { TrainerErrorCode } from "../../core/training.ts";
import type { DoneEvent, TrainerOutcome } from "../../core/training.ts";

export type AfterRun =
  | { kind: "trained"; done: DoneEvent }
  | { kind: "retry"; reason: string }
  | { kind: "requeue" }
  | { kind: "fail"; reason: string };

const FINAL: ReadonlySet<TrainerErrorCode | "timeout" | "crashed"> = new Set([
  "dataset_invalid",
  "model_not_found",
  "config_invalid",
  "quality_failed",
]);

export function afterRun(task: Task, outcome: TrainerOutcome, maxAttempts: number): AfterRun {
  if (outcome.ok) {
    const q = outcome.done.quality;
    if (q.passed) return { kind: "trained", done: outcome.done };
    return { kind: "fail", reason: `Training failed (quality_failed): ${q.detail}` };
  }
  if (outcome.code === "cancelled") return { kind: "requeue" };
  if (FINAL.has(outcome.code)) {
    return { kind: "fail", reason: `Training failed (${outcome.code}): ${outcome.message}` };
  }
  if (task.attempts < maxAttempts) {
    return {
      kind: "retry",
      reason: `attempt ${task.attempts} of ${maxAttempts} failed (${outcome.code}): ${outcome.message}`,
    };
  }
  const times = task.attempts === 1 ? "1 attempt" : `${task.attempts} attempts`;
  return { kind: "fail", reason: `Training failed after ${times} (${outcome.code}): ${outcome.message}` };
}
