/**
 * Every public message union and its reply types, one section per actor (see STYLE.md). Tags are
 * imperative lowerCamel verbs; each message that expects an answer carries `reply: Reply<Result>`
 * with its result type declared beside it. Callers use each actor's interface functions, never
 * build these by hand. Timer ticks and child results stay private to the actor's own file.
 */
import type { Reply } from "./runtime/actor.ts";
import type { Task, TaskResult } from "../core/task.ts";
import type { TrainerEvent, TrainingSpec } from "../core/training.ts";
import type { Device } from "./gpu/devices.ts";
import type { TrainerOutcome } from "./gpu/trainer_events.ts";
export type { Reply };

// ── ChainMsg (actors/chain/chain_actor.ts) ─────────────────────────────────────────────────────

/**
 * What the miner knows of a caller's hotkey on its netuid, from the last metagraph sync (never a chain
 * read per request). `stale`: the chain is unreachable, the last sync failed, or none has finished yet.
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

// ── QueueMsg (actors/queue/queue_actor.ts) ─────────────────────────────────────────────────────

/**
 * A task as the validator sent it (state `received`), taken into the queue's count or refused.
 * `duplicate`: the id was already accepted; `task` is the stored record, unchanged. `position`: the
 * 1-based place among the accepted tasks not yet training, in dispatch order (0 once it trains or ended).
 */
export type AdmitResult =
  | { ok: true; task: Task; duplicate: boolean; position: number }
  | { ok: false; reason: "queue_full" | "deadline" | "unplaceable"; message: string };

/** `duplicate`: the id was already accepted; `task` is the stored record, unchanged. */
export type EnqueueResult =
  | { ok: true; task: Task; duplicate: boolean }
  | {
    ok: false;
    reason: "queue_full" | "unplaceable" | "deadline" | "invalid_state";
    message: string;
  };

/** `was`: where the task was when cancelled; a running task is failed now and its trainer stopped. */
export type CancelResult =
  | { ok: true; task: Task; was: "queued" | "running" }
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
  | { type: "release"; taskId: string }
  | { type: "cancel"; taskId: string; reply: Reply<CancelResult> }
  | { type: "snapshot"; reply: Reply<QueueSnapshot> };

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

/** A (re)started queue takes over the reports of a GpuActor's run and of any `ended` it missed. */
export type GpuAdoption = {
  running: { taskId: string; devices: Device[] } | null;
  unreported: GpuReport | null;
};

export type GpuMsg =
  | { type: "train"; job: TrainJob; report: GpuReporter; reply: Reply<TrainStart> }
  | { type: "cancel"; taskId: string; reply: Reply<GpuCancelResult> }
  | { type: "adopt"; report: GpuReporter; reply: Reply<GpuAdoption> };

// ── UploadMsg (actors/upload/upload_actor.ts) ──────────────────────────────────────────────────

/** A task that passed training and its quality check: its record, the trainer's `done`, and its out dir. */
export type UploadRequest = { task: Task; done: import("./gpu/trainer_events.ts").DoneEvent; outDir: string };

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

// ── SubmitMsg (actors/submit/submit_actor.ts) ──────────────────────────────────────────────────

/** `started: false`: a job for the task was already running (a retry or a recovery); nothing new began. */
export type PrepareDatasetResult =
  | { ok: true; started: boolean }
  | { ok: false; reason: "not_found" | "invalid_state"; message: string };

/**
 * `ok: true`: the result is in the durable outbox and will be sent until the task center acknowledges
 * it (the task then moves to `done`, or to `failed` on a 4xx). `quality_failed`: nothing was queued.
 */
export type SubmitResultReply =
  | { ok: true; task: Task }
  | { ok: false; reason: "not_found" | "invalid_state" | "quality_failed"; message: string };

/** What the SubmitActor tells whoever started it as outcomes land; `task` is the stored record after it. */
export type SubmitReport =
  | { kind: "datasetValidated"; task: Task }
  | { kind: "datasetFailed"; task: Task }
  | { kind: "resultDelivered"; task: Task }
  | { kind: "resultFailed"; task: Task };

export type SubmitMsg =
  | { type: "prepareDataset"; taskId: string; reply: Reply<PrepareDatasetResult> }
  | { type: "submitResult"; taskId: string; result: TaskResult; reply: Reply<SubmitResultReply> };

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
};

export type AxonMsg = { type: "stats"; reply: Reply<AxonStats> };
