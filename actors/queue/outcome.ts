/**
 * What the queue does with a finished run, decided purely from the task record and the trainer's
 * outcome: a bad dataset, model or config fails at once (retrying cannot help); a crash, OOM or
 * time-out is retried from the checkpoint while attempts remain; a run stopped with the miner goes
 * back to the queue without using up an attempt, and so does one a miner crash cut short (bounded
 * by `miner.max_interruptions` instead, so a task that crashes the miner cannot loop forever).
 *
 * Two texts per failure: `reason` goes into the task record, which TaskStatus shows the validator,
 * so it is a fixed phrase (the error code, the attempt count, the quality numbers) and never the
 * trainer's message, whose stderr tail, paths and library errors describe this machine; `log` keeps
 * all of it for the operator.
 */
import { type Task, transition } from "../../core/task.ts";
import type { TrainerErrorCode } from "../../core/training.ts";
import type { DoneEvent, TrainerOutcome } from "../../core/training.ts";

export type AfterRun =
  | { kind: "trained"; done: DoneEvent }
  | { kind: "retry"; log: string }
  | { kind: "requeue" }
  | { kind: "fail"; reason: string; log: string };

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
    return {
      kind: "fail",
      reason: `Training failed (quality_failed): ${qualityNumbers(q)}`,
      log: `Training failed (quality_failed): ${q.detail}`,
    };
  }
  if (outcome.code === "cancelled") return { kind: "requeue" };
  const what = `(${outcome.code}): ${outcome.message}`;
  if (FINAL.has(outcome.code)) {
    return { kind: "fail", reason: `Training failed (${outcome.code})`, log: `Training failed ${what}` };
  }
  if (task.attempts < maxAttempts) {
    return { kind: "retry", log: `attempt ${task.attempts} of ${maxAttempts} failed ${what}` };
  }
  const times = task.attempts === 1 ? "1 attempt" : `${task.attempts} attempts`;
  return {
    kind: "fail",
    reason: `Training failed after ${times} (${outcome.code})`,
    log: `Training failed after ${times} ${what}`,
  };
}

/**
 * A training the miner's crash cut short (the task was `training` at start and no live GpuActor runs
 * it): back to the queue with its attempt given back, the trainer having done nothing wrong; failed
 * once it has been interrupted more than `maxInterruptions` times.
 */
export function interrupted(task: Task, maxInterruptions: number, nowMs: number): Task {
  const counted = { ...task, interruptions: task.interruptions + 1 };
  if (counted.interruptions > maxInterruptions) {
    const reason = `Training failed after ${counted.interruptions} interruptions (miner_restarted)`;
    return transition(counted, { type: "fail", reason }, nowMs);
  }
  return { ...transition(counted, { type: "requeue" }, nowMs), attempts: Math.max(0, task.attempts - 1) };
}

/**
 * The quality verdict as numbers the miner formats itself; the trainer's free-text `detail` stays in
 * the log. A metric name that is not a plain identifier is not echoed.
 */
function qualityNumbers(q: DoneEvent["quality"]): string {
  const metric = /^[a-z][a-z0-9_]{0,39}$/.test(q.metric) ? q.metric : "metric";
  const num = (v: number | null) => (v === null ? "none" : Number(v.toPrecision(6)).toString());
  return `${metric} ${num(q.adapter)} (base ${num(q.base)}, threshold ${num(q.threshold)})`;
}
