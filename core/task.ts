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

// A revision and a path become segments of Hub URLs sent with the miner's token: they must name a
// ref and a file, never step to another route ("../../api/whoami-v2"). Refinements, so the JSON
// Schema validators read is unchanged.
const REPO_MESSAGE =
  'expected an HF repo id such as "org/name" (no "..", "--", or "." or "-" at either end of a part)';
const REVISION_MESSAGE = "expected a branch, tag or 40-hex commit sha by git's ref-name rules " +
  '(no "..", "//", "@{", spaces, control characters or any of ~^:?*[\\; no leading "/" or "-"; ' +
  'no part starting with "."; not ending in ".lock", "/" or ".")';
const PATH_MESSAGE = 'expected a relative path such as "data/train" (no "..", "." or empty parts, ' +
  'no leading or trailing "/", no backslashes or control characters)';

const REPO_SHAPE = /^[\w.-]+\/[\w.-]+$/;

/** An HF repo id: `org/name`, each part as the Hub allows it. */
export function isHubRepoId(v: string): boolean {
  const parts = v.split("/");
  return parts.length === 2 &&
    parts.every((p) =>
      /^[\w.-]{1,96}$/.test(p) && !/^[.-]|[.-]$/.test(p) && !p.includes("..") && !p.includes("--")
    );
}

/** A branch or tag name by `git check-ref-format`, or a full commit sha. */
export function isHubRevision(v: string): boolean {
  if (/^[0-9a-f]{40}$/.test(v)) return true;
  if (v.length === 0 || v.length > 255 || v === "@") return false;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0020\u007f~^:?*[\\]|\.\.|\/\/|@\{/.test(v)) return false;
  if (/^[/-]|[/.]$|\.lock$/.test(v)) return false;
  return v.split("/").every((part) => !part.startsWith(".") && !part.endsWith(".lock"));
}

/** A relative path inside a repo: non-empty parts, none of them `.` or `..`. */
export function isRepoPath(v: string): boolean {
  // deno-lint-ignore no-control-regex
  if (v.length === 0 || v.length > 1024 || /[\u0000-\u001f\u007f\\]/.test(v)) return false;
  return v.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** Where the training data comes from: an HF dataset repo at a pinned revision, or an https archive. */
export const DatasetSource = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("hf"),
    // The regex stays for the JSON Schema; the refinement judges only what it let through (one message).
    repo: z.string().regex(REPO_SHAPE, { message: REPO_MESSAGE }).refine(
      (v) => !REPO_SHAPE.test(v) || isHubRepoId(v),
      { message: REPO_MESSAGE },
    ),
    revision: z.string().min(1).refine(isHubRevision, { message: REVISION_MESSAGE }),
    path: z.string().refine(isRepoPath, { message: PATH_MESSAGE }).nullable().default(null),
  }),
  z.strictObject({
    kind: z.literal("url"),
    url: z.url({ protocol: /^https?$/ }),
    sha256: sha256Hex,
    /** A ceiling the validator may set below the miner's own (config `dataset.max_bytes`), never above. */
    max_bytes: z.number().int().positive().default(10 * 1024 ** 3),
  }),
]);
export type DatasetSource = z.infer<typeof DatasetSource>;

const requestCommon = {
  id: TaskId,
  /**
   * Orders only the sending validator's own tasks (higher first, ties by arrival); validators are
   * ranked by their stake, never by this (actors/queue/priority.ts).
   */
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
  /** The sender's stake (TAO) from the metagraph when the task arrived: it ranks validators in the queue. */
  validator_stake_tao: z.number().nonnegative().default(0),
  state: TaskState,
  /** Why the task failed or was rejected; null otherwise. */
  reason: z.string().nullable(),
  received_ms: z.number().int(),
  updated_ms: z.number().int(),
  /**
   * Runs that count against `miner.max_attempts`: each start adds one; a run the miner stopped (a
   * graceful stop, or its crash found at start) is given back, so only the trainer's own failures count.
   */
  attempts: z.number().int().nonnegative(),
  /** Trainings cut short by a miner crash; bounded by `miner.max_interruptions` so a task cannot loop. */
  interruptions: z.number().int().nonnegative().default(0),
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

/** Creates the record for a request that arrived at `nowMs` from a validator with `stakeTao`. */
export function newTask(request: TaskRequest, validatorHotkey: string, nowMs: number, stakeTao = 0): Task {
  return {
    request,
    validator_hotkey: validatorHotkey,
    validator_stake_tao: stakeTao,
    state: "received",
    reason: null,
    received_ms: nowMs,
    updated_ms: nowMs,
    attempts: 0,
    interruptions: 0,
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

/**
 * How many runs the task has had: one per `training` entry in its history, counting the current one.
 * A run's number names its Ray job (actors/ray/ray_jobs.ts `submissionId`); above 1 the trainer resumes.
 */
export function trainingRuns(task: Task): number {
  return task.history.filter((h) => h.state === "training").length;
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
