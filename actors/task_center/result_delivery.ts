/**
 * The result half of the TaskCenterActor: a result goes into the KV outbox before the first send and
 * leaves it only when the task center acknowledged it (task → done) or refused it with a 4xx
 * (task → failed with that reason). Network errors, 5xx and 429 retry with backoff, forever: a
 * result is worth more than the wait. On start the outbox is drained, so a crash loses nothing,
 * and the dedupe key makes a resend after a lost acknowledgement harmless.
 */
import { type Task, type TaskResult, transition } from "../../core/task.ts";
import type { DeliverResultReply } from "../protocol.ts";
import { manifestSha256 } from "../../core/manifest.ts";
import { loadManifest } from "../../core/manifest.ts";
import { buildSubmission } from "./result_submission.ts";
import { delayMs, failTask, log, type Private, schedule, type TaskCenterState, tellSelf } from "./state.ts";
import { ResultSubmission } from "./task_center_api.ts";
import { failureReason, postResult, retryable } from "./task_center_client.ts";

export const OUTBOX_KIND = "result";

export async function acceptResult(
  state: TaskCenterState,
  taskId: string,
  result: TaskResult,
): Promise<DeliverResultReply> {
  const { store } = state.deps;
  const task = await store.getTask(taskId);
  if (task === null) {
    return { ok: false, reason: "not_found", message: `Cannot submit result: no task "${taskId}"` };
  }
  if (task.state === "submitting" && state.deliveries.has(taskId)) return { ok: true, task };
  const now = state.clock.now();
  const after = task.state === "uploading" ? transition(task, { type: "uploaded", result }, now) : task;
  const built = buildSubmission({ ...after, state: task.state }, result, await manifestShaOf(state, taskId));
  if (!built.ok) return built;
  await store.putOutbox(taskId, OUTBOX_KIND, built.submission); // durable before anything is sent
  const stored = await store.updateTask(
    taskId,
    (t) => t.state === "uploading" ? transition(t, { type: "uploaded", result }, now) : t,
  );
  startDelivery(state, built.submission);
  return { ok: true, task: stored };
}

/** Drains the outbox after a (re)start, and rebuilds entries for `submitting` tasks that lost theirs. */
export async function recoverDeliveries(state: TaskCenterState): Promise<void> {
  const { store } = state.deps;
  for await (const entry of store.outbox()) {
    if (entry.kind !== OUTBOX_KIND) continue;
    const parsed = ResultSubmission.safeParse(entry.payload);
    const task = await store.getTask(entry.taskId);
    if (!parsed.success || task === null || !["uploading", "submitting"].includes(task.state)) {
      // Delivered before the crash (done), failed since, or unreadable: nothing left to send.
      log.info("Dropping outbox entry of {taskId} (task is {state})", {
        taskId: entry.taskId,
        state: task?.state,
      });
      await store.deleteOutbox(entry.taskId, entry.kind);
      continue;
    }
    startDelivery(state, parsed.data);
  }
  for await (const task of store.tasks()) {
    if (task.state !== "submitting" || state.deliveries.has(task.request.id) || task.result === null) {
      continue;
    }
    const built = buildSubmission(task, task.result, await manifestShaOf(state, task.request.id));
    if (!built.ok) {
      await failTask(state, task.request.id, built.reason, "resultFailed");
      continue;
    }
    await store.putOutbox(task.request.id, OUTBOX_KIND, built.submission);
    startDelivery(state, built.submission);
  }
}

function startDelivery(state: TaskCenterState, submission: ResultSubmission): void {
  if (state.deliveries.has(submission.task_id)) return;
  state.deliveries.set(submission.task_id, { submission, attempt: 0, timer: null, inFlight: false });
  tellSelf(state, { type: "resultDue", taskId: submission.task_id });
}

export function onResultDue(state: TaskCenterState, taskId: string): void {
  const d = state.deliveries.get(taskId);
  if (!d || d.inFlight) return;
  d.timer = null;
  d.inFlight = true;
  postResult(state.tc, d.submission).then((res) => tellSelf(state, { type: "resultAnswered", taskId, res }));
}

export async function onResultAnswered(
  state: TaskCenterState,
  msg: Extract<Private, { type: "resultAnswered" }>,
): Promise<void> {
  const d = state.deliveries.get(msg.taskId);
  if (!d) return;
  d.inFlight = false;
  const { res } = msg;
  if (!res.ok && retryable(res)) {
    const ms = delayMs(
      state,
      d.attempt++,
      state.deps.taskCenter.poll_interval_s * 1000,
      res.kind === "http" ? res.retryAfterMs : null,
    );
    state.deps.onRetry?.("result");
    log.warn("Result of {taskId} not delivered, retrying in {ms} ms: {error}", {
      taskId: msg.taskId,
      ms,
      error: res.message,
    });
    d.timer = schedule(state, ms, { type: "resultDue", taskId: msg.taskId });
    return;
  }
  state.deliveries.delete(msg.taskId);
  if (!res.ok) {
    await state.deps.store.deleteOutbox(msg.taskId, OUTBOX_KIND);
    await failTask(state, msg.taskId, failureReason(res), "resultFailed");
    return;
  }
  const task = await state.deps.store.updateTask(
    msg.taskId,
    (t) => acknowledged(t, d.submission, state.clock.now()),
  );
  await state.deps.store.deleteOutbox(msg.taskId, OUTBOX_KIND);
  log.info("Result of {taskId} recorded by the task center (duplicate: {duplicate})", {
    taskId: msg.taskId,
    duplicate: res.value.duplicate,
  });
  state.deps.report?.({ kind: "resultDelivered", task });
}

/** The task after its result was acknowledged: `done`, from `uploading` (a crash skipped a step) or `submitting`. */
function acknowledged(t: Task, s: ResultSubmission, now: number): Task {
  const result = { repo_id: s.repo_id, commit_sha: s.commit_sha, artifacts: s.artifacts, metrics: s.metrics };
  const submitting = t.state === "uploading" ? transition(t, { type: "uploaded", result }, now) : t;
  return submitting.state === "submitting" ? transition(submitting, { type: "submitted" }, now) : submitting;
}

async function manifestShaOf(state: TaskCenterState, taskId: string): Promise<string | null> {
  const manifest = await loadManifest(state.deps.dataDir, taskId);
  return manifest ? manifestSha256(manifest) : null;
}
