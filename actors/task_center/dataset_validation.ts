/**
 * The dataset half of the TaskCenterActor: fetch + manifest → PUT to the task center → poll the
 * validation every `poll_interval_s` (backing off only after errors) until `validation_timeout_s`.
 * Validated moves the task on (`datasetValidated`); rejected fails it with the validator's reason; the deadline fails it with
 * "validation_timeout". A refused dataset (DatasetError) fails at once with its code; a passing
 * failure (unreachable host, other errors) is tried again first.
 */
import { type Task, TERMINAL_STATES, transition } from "../../core/task.ts";
import type { CancelDatasetResult, PrepareDatasetResult } from "../protocol.ts";
import { DatasetError } from "./dataset/limits.ts";
import { loadManifest } from "../../core/manifest.ts";
import { prepareDatasetDir } from "./dataset/prepare.ts";
import {
  type DatasetJob,
  delayMs,
  errorText,
  failTask,
  log,
  pollDelayMs,
  type Private,
  schedule,
  type TaskCenterState,
  tellSelf,
} from "./state.ts";
import { failureReason, getValidation, retryable, submitDataset } from "./task_center_client.ts";

const FETCH_ATTEMPTS = 3;

export async function startPrepare(state: TaskCenterState, taskId: string): Promise<PrepareDatasetResult> {
  const task = await state.deps.store.getTask(taskId);
  if (task === null) {
    return { ok: false, reason: "not_found", message: `Cannot prepare dataset: no task "${taskId}"` };
  }
  if (state.jobs.has(taskId)) return { ok: true, started: false };
  if (task.state !== "received" && task.state !== "dataset_submitted") {
    const message = `Cannot prepare dataset of task "${taskId}": it is ${task.state}`;
    return { ok: false, reason: "invalid_state", message };
  }
  await resumeJob(state, task);
  return { ok: true, started: true };
}

/**
 * The validator cancelled the task: while it is still ours (`received`, `dataset_submitted`) it fails
 * with reason "cancelled" and its job goes, so answers of a fetch or poll in flight find no job and are
 * dropped (a download in flight runs to its end, within the dataset limits, and is discarded). Past
 * that, it is `moved`: a validated task is the queue's to cancel.
 */
export async function cancelJob(state: TaskCenterState, taskId: string): Promise<CancelDatasetResult> {
  const job = state.jobs.get(taskId);
  if (job) {
    state.clock.clearTimeout(job.timer);
    state.jobs.delete(taskId);
  }
  const task = await state.deps.store.getTask(taskId);
  if (task === null) {
    return { ok: false, reason: "not_found", message: `Cannot cancel: no task "${taskId}"` };
  }
  const ours = (t: Task) => t.state === "received" || t.state === "dataset_submitted";
  const now = state.clock.now();
  const after = ours(task)
    ? await state.deps.store.updateTask(
      taskId,
      (t) => ours(t) ? transition(t, { type: "fail", reason: "cancelled" }, now) : t,
    )
    : task;
  if (after.state === "failed" && ours(task)) {
    log.info("Task {taskId} cancelled by its validator while {state}", { taskId, state: task.state });
    return { ok: true, task: after };
  }
  const message = `Cannot cancel the dataset of task "${taskId}": it is ${after.state}`;
  return { ok: false, reason: "moved", message, state: after.state };
}

/** Starts (or, after a restart, resumes) the job for a `received` or `dataset_submitted` task. */
export async function resumeJob(state: TaskCenterState, task: Task): Promise<void> {
  const taskId = task.request.id;
  const submittedAt = task.history.findLast((h) => h.state === "dataset_submitted")?.at_ms ?? null;
  const manifest = task.state === "dataset_submitted" ? await loadManifest(state.deps.dataDir, taskId) : null;
  const job: DatasetJob = {
    taskId,
    phase: manifest ? "polling" : "fetching",
    manifest,
    attempt: 0,
    deadlineMs: submittedAt === null ? null : submittedAt + state.deps.taskCenter.validation_timeout_s * 1000,
    timer: null,
  };
  state.jobs.set(taskId, job);
  if (manifest) tellSelf(state, { type: "datasetDue", taskId });
  else runFetch(state, task);
}

function runFetch(state: TaskCenterState, task: Task): void {
  const taskId = task.request.id;
  const deps = { ...state.deps, limits: state.limits };
  prepareDatasetDir(taskId, task.request.dataset, deps).then(
    (manifest) => tellSelf(state, { type: "prepared", taskId, outcome: { ok: true, manifest } }),
    (error) => tellSelf(state, { type: "prepared", taskId, outcome: { ok: false, error } }),
  );
}

export async function onPrepared(
  state: TaskCenterState,
  msg: Extract<Private, { type: "prepared" }>,
): Promise<void> {
  const job = state.jobs.get(msg.taskId);
  if (!job) return;
  if (!msg.outcome.ok) {
    const { error } = msg.outcome;
    const refused = error instanceof DatasetError && !error.retryable;
    if (refused || ++job.attempt >= FETCH_ATTEMPTS) {
      state.jobs.delete(msg.taskId);
      // The validator reads a fixed code (DatasetError.reason); status codes, addresses, hashes and
      // local paths stay in this log line. Not a DatasetError: our own failure (disk), no detail out.
      log.warn("The dataset of {taskId} failed: {error}", { taskId: msg.taskId, error: errorText(error) });
      const reason = error instanceof DatasetError ? error.reason : "dataset_fetch_failed";
      await failTask(state, msg.taskId, reason, "datasetFailed");
      return;
    }
    log.warn("Fetching the dataset of {taskId} failed, retrying: {error}", {
      taskId: msg.taskId,
      error: errorText(error),
    });
    job.timer = schedule(state, delayMs(state, job.attempt, 1000, null), {
      type: "datasetDue",
      taskId: msg.taskId,
    });
    return;
  }
  job.manifest = msg.outcome.manifest;
  job.phase = "submitting";
  job.attempt = 0;
  job.deadlineMs ??= state.clock.now() + state.deps.taskCenter.validation_timeout_s * 1000;
  send(state, job);
}

export async function onDatasetDue(state: TaskCenterState, taskId: string): Promise<void> {
  const job = state.jobs.get(taskId);
  if (!job) return;
  job.timer = null;
  if (job.phase === "fetching") {
    const task = await state.deps.store.getTask(taskId);
    if (task && !TERMINAL_STATES.has(task.state)) return runFetch(state, task);
    state.jobs.delete(taskId);
    return;
  }
  if (job.deadlineMs !== null && state.clock.now() >= job.deadlineMs) return await timeout(state, job);
  send(state, job);
}

function send(state: TaskCenterState, job: DatasetJob): void {
  const call = job.phase === "submitting"
    ? submitDataset(state.tc, job.taskId, job.manifest!)
    : getValidation(state.tc, job.taskId);
  call.then((res) => tellSelf(state, { type: "datasetAnswered", taskId: job.taskId, res }));
}

export async function onDatasetAnswered(
  state: TaskCenterState,
  msg: Extract<Private, { type: "datasetAnswered" }>,
): Promise<void> {
  const job = state.jobs.get(msg.taskId);
  if (!job) return;
  const { res } = msg;
  if (!res.ok) {
    if (retryable(res)) return await retry(state, job, res.kind === "http" ? res.retryAfterMs : null);
    state.jobs.delete(job.taskId);
    await failTask(state, job.taskId, failureReason(res), "datasetFailed");
    return;
  }
  job.attempt = 0; // an answer: the task center is healthy, the next error backs off from the start
  if (job.phase === "submitting") {
    await move(state, job.taskId, "received", "submitDataset");
    job.phase = "polling";
  }
  const status = res.value;
  if (status.status === "pending") {
    return await poll(state, job, status.retry_after_s === null ? null : status.retry_after_s * 1000);
  }
  state.jobs.delete(job.taskId);
  if (status.status === "rejected") {
    await failTask(state, job.taskId, status.reason ?? "dataset_rejected", "datasetFailed");
    return;
  }
  const task = await move(state, job.taskId, "dataset_submitted", "datasetValidated");
  if (task.state === "dataset_validated") state.deps.report?.({ kind: "datasetValidated", task });
}

/** Applies `event` when the task is in `from`; any other state is left alone (already moved on). */
function move(
  state: TaskCenterState,
  taskId: string,
  from: Task["state"],
  event: "submitDataset" | "datasetValidated",
): Promise<Task> {
  return state.deps.store.updateTask(
    taskId,
    (t) => t.state === from ? transition(t, { type: event }, state.clock.now()) : t,
  );
}

/** Still pending: ask again after the poll interval (or the server's longer hint). */
function poll(state: TaskCenterState, job: DatasetJob, hintMs: number | null): Promise<void> {
  return waitOrTimeout(state, job, pollDelayMs(state, hintMs));
}

/** No usable answer (network, 429, 5xx): back off, doubling per failure, Retry-After honoured. */
function retry(state: TaskCenterState, job: DatasetJob, retryAfterMs: number | null): Promise<void> {
  const minMs = state.deps.taskCenter.poll_interval_s * 1000;
  state.deps.onRetry?.("dataset");
  return waitOrTimeout(state, job, delayMs(state, job.attempt++, minMs, retryAfterMs));
}

async function waitOrTimeout(state: TaskCenterState, job: DatasetJob, delay: number): Promise<void> {
  const now = state.clock.now();
  if (job.deadlineMs !== null && now >= job.deadlineMs) return await timeout(state, job);
  const ms = job.deadlineMs === null ? delay : Math.min(delay, job.deadlineMs - now);
  job.timer = schedule(state, ms, { type: "datasetDue", taskId: job.taskId });
}

async function timeout(state: TaskCenterState, job: DatasetJob): Promise<void> {
  state.jobs.delete(job.taskId);
  await failTask(state, job.taskId, "validation_timeout", "datasetFailed");
}
