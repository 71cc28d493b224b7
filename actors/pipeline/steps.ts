/**
 * The hand-offs the pipeline makes, and which follows which. A step is one `ask` to one actor for one
 * task; `perform` runs it outside the pipeline's handler (it reads the record fresh, so a step retried
 * after a restart acts on what the store says now) and `stepFor` says which step a stored state needs.
 */
import type { Store } from "../../core/store.ts";
import type { Task, TaskResult, TaskState } from "../../core/task.ts";
import {
  deliverResult,
  type DeliverResultReply,
  enqueue,
  type EnqueueResult,
  prepareDataset,
  type PrepareDatasetResult,
  type QueueMsg,
  running,
  type TaskCenterMsg,
  upload,
  type UploadMsg,
  type UploadResult,
} from "../protocol.ts";
import type { ActorRef } from "../runtime/actor.ts";

export type Step =
  | { kind: "prepareDataset"; taskId: string }
  | { kind: "enqueue"; taskId: string }
  | { kind: "upload"; taskId: string }
  | { kind: "deliverResult"; taskId: string; result: TaskResult };

/** What a step's actor answered; `moved`: the task is no longer where the step expects it. */
export type StepAnswer =
  | { kind: "prepareDataset"; reply: PrepareDatasetResult }
  | { kind: "enqueue"; reply: EnqueueResult }
  | { kind: "upload"; reply: UploadResult; task: Task }
  | { kind: "deliverResult"; reply: DeliverResultReply }
  | { kind: "moved"; state: TaskState | null };

/** The current ref of each actor a step asks (a restart gives a new one), undefined while it is down. */
export type StepActors = {
  queue: () => ActorRef<QueueMsg> | undefined;
  taskCenter: () => ActorRef<TaskCenterMsg> | undefined;
  upload: () => ActorRef<UploadMsg> | undefined;
};

/**
 * Runs `step` against its actor. Rejects with UnavailableError while that actor is down, and with the
 * ask's error when it is refused or unanswered: the pipeline retries both.
 */
export async function perform(step: Step, actors: StepActors, store: Store): Promise<StepAnswer> {
  switch (step.kind) {
    case "prepareDataset":
      return {
        kind: step.kind,
        reply: await prepareDataset(running(actors.taskCenter(), "task center actor"), step.taskId),
      };
    case "enqueue": {
      const task = await store.getTask(step.taskId);
      if (task?.state !== "dataset_validated") return { kind: "moved", state: task?.state ?? null };
      return { kind: step.kind, reply: await enqueue(running(actors.queue(), "queue actor"), task) };
    }
    case "upload": {
      const task = await store.getTask(step.taskId);
      if (task?.state !== "uploading" || task.trained === null) {
        return { kind: "moved", state: task?.state ?? null };
      }
      const { done, out_dir: outDir } = task.trained;
      const reply = await upload(running(actors.upload(), "upload actor"), { task, done, outDir });
      return { kind: step.kind, reply, task };
    }
    case "deliverResult": {
      const taskCenter = running(actors.taskCenter(), "task center actor");
      return { kind: step.kind, reply: await deliverResult(taskCenter, step.taskId, step.result) };
    }
  }
}

/**
 * The step a task stored in `state` waits for, after a restart: its dataset job (`received`,
 * `dataset_submitted`), the queue (`dataset_validated`) or its upload (`uploading`). Queued and
 * training tasks are the queue's own recovery; `submitting` is the task center actor's outbox.
 */
export function stepFor(task: Task): Step | null {
  const taskId = task.request.id;
  switch (task.state) {
    case "received":
    case "dataset_submitted":
      return { kind: "prepareDataset", taskId };
    case "dataset_validated":
      return { kind: "enqueue", taskId };
    case "uploading":
      return { kind: "upload", taskId };
    default:
      return null;
  }
}

/** One step per task at a time: a report and a resume naming the same hand-off share it. */
export function stepKey(step: Step): string {
  return `${step.kind}:${step.taskId}`;
}

export function resultOf(up: { repoId: string; commitSha: string }, task: Task): TaskResult {
  const done = task.trained!.done;
  return {
    repo_id: up.repoId,
    commit_sha: up.commitSha,
    artifacts: done.artifacts,
    metrics: { ...done.metrics, quality: done.quality },
  };
}
