/**
 * The QueueActor's runs: dispatching the next task that fits onto idle GpuActors, following each
 * run's reports (progress into the record, throttled, and into the log) and settling it when it
 * ends. Functions of the actor's state, called only from its handler, so they never interleave.
 */
import { getLogger } from "@logtape/logtape";
import { datasetDir, outputDir } from "../../core/paths.ts";
import { type Task, trainingRuns, trainingSpecOf, transition } from "../../core/task.ts";
import { TransitionError } from "../../core/errors.ts";
import { type Device, deviceKey } from "../../core/device.ts";
import { train } from "../protocol.ts";
import type { DoneEvent, TrainerOutcome } from "../../core/training.ts";
import type { GpuMsg, GpuReport, TrainJob, TrainStart } from "../protocol.ts";
import type { ActorRef } from "../runtime/actor.ts";
import { devicesOf, type QueueState, type Running } from "./state.ts";
import { afterRun } from "./outcome.ts";
import { place } from "./placement.ts";
import { type Entry, entryOf, insertEntry } from "./priority.ts";
import { type ProgressEvent, progressLine, stepRate } from "./progress.ts";

const log = getLogger(["satori", "queue"]);

export type { Pending, QueueDeps, QueueState, Running, Trained } from "./state.ts";

export function idleDevices(state: QueueState): Device[] {
  return devicesOf(state.deps).filter((d) => {
    if (state.busy.has(deviceKey(d))) return false;
    const status = state.deps.gpu(d)?.status;
    return status === "running" || status === "starting";
  });
}

/**
 * Starts every queued task that fits, highest priority first; a big task does not block small ones.
 * All the `startTraining` writes go in one group commit, then every lead GpuActor is asked at once.
 */
export async function dispatch(state: QueueState): Promise<void> {
  let idle = idleDevices(state);
  const picks: { entry: Entry; devices: Device[] }[] = [];
  for (let i = 0; i < state.queued.length && idle.length > 0; i++) {
    const devices = place(state.queued[i].need, idle);
    if (!devices) continue;
    const [entry] = state.queued.splice(i--, 1);
    idle = idle.filter((d) => !devices.includes(d));
    picks.push({ entry, devices });
  }
  const size = state.deps.batchMax ?? 100;
  for (let i = 0; i < picks.length; i += size) await startRuns(state, picks.slice(i, i + size));
}

async function startRuns(state: QueueState, picks: { entry: Entry; devices: Device[] }[]): Promise<void> {
  const now = state.clock.now();
  const moved = new Set<string>();
  const records = await state.deps.store.updateTasks(picks.map(({ entry: { id } }) => ({
    id,
    known: state.records.get(id),
    change: (t: Task) => {
      moved.delete(id);
      if (t.state !== "queued") return null;
      moved.add(id);
      return transition(t, { type: "startTraining" }, now);
    },
  })));
  const starts = picks.map(({ entry, devices }, k) => {
    state.records.delete(entry.id);
    if (moved.has(entry.id)) return launch(state, entry, devices, records[k].task);
    const message = new TransitionError(entry.id, records[k].task.state, "startTraining").message;
    log.warn("Task {taskId} left the queue behind its back: {message}", { taskId: entry.id, message });
    return Promise.resolve<TrainStart>({ ok: true });
  });
  const started = await Promise.all(starts);
  for (const [k, start] of started.entries()) {
    if (start.ok) continue;
    const taskId = picks[k].entry.id;
    log.warn("Cannot start task {taskId}: {message}; it waits for another device", {
      taskId,
      message: start.message,
    });
    // The trainer never ran, so this costs no attempt.
    await finishRun(state, taskId, { ok: false, code: "cancelled", message: start.message });
  }
}

/** Records the run and asks its lead GpuActor to start it. */
function launch(state: QueueState, entry: Entry, devices: Device[], task: Task): Promise<TrainStart> {
  const { deps } = state;
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
  const job: TrainJob = {
    taskId: entry.id,
    spec: trainingSpecOf(task),
    datasetDir: deps.datasetDir?.(task) ?? datasetDir(deps.dataDir, entry.id),
    manifestFile: deps.manifestFile?.(task) ?? null,
    // Any earlier run may have left a checkpoint; the trainer starts from 0 when there is none.
    resume: trainingRuns(task) > 1,
    run: trainingRuns(task),
    devices,
  };
  if (!lead) {
    return Promise.resolve({
      ok: false,
      reason: "busy",
      message: `no GpuActor for ${deviceKey(devices[0])}`,
    });
  }
  state.watch(deviceKey(devices[0]), lead);
  return train(lead, job, state.reporter).catch((e: Error) => ({
    ok: false,
    reason: "busy",
    message: e.message,
  }));
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
      log.warn("Task {taskId}: {reason}; retrying from its checkpoint", { taskId, reason: next.log });
      return await requeue(state, taskId, (t) => transition(t, { type: "requeue" }, now));
    case "requeue":
      return await requeue(state, taskId, (t) => ({
        ...transition(t, { type: "requeue" }, now),
        attempts: t.attempts - 1,
      }));
    case "fail":
      // The whole story for the operator; the record (what validators see) gets the fixed phrase.
      log.error("Task {taskId} failed: {reason}", { taskId, reason: next.log });
      await store.updateTask(taskId, (t) => transition(t, { type: "fail", reason: next.reason }, now));
  }
}

async function requeue(state: QueueState, taskId: string, change: (t: Task) => Task): Promise<void> {
  const [record] = await state.deps.store.updateTasks([{ id: taskId, change }]);
  state.records.set(taskId, record);
  insertEntry(state.queued, entryOf(record.task));
}

/** One write moves the task to `uploading` with its quality verdict and adapter: nothing to keep in step. */
async function trained(state: QueueState, task: Task, done: DoneEvent): Promise<void> {
  const { store, dataDir } = state.deps;
  const id = task.request.id;
  const outDir = outputDir(dataDir, id);
  const after = await store.updateTask(
    id,
    (t) => transition(t, { type: "trained", done, outDir }, state.clock.now()),
  );
  log.info("Task {taskId} trained: {detail}", { taskId: id, detail: done.quality.detail });
  state.deps.onTrained?.({ task: after, done, outDir });
}

/** A GpuActor exited; every run it led that never reported its end is settled as a crash. */
export async function onGpuDown(
  state: QueueState,
  key: string,
  gpu: ActorRef<GpuMsg>,
  error: unknown,
): Promise<void> {
  const why = error instanceof Error
    ? ((error.cause as Error | undefined)?.message ?? error.message)
    : String(error);
  const led = [...state.running.values()].filter((run) => run.lead === gpu);
  for (const run of led) {
    await finishRun(state, run.taskId, {
      ok: false,
      code: "crashed",
      message: `GPU actor ${key} stopped: ${why}`,
    });
  }
  if (led.length) await dispatch(state);
}
