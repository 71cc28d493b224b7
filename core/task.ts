/**
 * The task model: what a validator asks for, the record the miner keeps, and its state machine.
 * Transitions are pure functions over the record (clock passed in), so the queue, the GPU actors
 * and recovery after a crash all agree on what may happen next; an illegal step is a
 * TransitionError, never a silent overwrite.
 */
import { z } from "zod";
import { TransitionError } from "./errors.ts";
import { DoneEvent, ImageTrainingSpec, TextTrainingSpec } from "./training.ts";

export const TaskId = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
  message: "expected letters, digits, '.', '_' or '-', starting with a letter or digit",
});

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { message: "expected a lowercase hex sha256" });

/** Where the training data comes from: an HF dataset repo at a pinned revision, or an https archive. */
export const DatasetSource = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("hf"),
    repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, { message: 'expected an HF repo id such as "org/name"' }),
    revision: z.string().min(1),
    path: z.string().nullable().default(null),
  }),
  z.strictObject({
    kind: z.literal("url"),
    url: z.url({ protocol: /^https?$/ }),
    sha256: sha256Hex,
    max_bytes: z.number().int().positive().default(10 * 1024 ** 3),
  }),
]);
export type DatasetSource = z.infer<typeof DatasetSource>;

const requestCommon = {
  id: TaskId,
  /** Higher runs first; ties go by arrival. Validators' stake feeds it when they set none. */
  priority: z.number().finite().default(0),
  /** Unix ms after which the task is worthless to the validator and must not be trained. */
  deadline_ms: z.number().int().positive().nullable().default(null),
  gpus: z.number().int().positive().max(64).default(1),
  dataset: DatasetSource,
};

/** What a validator sends: one union over the kind of LoRA. */
export const TaskRequest = z.discriminatedUnion("type", [
  z.strictObject({
    ...requestCommon,
    type: z.literal("text"),
    training: TextTrainingSpec.omit({ task_id: true, type: true }),
  }),
  z.strictObject({
    ...requestCommon,
    type: z.literal("image"),
    training: ImageTrainingSpec.omit({ task_id: true, type: true }),
  }),
]);
export type TaskRequest = z.infer<typeof TaskRequest>;

export const TaskState = z.enum([
  "received",
  "dataset_submitted",
  "dataset_validated",
  "queued",
  "training",
  "uploading",
  "submitting",
  "done",
  "failed",
  "rejected",
]);
export type TaskState = z.infer<typeof TaskState>;

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(["done", "failed", "rejected"]);

export const TaskResult = z.strictObject({
  repo_id: z.string(),
  commit_sha: z.string(),
  artifacts: z.array(z.strictObject({ path: z.string(), sha256: sha256Hex, bytes: z.number().int() })),
  metrics: z.record(z.string(), z.unknown()),
});
export type TaskResult = z.infer<typeof TaskResult>;

export const Task = z.strictObject({
  request: TaskRequest,
  validator_hotkey: z.string().min(1),
  state: TaskState,
  /** Why the task failed or was rejected; null otherwise. */
  reason: z.string().nullable(),
  received_ms: z.number().int(),
  updated_ms: z.number().int(),
  attempts: z.number().int().nonnegative(),
  /** Latest progress the trainer reported, for TaskStatus replies. */
  progress: z.strictObject({ step: z.number(), total: z.number(), loss: z.number() }).nullable(),
  /**
   * The finished training: the trainer's `done` event (artifacts, metrics and the quality verdict it
   * passed) and where the adapter lies. Written with the move to `uploading`, in the same write.
   */
  trained: z.strictObject({ done: DoneEvent, out_dir: z.string() }).nullable().default(null),
  result: TaskResult.nullable(),
  history: z.array(z.strictObject({ state: TaskState, at_ms: z.number().int() })),
});
export type Task = z.infer<typeof Task>;

/** Every event that moves a task, as a union so a caller cannot invent one. */
export type TaskEvent =
  | { type: "submitDataset" }
  | { type: "datasetValidated" }
  | { type: "enqueue" }
  | { type: "startTraining" }
  | { type: "requeue" } // training interrupted (crash, restart): back to the queue, resume from checkpoint
  /** Training finished and its quality check passed: the verdict and the adapter are recorded. */
  | { type: "trained"; done: DoneEvent; outDir: string }
  | { type: "uploaded"; result: TaskResult }
  | { type: "submitted" }
  | { type: "fail"; reason: string }
  | { type: "reject"; reason: string };

const NEXT: Record<Exclude<TaskEvent["type"], "fail" | "reject">, [from: TaskState, to: TaskState]> = {
  submitDataset: ["received", "dataset_submitted"],
  datasetValidated: ["dataset_submitted", "dataset_validated"],
  enqueue: ["dataset_validated", "queued"],
  startTraining: ["queued", "training"],
  requeue: ["training", "queued"],
  trained: ["training", "uploading"],
  uploaded: ["uploading", "submitting"],
  submitted: ["submitting", "done"],
};

/** Creates the record for a request that arrived at `nowMs`. */
export function newTask(request: TaskRequest, validatorHotkey: string, nowMs: number): Task {
  return {
    request,
    validator_hotkey: validatorHotkey,
    state: "received",
    reason: null,
    received_ms: nowMs,
    updated_ms: nowMs,
    attempts: 0,
    progress: null,
    trained: null,
    result: null,
    history: [{ state: "received", at_ms: nowMs }],
  };
}

/** The state `event` leads to from `from`, or null when the step is illegal. */
export function nextState(from: TaskState, event: TaskEvent["type"]): TaskState | null {
  if (TERMINAL_STATES.has(from)) return null;
  if (event === "fail") return "failed";
  // A task can only be refused before it is accepted into the queue.
  if (event === "reject") return from === "received" || from === "dataset_submitted" ? "rejected" : null;
  const [want, to] = NEXT[event];
  return from === want ? to : null;
}

/** Applies `event` to `task`; throws TransitionError when the state machine forbids it. */
export function transition(task: Task, event: TaskEvent, nowMs: number): Task {
  const to = nextState(task.state, event.type);
  if (to === null) throw new TransitionError(task.request.id, task.state, event.type);
  if (event.type === "trained" && !event.done.quality.passed) {
    throw new TransitionError(task.request.id, task.state, "trained (its quality check failed)");
  }
  return {
    ...task,
    state: to,
    updated_ms: nowMs,
    reason: event.type === "fail" || event.type === "reject" ? event.reason : task.reason,
    attempts: event.type === "startTraining" ? task.attempts + 1 : task.attempts,
    trained: event.type === "trained" ? { done: event.done, out_dir: event.outDir } : task.trained,
    result: event.type === "uploaded" ? event.result : task.result,
    history: [...task.history, { state: to, at_ms: nowMs }],
  };
}

/** The spec the trainer reads (`task.json`), with every default filled in. */
export function trainingSpecOf(
  task: Task,
): z.infer<typeof TextTrainingSpec> | z.infer<typeof ImageTrainingSpec> {
  const { request } = task;
  return request.type === "text"
    ? TextTrainingSpec.parse({ ...request.training, task_id: request.id, type: "text" })
    : ImageTrainingSpec.parse({ ...request.training, task_id: request.id, type: "image" });
}
