/**
 * Pure: turns a trained, uploaded task and its TaskResult into what the task center records, or
 * refuses. The quality gate lives here so no path (a call, an outbox drain, a rebuild after a
 * crash) can submit a task that did not pass its quality check. The dedupe key depends only on
 * the task, repo and commit, so every retry and every rebuild of the same result carries the same one.
 */
import { createHash } from "node:crypto";
import type { Task, TaskResult, TaskState } from "../../core/task.ts";
import type { ResultSubmission } from "./task_center_api.ts";

export type BuildResult =
  | { ok: true; submission: ResultSubmission }
  | { ok: false; reason: "invalid_state" | "quality_failed"; message: string };

export function dedupeKey(taskId: string, repoId: string, commitSha: string): string {
  return createHash("sha256").update(`${taskId}\n${repoId}\n${commitSha}`).digest("hex");
}

/**
 * Proof of a passed quality check: the record holds the trainer's verdict, passed (written with the
 * move to `uploading`), and the metrics do not say otherwise (`quality.passed` or `quality_passed`
 * false refuses).
 */
export function qualityPassed(task: Task, result: TaskResult): boolean {
  const passedGate = task.trained?.done.quality.passed === true;
  const q = result.metrics.quality;
  const flagged = (q !== null && typeof q === "object" && (q as { passed?: unknown }).passed === false) ||
    result.metrics.quality_passed === false;
  return passedGate && !flagged;
}

export function buildSubmission(task: Task, result: TaskResult, manifestSha: string | null): BuildResult {
  const id = task.request.id;
  if (task.state !== "uploading" && task.state !== "submitting") {
    return { ok: false, reason: "invalid_state", message: `Cannot submit task "${id}": it is ${task.state}` };
  }
  if (!qualityPassed(task, result)) {
    return {
      ok: false,
      reason: "quality_failed",
      message: `Cannot submit task "${id}": it has no passed quality check`,
    };
  }
  if (result.artifacts.length === 0) {
    return {
      ok: false,
      reason: "invalid_state",
      message: `Cannot submit task "${id}": result has no artifacts`,
    };
  }
  const q = result.metrics.quality;
  const quality = q !== null && typeof q === "object"
    ? { ...(q as object), passed: true as const }
    : { passed: true as const };
  return {
    ok: true,
    submission: {
      task_id: id,
      dedupe_key: dedupeKey(id, result.repo_id, result.commit_sha),
      repo_id: result.repo_id,
      commit_sha: result.commit_sha,
      artifacts: result.artifacts,
      dataset_manifest_sha256: manifestSha,
      metrics: result.metrics,
      quality,
      timings: timings(task),
    },
  };
}

function timings(task: Task): ResultSubmission["timings"] {
  const first = (s: TaskState) => task.history.find((h) => h.state === s)?.at_ms ?? null;
  const last = (s: TaskState) => task.history.findLast((h) => h.state === s)?.at_ms ?? null;
  const started = last("training");
  const trained = last("uploading");
  const uploaded = last("submitting");
  const end = uploaded ?? task.updated_ms;
  return {
    received_ms: task.received_ms,
    dataset_validated_ms: first("dataset_validated"),
    training_started_ms: started,
    training_done_ms: trained,
    uploaded_ms: uploaded,
    training_s: started !== null && trained !== null ? (trained - started) / 1000 : null,
    total_s: (end - task.received_ms) / 1000,
  };
}
