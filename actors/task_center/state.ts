/**
 * The TaskCenterActor's state and the helpers its two flows share (dataset validation in
 * dataset_flow.ts, result delivery in delivery.ts): timers on the injected clock, backoff delays,
 * and the one way a task is failed. Background work (downloads, HTTP calls) never runs inside a
 * handler; it reports back as a private message so the mailbox stays responsive.
 */
import { getLogger } from "@logtape/logtape";
import type { DatasetConfig, FileConfig } from "../../core/config.ts";
import type { Store } from "../../core/store.ts";
import { type Task, TERMINAL_STATES, transition } from "../../core/task.ts";
import type { TaskReport } from "../protocol.ts";
import type { ActorRef, Clock } from "../runtime/actor.ts";
import { type Backoff, backoffDelay } from "../runtime/intensity.ts";
import type { DatasetManifest } from "../../core/manifest.ts";
import type { UnpackLimits } from "./dataset/limits.ts";
import type { Signer } from "./signing.ts";
import type { CallResult, TaskCenter } from "./task_center_client.ts";
import type { ResultAck, ResultSubmission, ValidationStatus } from "./task_center_api.ts";

export const log = getLogger(["satori", "task_center"]);

export interface TaskCenterDeps {
  store: Store;
  signer: Signer;
  taskCenter: FileConfig["task_center"];
  dataDir: string;
  /** Where HF datasets are downloaded from (config huggingface.hub_url). */
  hubUrl: string;
  hfToken?: string | null;
  /** Config `dataset`: the miner's caps on a download and its allow-list; missing keys take defaults. */
  dataset?: Partial<DatasetConfig>;
  fetch?: typeof fetch;
  clock?: Clock;
  /** [0, 1); tests pass `() => 0.5` for backoff without jitter. */
  random?: () => number;
  limits?: Partial<UnpackLimits>;
  /** Told each outcome as it lands (validated, failed, delivered); must not throw. */
  report?: (report: TaskReport) => void;
  /** Told each task center call that is tried again (for /metrics); must not throw. */
  onRetry?: (call: "dataset" | "result") => void;
}

export type DatasetPhase = "fetching" | "submitting" | "polling";

export interface DatasetJob {
  taskId: string;
  phase: DatasetPhase;
  manifest: DatasetManifest | null;
  /** Consecutive failed calls (or fetches) in this phase, for the backoff; an answer resets it. */
  attempt: number;
  /** Unix ms after which a still-pending validation fails the task; null until submitted. */
  deadlineMs: number | null;
  timer: unknown;
}

export interface Delivery {
  submission: ResultSubmission;
  attempt: number;
  timer: unknown;
  inFlight: boolean;
}

/** Child results and timer ticks: private to the actor. */
export type Private =
  | {
    type: "prepared";
    taskId: string;
    outcome: { ok: true; manifest: DatasetManifest } | { ok: false; error: unknown };
  }
  | { type: "datasetAnswered"; taskId: string; res: CallResult<ValidationStatus> }
  | { type: "datasetDue"; taskId: string }
  | { type: "resultDue"; taskId: string }
  | { type: "resultAnswered"; taskId: string; res: CallResult<ResultAck> };

export interface TaskCenterState {
  deps: TaskCenterDeps;
  self: ActorRef<unknown>;
  clock: Clock;
  tc: TaskCenter;
  limits: UnpackLimits;
  jobs: Map<string, DatasetJob>;
  deliveries: Map<string, Delivery>;
}

/** Sends a private message to the actor; a stopped actor drops it (its work resumes on restart). */
export function tellSelf(state: TaskCenterState, msg: Private): void {
  state.self.offer(msg);
}

export function schedule(state: TaskCenterState, ms: number, msg: Private): unknown {
  return state.clock.setTimeout(() => tellSelf(state, msg), Math.max(0, ms));
}

/** Backoff from `minMs` doubling to the configured maximum; a server hint (Retry-After) wins if longer. */
export function delayMs(
  state: TaskCenterState,
  attempt: number,
  minMs: number,
  hintMs: number | null,
): number {
  const maxMs = Math.max(minMs, state.deps.taskCenter.retry_max_delay_s * 1000);
  const backoff: Backoff = { minMs, maxMs, jitter: 0.2 };
  const base = backoffDelay(attempt, backoff, state.deps.random ?? Math.random);
  return Math.min(maxMs, Math.max(base, hintMs ?? 0));
}

/** Spread of a poll's wait either way, so miners started together do not poll in lockstep. */
const POLL_JITTER = 0.1;

/**
 * The wait before asking again after a good answer (still pending): `poll_interval_s` ±10 %, or the
 * server's hint if longer. It does not grow: the config says how often to ask, and only errors back
 * off (`delayMs`). Bounded like a backoff by `retry_max_delay_s`, whatever the hint says.
 */
export function pollDelayMs(state: TaskCenterState, hintMs: number | null): number {
  const { poll_interval_s, retry_max_delay_s } = state.deps.taskCenter;
  const intervalMs = poll_interval_s * 1000;
  const maxMs = Math.max(intervalMs, retry_max_delay_s * 1000);
  const random = state.deps.random ?? Math.random;
  const jittered = intervalMs * (1 + POLL_JITTER * (2 * random() - 1));
  return Math.round(Math.min(maxMs, Math.max(jittered, hintMs ?? 0)));
}

/** Applies `fail` unless the task already ended; reports and returns the stored record. */
export async function failTask(
  state: TaskCenterState,
  taskId: string,
  reason: string,
  kind: "datasetFailed" | "resultFailed",
): Promise<Task> {
  const task = await state.deps.store.updateTask(
    taskId,
    (t) => TERMINAL_STATES.has(t.state) ? t : transition(t, { type: "fail", reason }, state.clock.now()),
  );
  log.warn("Task {taskId} failed: {reason}", { taskId, reason });
  state.deps.report?.({ kind, task });
  return task;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
