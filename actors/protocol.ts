/**
 * Every public message union and its reply types, one section per actor (see STYLE.md), and the
 * interface function that sends each one (gen_server's API): callers use those, never build a message
 * by hand, so an actor is reached without importing its folder. Tags are imperative lowerCamel verbs;
 * a message that expects an answer carries `reply: Reply<Result>` with its result type beside it.
 * Timer ticks and child results stay private to the actor's own file. Contracts come from core/ only.
 */
import { type ActorRef, ask, type Reply } from "./runtime/actor.ts";
import type { Task, TaskRequest, TaskResult, TaskState } from "../core/task.ts";
import type { DoneEvent, TrainerEvent, TrainerOutcome, TrainingSpec } from "../core/training.ts";
import type { Device } from "../core/device.ts";
import type { ModelCacheSnapshot } from "../core/model_cache.ts";
import { RETRY_AFTER_S, UnavailableError } from "../core/errors.ts";
export type { Reply };

/** The running instance of an actor, or UnavailableError naming it while its supervisor restarts it. */
export function running<M>(ref: ActorRef<M> | undefined, what: string): ActorRef<M> {
  if (!ref) throw new UnavailableError(what, RETRY_AFTER_S);
  return ref;
}

// ── ChainMsg (actors/chain/chain_actor.ts) ─────────────────────────────────────────────────────

/**
 * What the miner knows of a caller's hotkey on its netuid, from the last metagraph sync (never a chain
 * read per request). `stale`: the chain is unreachable, the last sync failed, or none has finished yet;
 * the facts are still used, and counted.
 */
export type HotkeyFacts = {
  registered: boolean;
  uid: number | null;
  validatorPermit: boolean;
  /** Total stake (the SDK metagraph's `S`: alpha + TAO × tao weight), in TAO units. */
  stakeTao: number;
  stale: boolean;
};

/** Where `serve_axon` stands: `waiting` = held by the serving rate limit until `untilBlock`. */
export type AxonServeState =
  | { state: "pending" }
  | { state: "disabled"; reason: string }
  | { state: "up_to_date"; endpoint: string; block: number }
  | { state: "submitting"; endpoint: string }
  | { state: "served"; endpoint: string; block: number }
  | { state: "waiting"; endpoint: string; untilBlock: number }
  | { state: "failed"; endpoint: string; message: string };

export type ChainStatus = {
  endpoint: string;
  netuid: number;
  hotkey: string;
  connected: boolean;
  /** Clock time (ms) since which answers are stale; null while fresh. */
  staleSince: number | null;
  /** Best block seen, and the runtime's spec version. */
  block: number | null;
  specVersion: number | null;
  /** Own uid, from the start-up check (null before it ran). */
  uid: number | null;
  metagraph: { block: number; syncedAt: number; neurons: number; validators: number; source: string } | null;
  axon: AxonServeState;
};

export type SyncResult =
  | { ok: true; block: number; neurons: number; source: string }
  | { ok: false; reason: "disconnected" | "failed"; message: string };

export type ChainMsg =
  | { type: "lookupHotkey"; ss58: string; reply: Reply<HotkeyFacts> }
  | { type: "getStatus"; reply: Reply<ChainStatus> }
  | { type: "syncMetagraph"; reply: Reply<SyncResult> };

/** Facts about a caller's hotkey from the last metagraph sync; answered at once, never from the chain. */
export function lookupHotkey(
  chain: ActorRef<ChainMsg>,
  ss58: string,
  timeoutMs = 1_000,
): Promise<HotkeyFacts> {
  return ask(chain, (reply) => ({ type: "lookupHotkey", ss58, reply }), { timeoutMs });
}

export function chainStatus(chain: ActorRef<ChainMsg>, timeoutMs = 2_000): Promise<ChainStatus> {
  return ask(chain, (reply) => ({ type: "getStatus", reply }), { timeoutMs });
}

/** Re-reads the metagraph now (or joins the sync in flight) and replies when it is done. */
export function syncMetagraph(chain: ActorRef<ChainMsg>, timeoutMs = 60_000): Promise<SyncResult> {
  return ask(chain, (reply) => ({ type: "syncMetagraph", reply }), { timeoutMs });
}

// ── QueueMsg (actors/queue/queue_actor.ts) ─────────────────────────────────────────────────────

/**
 * A task as the validator sent it (state `received`), taken into the queue's count or refused.
 * `duplicate`: the same validator sent this id before; `task` is the stored record, unchanged.
 * `position`: the 1-based place among the accepted tasks not yet training, in dispatch order (0 once
 * it trains or ended). Refusals: `id_taken` (another validator's task has this id),
 * `model_not_allowed` (a base model the operator does not allow), `over_limit` (a field above
 * `training.limits`), `too_long` (it cannot finish before its deadline or the time limit),
 * `validator_quota` (the validator holds its share of the queue), `queue_full`, `deadline` (passed),
 * `unplaceable` (no device could hold it).
 */
export type AdmitResult =
  | { ok: true; task: Task; duplicate: boolean; position: number }
  | { ok: false; reason: AdmitRefusal; message: string };

export type AdmitRefusal =
  | "queue_full"
  | "deadline"
  | "unplaceable"
  | "id_taken"
  | "model_not_allowed"
  | "over_limit"
  | "too_long"
  | "validator_quota";

/** `duplicate`: the id was already accepted; `task` is the stored record, unchanged. */
export type EnqueueResult =
  | { ok: true; task: Task; duplicate: boolean }
  | {
    ok: false;
    reason: "queue_full" | "unplaceable" | "deadline" | "invalid_state";
    message: string;
  };

/**
 * `was`: where the task was when cancelled; a running task is failed now and its trainer stopped. A
 * `dataset_validated` task (`validated`, on its way into the queue) is the queue's to fail as well.
 */
export type CancelResult =
  | { ok: true; task: Task; was: "queued" | "running" | "validated" }
  | { ok: false; reason: "not_found" | "not_queued"; message: string };

export type QueueSnapshot = {
  /** Highest priority first, then by arrival: the dispatch order. */
  queued: string[];
  /** Accepted tasks not yet training (waiting for their dataset, or queued): what `max_queue_size` bounds. */
  admitted: number;
  running: { taskId: string; devices: string[] }[];
  idle: string[];
};

export type QueueMsg =
  | { type: "admit"; task: Task; reply: Reply<AdmitResult> }
  | { type: "enqueue"; task: Task; reply: Reply<EnqueueResult> }
  | { type: "cancel"; taskId: string; reply: Reply<CancelResult> }
  | { type: "snapshot"; reply: Reply<QueueSnapshot> };

/**
 * Takes a validator's task (state `received`) into the queue's count, stored, or refuses it with a
 * reason the axon can forward. Idempotent on the task id.
 */
export function admit(queue: ActorRef<QueueMsg>, task: Task, timeoutMs = 10_000): Promise<AdmitResult> {
  if (task.state !== "received") {
    const id = task.request.id;
    return Promise.reject(
      new TypeError(`Cannot admit task "${id}": it is in state "${task.state}", not "received"`),
    );
  }
  return ask(queue, (reply) => ({ type: "admit", task, reply }), { timeoutMs });
}

/** Accepts a `dataset_validated` task into the queue, or refuses with a reason the axon can forward. */
export function enqueue(queue: ActorRef<QueueMsg>, task: Task, timeoutMs = 10_000): Promise<EnqueueResult> {
  return ask(queue, (reply) => ({ type: "enqueue", task, reply }), { timeoutMs });
}

/** Fails a dataset_validated, queued or running task with reason "cancelled"; a running trainer is stopped. */
export function cancelTask(queue: ActorRef<QueueMsg>, taskId: string): Promise<CancelResult> {
  return ask(queue, (reply) => ({ type: "cancel", taskId, reply }), { timeoutMs: 10_000 });
}

export function queueSnapshot(queue: ActorRef<QueueMsg>): Promise<QueueSnapshot> {
  return ask(queue, (reply) => ({ type: "snapshot", reply }));
}

// ── GpuMsg (actors/gpu/gpu_actor.ts) ───────────────────────────────────────────────────────────

/** One training run as the queue hands it out; `devices[0]` is the lead GpuActor that launches it. */
export type TrainJob = {
  taskId: string;
  spec: TrainingSpec;
  datasetDir: string;
  /**
   * The manifest the task center validated; its hashes are rechecked right before the trainer starts,
   * so training uses exactly the validated bytes. Null: no manifest to check (local datasets, tests).
   */
  manifestFile: string | null;
  /** Continue from the newest checkpoint in the task's work dir (a retry or a recovery). */
  resume: boolean;
  /**
   * Which run of the task this is: 1 for the first, one more for each `training` entry in its history.
   * A Ray job's submission id is made of it, so the same run is never submitted twice.
   */
  run: number;
  devices: Device[];
};

/** What a GpuActor tells whoever gave it the job, in order; `ended` comes exactly once per job. */
export type GpuReport =
  | { kind: "spawned"; taskId: string; pid: number }
  | { kind: "event"; taskId: string; event: TrainerEvent }
  | { kind: "ended"; taskId: string; outcome: TrainerOutcome };

/** Delivers a report; false when the receiver is gone (the GpuActor keeps an undelivered `ended`). */
export type GpuReporter = (report: GpuReport) => boolean;

export type TrainStart = { ok: true } | { ok: false; reason: "busy"; message: string };

export type GpuCancelResult = { ok: true } | { ok: false; reason: "not_running"; message: string };

/**
 * A (re)started queue takes over the reports of a GpuActor's runs and of any `ended` it missed. A
 * local GpuActor has at most one of each; the Ray backend answers for every job it follows.
 */
export type GpuAdoption = {
  running: { taskId: string; devices: Device[] }[];
  unreported: GpuReport[];
};

export type GpuMsg =
  | { type: "train"; job: TrainJob; report: GpuReporter; reply: Reply<TrainStart> }
  | { type: "cancel"; taskId: string; reply: Reply<GpuCancelResult> }
  | { type: "adopt"; report: GpuReporter; reply: Reply<GpuAdoption> };

/** Starts a job on this device; the reply only says whether it started. */
export function train(gpu: ActorRef<GpuMsg>, job: TrainJob, report: GpuReporter): Promise<TrainStart> {
  return ask(gpu, (reply) => ({ type: "train", job, report, reply }));
}

export function cancelRun(gpu: ActorRef<GpuMsg>, taskId: string): Promise<GpuCancelResult> {
  return ask(gpu, (reply) => ({ type: "cancel", taskId, reply }));
}

/** Routes this actor's reports to `report` from now on, returning what runs and what was missed. */
export function adopt(gpu: ActorRef<GpuMsg>, report: GpuReporter): Promise<GpuAdoption> {
  return ask(gpu, (reply) => ({ type: "adopt", report, reply }));
}

// ── UploadMsg (actors/upload/upload_actor.ts) ──────────────────────────────────────────────────

/** A task that passed training and its quality check: its record, the trainer's `done`, and its out dir. */
export type UploadRequest = { task: Task; done: DoneEvent; outDir: string };

/**
 * `repoId`/`commitSha`: where the artifacts now are; `reused`: an earlier run (before a crash) had already
 * committed them. Failures: `unauthorized` (401, token rejected), `forbidden` (403, a permission is
 * missing), `rejected` (another 4xx), `unavailable` (retries exhausted), `artifact_invalid` (a local
 * file is missing or differs from what the trainer reported).
 */
export type UploadResult =
  | { ok: true; repoId: string; commitSha: string; url: string; reused: boolean }
  | {
    ok: false;
    reason: "unauthorized" | "forbidden" | "rejected" | "unavailable" | "artifact_invalid";
    message: string;
  };

export type UploadMsg = { type: "upload"; request: UploadRequest; reply: Reply<UploadResult> };

/** An upload may move gigabytes through retries: the ask waits this long before giving up. */
export const UPLOAD_TIMEOUT_MS = 2 * 60 * 60 * 1000;

/** Uploads a trained task's adapter; the reply says where it is or why it is not. */
export function upload(
  actor: ActorRef<UploadMsg>,
  request: UploadRequest,
  opts: { timeoutMs?: number } = {},
): Promise<UploadResult> {
  return ask(actor, (reply) => ({ type: "upload", request, reply }), {
    timeoutMs: opts.timeoutMs ?? UPLOAD_TIMEOUT_MS,
  });
}

// ── TaskCenterMsg (actors/task_center/task_center_actor.ts) ──────────────────────────────────

/** `started: false`: a job for the task was already running (a retry or a recovery); nothing new began. */
export type PrepareDatasetResult =
  | { ok: true; started: boolean }
  | { ok: false; reason: "not_found" | "invalid_state"; message: string };

/**
 * `ok: true`: the result is in the durable outbox and will be sent until the task center acknowledges
 * it (the task then moves to `done`, or to `failed` on a 4xx). `quality_failed`: nothing was queued.
 */
export type DeliverResultReply =
  | { ok: true; task: Task }
  | { ok: false; reason: "not_found" | "invalid_state" | "quality_failed"; message: string };

/**
 * `ok`: the task was `received` or `dataset_submitted`; it is failed ("cancelled") and its dataset job
 * dropped. `moved`: it is past the task center's part (validated or later, or ended); `state` says where.
 */
export type CancelDatasetResult =
  | { ok: true; task: Task }
  | { ok: false; reason: "not_found"; message: string }
  | { ok: false; reason: "moved"; message: string; state: TaskState };

export type TaskCenterMsg =
  | { type: "prepareDataset"; taskId: string; reply: Reply<PrepareDatasetResult> }
  | { type: "deliverResult"; taskId: string; result: TaskResult; reply: Reply<DeliverResultReply> }
  | { type: "cancelDataset"; taskId: string; reply: Reply<CancelDatasetResult> };

/**
 * Starts fetching, checking and submitting a `received` task's dataset; replies once the job is
 * running. The outcome arrives later as a TaskReport and in the task's state.
 */
export function prepareDataset(
  taskCenter: ActorRef<TaskCenterMsg>,
  taskId: string,
  timeoutMs = 10_000,
): Promise<PrepareDatasetResult> {
  return ask(taskCenter, (reply) => ({ type: "prepareDataset", taskId, reply }), { timeoutMs });
}

/** Fails a task still waiting for its dataset with reason "cancelled" and stops its dataset job. */
export function cancelDataset(
  taskCenter: ActorRef<TaskCenterMsg>,
  taskId: string,
  timeoutMs = 10_000,
): Promise<CancelDatasetResult> {
  return ask(taskCenter, (reply) => ({ type: "cancelDataset", taskId, reply }), { timeoutMs });
}

/**
 * Queues `result` of an `uploading` (or `submitting`) task for delivery; replies once it is in the
 * durable outbox. Refused with `quality_failed` when the task never passed its quality check.
 */
export function deliverResult(
  taskCenter: ActorRef<TaskCenterMsg>,
  taskId: string,
  result: TaskResult,
  timeoutMs = 10_000,
): Promise<DeliverResultReply> {
  return ask(taskCenter, (reply) => ({ type: "deliverResult", taskId, result, reply }), { timeoutMs });
}

// ── PipelineMsg (actors/pipeline/pipeline_actor.ts) ────────────────────────────────────────────

/**
 * What the queue and the task center actor tell the pipeline as a task's steps land; `task` is the
 * stored record after the step. The pipeline hands the task to the next actor.
 */
export type TaskReport =
  | { kind: "datasetValidated"; task: Task }
  | { kind: "datasetFailed"; task: Task }
  | { kind: "trained"; task: Task }
  | { kind: "resultDelivered"; task: Task }
  | { kind: "resultFailed"; task: Task };

/** Delivers a report to the pipeline; false when it is down or full (its restart resumes from the store). */
export type TaskReporter = (report: TaskReport) => boolean;

/** The validator who sent a task, as the axon verified it. */
export type Sender = { hotkey: string; stakeTao: number };

/**
 * A validator's task taken in (`position`: its 1-based place among tasks not yet training) or
 * refused. `duplicate`: this validator sent the id before; nothing new was done, and `state` and
 * `position` (0 once it trains or ended) say where that task is. `unavailable`: `what` (an actor on
 * the task's path) is restarting; the axon answers 503 with `Retry-After: retryAfterS`.
 */
export type AcceptResult =
  | { ok: true; taskId: string; position: number }
  | { ok: false; reason: AdmitRefusal; message: string }
  | { ok: false; reason: "duplicate"; message: string; taskId: string; state: TaskState; position: number }
  | { ok: false; reason: "unavailable"; message: string; what: string; retryAfterS: number };

/**
 * A validator's cancel of its task. `ok`: the task is failed with reason "cancelled" (`task` is the
 * record after it). `not_cancellable`: it already ended, or is past training (its result is being
 * uploaded or delivered). `unavailable`: the actor that holds the task is restarting (503).
 */
export type WithdrawResult =
  | { ok: true; task: Task }
  | { ok: false; reason: "not_found" | "not_cancellable"; message: string; state: TaskState | null }
  | { ok: false; reason: "unavailable"; message: string; what: string; retryAfterS: number };

export type PipelineMsg =
  | { type: "accept"; request: TaskRequest; sender: Sender; reply: Reply<AcceptResult> }
  | { type: "withdraw"; taskId: string; reply: Reply<WithdrawResult> }
  | { type: "report"; report: TaskReport };

/** Takes a validator's task onto the pipeline: admitted by the queue, then its dataset goes out. */
export function acceptTask(
  pipeline: ActorRef<PipelineMsg>,
  request: TaskRequest,
  sender: Sender,
  timeoutMs = 15_000,
): Promise<AcceptResult> {
  return ask(pipeline, (reply) => ({ type: "accept", request, sender, reply }), { timeoutMs });
}

/** Cancels a task in any state before its upload: the actor holding it fails it and stops its work. */
export function withdrawTask(
  pipeline: ActorRef<PipelineMsg>,
  taskId: string,
  timeoutMs = 15_000,
): Promise<WithdrawResult> {
  return ask(pipeline, (reply) => ({ type: "withdraw", taskId, reply }), { timeoutMs });
}

/** Tells the pipeline a step landed; false when the report could not be delivered. */
export function reportTo(pipeline: ActorRef<PipelineMsg> | undefined, report: TaskReport): boolean {
  return pipeline !== undefined && pipeline.offer({ type: "report", report }) === undefined;
}

// ── AxonMsg (actors/axon/axon_actor.ts) ────────────────────────────────────────────────────────

/** What the axon has done since it (re)started; `address` is where it listens (port 0 resolved). */
export type AxonStats = {
  address: { hostname: string; port: number };
  /** Replies sent, by HTTP status ("200", "403", …). */
  replies: Record<string, number>;
  inFlight: number;
  waiting: number;
  /** Nonce store and rate-limit buckets held (pruned every minute). */
  nonceKeys: number;
  rateBuckets: number;
  /** Blacklist lookups answered from a metagraph the ChainActor marked stale. */
  staleLookups: number;
  /**
   * Connections open now, refused past `axon.max_connections`, closed by a read deadline; requests
   * aborted (body never fully arrived: counted here, logged at debug, never answered 500).
   */
  connections: { open: number; refused: number; timedOut: number; aborted: number };
};

export type AxonMsg = { type: "stats"; reply: Reply<AxonStats> };

/** Counters and sizes, and the address actually bound. */
export function axonStats(axon: ActorRef<AxonMsg>): Promise<AxonStats> {
  return ask(axon, (reply) => ({ type: "stats", reply }));
}

// ── CacheMsg (actors/cache/cache_actor.ts) ─────────────────────────────────────────────────────

export type { ModelCacheSnapshot };

export type CacheMsg = { type: "snapshot"; reply: Reply<ModelCacheSnapshot> };

/** The base-model cache now: each model's state, bytes and download rate, and the disk budget. */
export function cacheSnapshot(cache: ActorRef<CacheMsg>): Promise<ModelCacheSnapshot> {
  return ask(cache, (reply) => ({ type: "snapshot", reply }));
}

// ── StatusMsg (actors/status/status_actor.ts) ──────────────────────────────────────────────────

/** Where the status server listens (port 0 resolved) and the URL to open. */
export type StatusAddress = { hostname: string; port: number; url: string };

/** `null` while the port is taken (the actor retries the bind). */
export type StatusMsg = { type: "address"; reply: Reply<StatusAddress | null> };

/** The status server's bound address, or null while it cannot bind. */
export function statusAddress(status: ActorRef<StatusMsg>): Promise<StatusAddress | null> {
  return ask(status, (reply) => ({ type: "address", reply }));
}
