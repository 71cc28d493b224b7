/**
 * The QueueActor's state and dependencies, as types: what it was started with, the in-memory mirror
 * of the queue (queued entries and their records, admitted tasks waiting for their dataset), the
 * group commit's pending writes, and the runs on the GpuActors. Only the actor's handler touches it.
 */
import type { CreateResult, Stamped, Store, TaskUpdate } from "../../core/store.ts";
import type { Task } from "../../core/task.ts";
import type { Device } from "../../core/device.ts";
import type { DoneEvent } from "../../core/training.ts";
import type { GpuMsg, GpuReport, GpuReporter } from "../protocol.ts";
import type { ActorRef, Clock } from "../runtime/actor.ts";
import type { AdmissionPolicy } from "./policy.ts";
import type { Entry } from "./priority.ts";
import type { ProgressEvent } from "./progress.ts";

export type Trained = { task: Task; done: DoneEvent; outDir: string };

/** As config's `miner.max_interruptions` default, for callers (tests, benchmarks) that pass none. */
export const DEFAULT_MAX_INTERRUPTIONS = 20;

export type QueueDeps = {
  store: Store;
  /**
   * Every device this miner may use, as discovered; placement reads their memory. A function when
   * they change while the miner runs (a Ray cluster's nodes come and go): read at each dispatch.
   */
  devices: readonly Device[] | (() => readonly Device[]);
  /** The running GpuActor of a device, or undefined while it is down (e.g. `sup.child("gpu:cpu")`). */
  gpu: (device: Device) => ActorRef<GpuMsg> | undefined;
  /** `miner.max_queue_size`, `miner.max_attempts`, `miner.data_dir`. */
  maxQueueSize: number;
  maxAttempts: number;
  /** `miner.max_interruptions`: miner crashes one training may live through. Default 20. */
  maxInterruptions?: number;
  dataDir: string;
  /**
   * What validators may ask for (base models, caps, their shares of the queue, the time limit),
   * checked on admit. The miner passes `admissionPolicyOf(cfg)`; absent, the config's defaults.
   */
  policy?: AdmissionPolicy;
  /** Where a task's validated dataset lies; default `<dataDir>/datasets/<task-id>`. */
  datasetDir?: (task: Task) => string;
  /** The validated manifest whose hashes the GPU worker rechecks before training; none by default. */
  manifestFile?: (task: Task) => string | null;
  /** A task passed training and its quality check: it is now `uploading`, its verdict recorded. */
  onTrained?: (trained: Trained) => void;
  /** Every report from the GpuActors, for metrics, tests and benchmarks. */
  onReport?: (report: GpuReport) => void;
  clock?: Clock;
  /** Deadline checks and dispatch retries run this often. Default 1000 ms. */
  tickMs?: number;
  /**
   * Most admit/enqueue writes grouped into one commit (group commit), and dispatch writes per commit.
   * Default 100 (one KV atomic op); 1 writes each alone (the benchmark's baseline).
   */
  batchMax?: number;
  /** Progress reaches the task record at most this often (and on the last step). Default 5000 ms. */
  progressWriteMs?: number;
  /** And the log. Default 10 000 ms. */
  progressLogMs?: number;
};

/** The devices as they are now. */
export function devicesOf(deps: Pick<QueueDeps, "devices">): readonly Device[] {
  return typeof deps.devices === "function" ? deps.devices() : deps.devices;
}

export type Running = {
  taskId: string;
  devices: Device[];
  /** Cancelled or past its deadline: the record is already failed; waiting for the trainer to go. */
  stopping: boolean;
  deadlineMs: number | null;
  /** The GpuActor instance that runs it: a restarted one on the same device is another run's. */
  lead: ActorRef<GpuMsg> | undefined;
  last: ProgressEvent | null;
  wroteMs: number;
  loggedMs: number;
};

/** An admit/enqueue decided against memory (its slot reserved) whose write waits for the group commit. */
export type Pending =
  | { kind: "create"; task: Task; done: (r: CreateResult) => Promise<void> }
  | { kind: "update"; update: TaskUpdate; done: (r: Stamped) => Promise<void> };

export type QueueState = {
  deps: QueueDeps;
  clock: Clock;
  queued: Entry[];
  /** Admitted tasks not yet queued (received … dataset_validated): they count against the limit. */
  waiting: Map<string, Entry>;
  /** The queued tasks' records as this actor last wrote them: written again without a read. */
  records: Map<string, Stamped>;
  /** Writes waiting for the group commit, and the ids they reserve. */
  batch: Pending[];
  /** Messages still in the mailbox: while there are, admit/enqueue keep filling the batch. */
  backlog: () => number;
  /** When the waiting tasks were last re-read from the store (admission.ts `refreshWaiting`). */
  recountedMs: number;
  running: Map<string, Running>;
  /** device key → task id */
  busy: Map<string, string>;
  watched: WeakSet<ActorRef<GpuMsg>>;
  reporter: GpuReporter;
  /** Called once per GpuActor instance: tells the queue when it exits. */
  watch: (key: string, gpu: ActorRef<GpuMsg>) => void;
  /** Sends the actor its own tick. */
  kick: () => void;
  timer: unknown;
};
