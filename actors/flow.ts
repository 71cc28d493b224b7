/**
 * The path of one task between the actors: axon → queue (admit) → submit (dataset) → queue (train)
 * → upload → submit (result). Each step is an `ask` through an actor's interface function; this
 * module holds no state of its own (the store and the actors do), so a crash anywhere is recovered
 * from what is durable: the queue and the SubmitActor resume their parts on start, and
 * `resumeUploads` picks up tasks trained but not yet uploaded.
 */
import { getLogger } from "@logtape/logtape";
import type { Store } from "../core/store.ts";
import { newTask, type Task, type TaskRequest, type TaskResult, transition } from "../core/task.ts";
import type { CapacitySnapshot, SubmitResult } from "./axon/axon_actor.ts";
import type { Device } from "./gpu/devices.ts";
import type { DoneEvent } from "./gpu/trainer_events.ts";
import type { QueueMsg, SubmitMsg, SubmitReport, UploadMsg } from "./protocol.ts";
import { admit, enqueue, queueSnapshot, release, type Trained } from "./queue/queue_actor.ts";
import type { ActorRef, Clock } from "./runtime/actor.ts";
import { prepareDataset, submitResult } from "./submit/submit_actor.ts";
import { upload } from "./upload/upload_actor.ts";

const log = getLogger(["satori", "flow"]);

/** The outbox entry the queue writes when a task is trained: what the upload needs after a crash. */
const TRAINED = "trained";

export type FlowDeps = {
  store: Store;
  clock: Clock;
  devices: readonly Device[];
  maxQueueSize: number;
  /** The current ref of each actor (a restart gives a new one), or undefined while it is down. */
  queue: () => ActorRef<QueueMsg> | undefined;
  submit: () => ActorRef<SubmitMsg> | undefined;
  upload: () => ActorRef<UploadMsg> | undefined;
  /** Told when a task reaches an end state, for `local` and tests. */
  onSettled?: (task: Task) => void;
};

class ActorDownError extends Error {
  override name = "ActorDownError";
}

/** The actor's current ref, or a clear error while its supervisor restarts it. */
export function need<M>(ref: ActorRef<M> | undefined, name: string): ActorRef<M> {
  if (!ref) throw new ActorDownError(`Cannot reach the ${name} actor: it is restarting`);
  return ref;
}

/**
 * A validator's TrainingTask: admitted into the queue (which owns `miner.max_queue_size`), then its
 * dataset goes to the task center. Without a priority of its own the task ranks by the validator's stake.
 */
export async function acceptTask(
  deps: FlowDeps,
  request: TaskRequest,
  validator: { hotkey: string; stakeTao: number },
): Promise<SubmitResult> {
  const priority = request.priority !== 0 ? request.priority : validator.stakeTao;
  const task = newTask({ ...request, priority }, validator.hotkey, deps.clock.now());
  const admitted = await admit(need(deps.queue(), "queue"), task);
  if (!admitted.ok) return { ok: false, reason: admitted.reason, message: admitted.message };
  const id = request.id;
  if (admitted.duplicate) {
    log.info("Task {taskId} sent again by {validator}: already {state}", {
      taskId: id,
      validator: validator.hotkey,
      state: admitted.task.state,
    });
  } else {
    log.info("Task {taskId} accepted from {validator} at position {position}", {
      taskId: id,
      validator: validator.hotkey,
      position: admitted.position,
    });
    const started = await prepareDataset(need(deps.submit(), "submit"), id);
    if (!started.ok) {
      log.error("Task {taskId}: cannot start its dataset: {message}", { taskId: id, ...started });
    }
  }
  return { ok: true, taskId: id, position: admitted.position };
}

/** What the SubmitActor reports: a validated dataset joins the training queue; an end frees its slot. */
export function onSubmitReport(deps: FlowDeps, report: SubmitReport): void {
  const id = report.task.request.id;
  switch (report.kind) {
    case "datasetValidated":
      void background(deps, `enqueue task "${id}"`, async () => {
        const r = await enqueue(need(deps.queue(), "queue"), report.task);
        if (!r.ok) log.warn("Task {taskId} not queued: {message}", { taskId: id, message: r.message });
      });
      return;
    case "datasetFailed":
    case "resultFailed":
      log.warn("Task {taskId} failed: {reason}", { taskId: id, reason: report.task.reason });
      settled(deps, report.task);
      return;
    case "resultDelivered":
      log.info("Task {taskId} done: result delivered for {repo}", {
        taskId: id,
        repo: report.task.result?.repo_id,
      });
      settled(deps, report.task);
      return;
  }
}

/** The queue trained a task: upload it, then hand the result to the SubmitActor. Never blocks the queue. */
export function onTrained(deps: FlowDeps, trained: Trained): void {
  void background(deps, `upload task "${trained.task.request.id}"`, () => uploadAndSubmit(deps, trained));
}

/**
 * After a restart: a validated task whose enqueue was lost in the crash joins the queue (enqueue is
 * idempotent for a queued one), and every task trained but not yet uploaded goes up again (the
 * upload is idempotent too).
 */
export async function resumeFlow(deps: FlowDeps): Promise<number> {
  let resumed = 0;
  for await (const task of deps.store.tasks()) {
    if (task.state !== "dataset_validated") continue;
    onSubmitReport(deps, { kind: "datasetValidated", task });
    resumed++;
  }
  for await (const entry of deps.store.outbox()) {
    if (entry.kind !== TRAINED) continue;
    const task = await deps.store.getTask(entry.taskId);
    const saved = entry.payload as { done: DoneEvent; outDir: string };
    if (task?.state === "uploading") {
      onTrained(deps, { task, done: saved.done, outDir: saved.outDir });
      resumed++;
    } else {
      await deps.store.deleteOutbox(entry.taskId, TRAINED);
    }
  }
  return resumed;
}

export async function capacity(deps: FlowDeps): Promise<CapacitySnapshot> {
  const snap = await queueSnapshot(need(deps.queue(), "queue"));
  const gpus = deps.devices.filter((d) => d.kind === "cuda");
  return {
    totalGpus: gpus.length,
    freeGpus: gpus.length === 0 ? 0 : snap.idle.length,
    vramMb: gpus.map((d) => (d.kind === "cuda" ? d.memoryTotalMb : 0)),
    queueLength: snap.admitted,
    queueMax: deps.maxQueueSize,
  };
}

async function uploadAndSubmit(deps: FlowDeps, { task, done, outDir }: Trained): Promise<void> {
  const id = task.request.id;
  const up = await upload(need(deps.upload(), "upload"), { task, done, outDir });
  if (!up.ok) {
    const failed = await deps.store.updateTask(
      id,
      (t) => transition(t, { type: "fail", reason: `upload ${up.reason}: ${up.message}` }, deps.clock.now()),
    );
    await deps.store.deleteOutbox(id, TRAINED);
    log.error("Task {taskId} failed: {reason}", { taskId: id, reason: failed.reason });
    settled(deps, failed);
    return;
  }
  log.info("Task {taskId} uploaded to {url}", { taskId: id, url: up.url });
  const sent = await submitResult(need(deps.submit(), "submit"), id, resultOf(up, done));
  if (!sent.ok) {
    log.error("Task {taskId}: result not queued: {message}", { taskId: id, message: sent.message });
  }
  await deps.store.deleteOutbox(id, TRAINED);
}

export function resultOf(up: { repoId: string; commitSha: string }, done: DoneEvent): TaskResult {
  return {
    repo_id: up.repoId,
    commit_sha: up.commitSha,
    artifacts: done.artifacts,
    metrics: { ...done.metrics, quality: done.quality },
  };
}

function settled(deps: FlowDeps, task: Task): void {
  release(deps.queue(), task.request.id);
  deps.onSettled?.(task);
}

/** Runs a step off the caller's handler; an actor that is restarting gets a few tries with backoff. */
async function background(deps: FlowDeps, what: string, step: () => Promise<void>): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      return await step();
    } catch (e) {
      const retry = attempt < 5 && (e instanceof ActorDownError || (e as Error).name === "ActorStoppedError");
      log.warn("Cannot {what} (attempt {attempt}): {error}", { what, attempt, error: e });
      if (!retry) return;
      await new Promise<void>((r) => deps.clock.setTimeout(() => r(), 500 * 2 ** attempt));
    }
  }
}
