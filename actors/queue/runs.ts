/**
 * The QueueActor's runs: dispatching the next task that fits onto idle GpuActors, following each
 * run's reports (progress into the record, throttled, and into the log) and settling it when it
 * ends. Functions of the actor's state, called only from its handler, so they never interleave.
 */
import { getLogger } from "@logtape/logtape";
import type { Store } from "../../core/store.ts";
import { type Task, trainingSpecOf, transition } from "../../core/task.ts";
import { TransitionError } from "../../core/errors.ts";
import { type Device, deviceKey } from "../gpu/devices.ts";
import { train } from "../gpu/gpu_actor.ts";
import type { DoneEvent, TrainerOutcome } from "../gpu/trainer_events.ts";
import type { GpuMsg, GpuReport, GpuReporter, TrainStart } from "../protocol.ts";
import type { ActorRef, Clock } from "../runtime/actor.ts";
import { afterRun } from "./outcome.ts";
import { place } from "./placement.ts";
import { type Entry, entryOf, insertEntry } from "./priority.ts";
import { type ProgressEvent, progressLine, stepRate } from "./progress.ts";

const log = getLogger(["satori", "queue"]);

export type Trained = { task: Task; done: DoneEvent; outDir: string };

export type QueueDeps = {
  store: Store;
  /** Every device this miner may use, as discovered; placement reads their memory. */
  devices: Device[];
  /** The running GpuActor of a device, or undefined while it is down (e.g. `sup.child("gpu:cpu")`). */
  gpu: (device: Device) => ActorRef<GpuMsg> | undefined;
  /** `miner.max_queue_size`, `miner.max_attempts`, `miner.data_dir`. */
  maxQueueSize: number;
  maxAttempts: number;
  dataDir: string;
  /** Where a task's validated dataset lies; default `<dataDir>/datasets/<task-id>`. */
  datasetDir?: (task: Task) => string;
  /** A task passed training and its quality check; it is now `uploading` and in the outbox. */
  onTrained?: (trained: Trained) => void;
  /** Every report from the GpuActors, for metrics, tests and benchmarks. */
  onReport?: (report: GpuReport) => void;
  clock?: Clock;
  /** Deadline checks and dispatch retries run this often. Default 1000 ms. */
  tickMs?: number;
  /** Progress reaches the task record at most this often (and on the last step). Default 5000 ms. */
  progressWriteMs?: number;
  /** And the log. Default 10 000 ms. */
  progressLogMs?: number;
};

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

export type QueueState = {
  deps: QueueDeps;
  clock: Clock;
  queued: Entry[];
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

export function idleDevices(state: QueueState): Device[] {
  return state.deps.devices.filter((d) => {
    if (state.busy.has(deviceKey(d))) return false;
    const status = state.deps.gpu(d)?.status;
    return status === "running" || status === "starting";
  });
}

/** Starts every queued task that fits, highest priority first; a big task does not block small ones. */
export async function dispatch(state: QueueState): Promise<void> {
  let idle = idleDevices(state);
  for (let i = 0; i < state.queued.length && idle.length > 0; i++) {
    const devices = place(state.queued[i].need, idle);
    if (!devices) continue;
    const [entry] = state.queued.splice(i--, 1);
    idle = idle.filter((d) => !devices.includes(d));
    await startRun(state, entry, devices);
  }
}

async function startRun(state: QueueState, entry: Entry, devices: Device[]): Promise<void> {
  const { deps } = state;
  let task: Task;
  try {
    task = await deps.store.updateTask(
      entry.id,
      (t) => transition(t, { type: "startTraining" }, state.clock.now()),
    );
  } catch (e) {
    if (!(e instanceof TransitionError)) throw e;
    return void log.warn("Task {taskId} left the queue behind its back: {message}", {
      taskId: entry.id,
      message: e.message,
    });
  }
  const lead = deps.gpu(devices[0]);
  const run: Running = {
    taskId: entry.id,
    devices,
    stopping: false,
    deadlineMs: entry.deadlineMs,
    lead,
    last: null,
    wroteMs: -Infinity,
    loggedMs: -Infinity,
  };
  state.running.set(entry.id, run);
  for (const d of devices) state.busy.set(deviceKey(d), entry.id);
  const job = {
    taskId: entry.id,
    spec: trainingSpecOf(task),
    datasetDir: deps.datasetDir?.(task) ?? `${deps.dataDir}/datasets/${entry.id}`,
    // Any earlier run may have left a checkpoint; the trainer starts from 0 when there is none.
    resume: task.history.filter((h) => h.state === "training").length > 1,
    devices,
  };
  let started: TrainStart;
  try {
    if (!lead) throw new Error(`no GpuActor for ${deviceKey(devices[0])}`);
    state.watch(deviceKey(devices[0]), lead);
    started = await train(lead, job, state.reporter);
  } catch (e) {
    started = { ok: false, reason: "busy", message: (e as Error).message };
  }
  if (started.ok) return;
  log.warn("Cannot start task {taskId}: {message}; it waits for another device", {
    taskId: entry.id,
    message: started.message,
  });
  // The trainer never ran, so this costs no attempt.
  await finishRun(state, entry.id, { ok: false, code: "cancelled", message: started.message });
}

export async function onReport(state: QueueState, report: GpuReport): Promise<void> {
  state.deps.onReport?.(report);
  const run = state.running.get(report.taskId);
  if (!run) return;
  if (report.kind === "ended") {
    await finishRun(state, report.taskId, report.outcome);
    return await dispatch(state);
  }
  if (report.kind === "spawned") return void log.debug("Trainer for {taskId} started as pid {pid}", report);
  const ev = report.event;
  if (ev.type === "progress") return await onProgress(state, run, ev);
  if (ev.type === "checkpoint") {
    log.info("Task {taskId} saved a checkpoint at step {step}", { taskId: run.taskId, step: ev.step });
  }
  if (ev.type === "started" && ev.start_step > 0) {
    log.info("Task {taskId} resumes from step {step}", { taskId: run.taskId, step: ev.start_step });
  }
}

async function onProgress(state: QueueState, run: Running, ev: ProgressEvent): Promise<void> {
  const { progressLogMs = 10_000, progressWriteMs = 5_000 } = state.deps;
  const rate = stepRate(run.last, ev);
  run.last = ev;
  const now = state.clock.now();
  const last = ev.step >= ev.total;
  if (last || now - run.loggedMs >= progressLogMs) {
    run.loggedMs = now;
    log.info(progressLine(run.taskId, ev, rate), {
      taskId: run.taskId,
      step: ev.step,
      total: ev.total,
      rate,
    });
  }
  if (last || now - run.wroteMs >= progressWriteMs) {
    run.wroteMs = now;
    await writeProgress(state, run);
  }
}

async function writeProgress(state: QueueState, run: Running): Promise<void> {
  const ev = run.last;
  if (!ev || run.stopping) return;
  const progress = { step: ev.step, total: ev.total, loss: ev.loss };
  await state.deps.store.updateTask(run.taskId, (t) => (t.state === "training" ? { ...t, progress } : t));
}

/** Settles a run: frees its devices and moves the task on (trained, retried, requeued or failed). */
export async function finishRun(state: QueueState, taskId: string, outcome: TrainerOutcome): Promise<void> {
  const run = state.running.get(taskId);
  if (!run) return;
  state.running.delete(taskId);
  for (const d of run.devices) if (state.busy.get(deviceKey(d)) === taskId) state.busy.delete(deviceKey(d));
  const { store, maxAttempts } = state.deps;
  const task = await store.getTask(taskId);
  if (run.stopping || task?.state !== "training") return;
  await writeProgress(state, run);
  const now = state.clock.now();
  const next = afterRun(task, outcome, maxAttempts);
  switch (next.kind) {
    case "trained":
      return await trained(state, task, next.done);
    case "retry":
      log.warn("Task {taskId}: {reason}; retrying from its checkpoint", { taskId, reason: next.reason });
      return requeued(state, await store.updateTask(taskId, (t) => transition(t, { type: "requeue" }, now)));
    case "requeue": {
      const back = (t: Task) => ({ ...transition(t, { type: "requeue" }, now), attempts: t.attempts - 1 });
      return requeued(state, await store.updateTask(taskId, back));
    }
    case "fail":
      log.error("Task {taskId} failed: {reason}", { taskId, reason: next.reason });
      await store.updateTask(taskId, (t) => transition(t, { type: "fail", reason: next.reason }, now));
  }
}

function requeued(state: QueueState, task: Task): void {
  insertEntry(state.queued, entryOf(task));
}

async function trained(state: QueueState, task: Task, done: DoneEvent): Promise<void> {
  const { store, dataDir } = state.deps;
  const id = task.request.id;
  const outDir = `${dataDir}/work/${id}/out`;
  // Outbox first: a crash between the two writes retrains the task rather than losing its result.
  await store.putOutbox(id, "trained", { done, outDir });
  const now = state.clock.now();
  const after = await store.updateTask(
    id,
    (t) => transition(transition(t, { type: "trainingDone" }, now), { type: "qualityPassed" }, now),
  );
  log.info("Task {taskId} trained: {detail}", { taskId: id, detail: done.quality.detail });
  state.deps.onTrained?.({ task: after, done, outDir });
}

/** A GpuActor exited; a run it led that never reported its end is settled as a crash. */
export async function onGpuDown(
  state: QueueState,
  key: string,
  gpu: ActorRef<GpuMsg>,
  error: unknown,
): Promise<void> {
  const taskId = state.busy.get(key);
  const run = taskId === undefined ? undefined : state.running.get(taskId);
  if (!run || run.lead !== gpu) return;
  const why = error instanceof Error
    ? ((error.cause as Error | undefined)?.message ?? error.message)
    : String(error);
  await finishRun(state, run.taskId, {
    ok: false,
    code: "crashed",
    message: `GPU actor ${key} stopped: ${why}`,
  });
  await dispatch(state);
}
