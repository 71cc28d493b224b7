/**
 * QueueActor: owns the durable priority queue (Deno KV, mirrored in memory) and which GpuActor runs
 * what. Receives enqueue / cancel / snapshot, the GpuActors' reports, and its own tick (deadlines,
 * dispatch retries). Sends `train` / `cancel` to GpuActors and a "trained" notification upward.
 * A full queue, an unplaceable task or a passed deadline are replies; a store failure crashes it.
 */
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import { type Task, TERMINAL_STATES, transition } from "../../core/task.ts";
import { deviceKey } from "../gpu/devices.ts";
import { cancelRun } from "../gpu/gpu_actor.ts";
import type { CancelResult, EnqueueResult, GpuMsg, GpuReport, QueueMsg, QueueSnapshot } from "../protocol.ts";
import { type ActorContext, type ActorRef, ask, realClock, spawn } from "../runtime/actor.ts";
import { needOf, unplaceable } from "./placement.ts";
import { entryOf, expiredIds, insertEntry, removeEntry } from "./priority.ts";
import { recover } from "./recovery.ts";
import {
  dispatch,
  finishRun,
  idleDevices,
  onGpuDown,
  onReport,
  type QueueDeps,
  type QueueState,
} from "./runs.ts";

export type { QueueDeps, Trained } from "./runs.ts";

const log = getLogger(["satori", "queue"]);

type Private =
  | { type: "tick" }
  | { type: "gpuReport"; report: GpuReport }
  | { type: "gpuDown"; key: string; gpu: ActorRef<GpuMsg>; error: unknown };
type Msg = QueueMsg | Private;

export function startQueueActor(deps: QueueDeps): ActorRef<QueueMsg> {
  return spawn<Msg, QueueState>({
    name: "queue",
    capacity: 4_096, // reports from every GPU plus the axon's enqueues
    clock: deps.clock,
    init: (ctx) => init(deps, ctx),
    handle,
    onStop: (state) => state.clock.clearTimeout(state.timer),
  });
}

/** Accepts a `dataset_validated` task into the queue, or refuses with a reason the axon can forward. */
export function enqueue(queue: ActorRef<QueueMsg>, task: Task, timeoutMs = 10_000): Promise<EnqueueResult> {
  return ask(queue, (reply) => ({ type: "enqueue", task, reply }), { timeoutMs });
}

/** Fails a queued or running task with reason "cancelled"; a running trainer is stopped. */
export function cancelTask(queue: ActorRef<QueueMsg>, taskId: string): Promise<CancelResult> {
  return ask(queue, (reply) => ({ type: "cancel", taskId, reply }), { timeoutMs: 10_000 });
}

export function queueSnapshot(queue: ActorRef<QueueMsg>): Promise<QueueSnapshot> {
  return ask(queue, (reply) => ({ type: "snapshot", reply }));
}

async function handle(state: QueueState, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "enqueue":
      return await onEnqueue(state, msg.task, msg.reply);
    case "cancel":
      return msg.reply(await cancel(state, msg.taskId, "cancelled"));
    case "snapshot":
      return msg.reply(snapshot(state));
    case "tick":
      return await tick(state);
    case "gpuReport":
      return await onReport(state, msg.report);
    case "gpuDown":
      return await onGpuDown(state, msg.key, msg.gpu, msg.error);
    default:
      assertNever(msg);
  }
}

async function init(deps: QueueDeps, { self, clock }: ActorContext<Msg>): Promise<QueueState> {
  const state: QueueState = {
    deps,
    clock: deps.clock ?? clock ?? realClock,
    queued: [],
    running: new Map(),
    busy: new Map(),
    watched: new WeakSet(),
    reporter: (report) => self.offer({ type: "gpuReport", report }) === undefined,
    watch: (key: string, gpu: ActorRef<GpuMsg>) => {
      if (state.watched.has(gpu)) return;
      state.watched.add(gpu);
      gpu.onExit((error) => void self.offer({ type: "gpuDown", key, gpu, error }));
    },
    kick: () => void self.offer({ type: "tick" }),
    timer: undefined,
  };
  for (const report of await recover(state)) self.offer({ type: "gpuReport", report });
  state.kick();
  return state;
}

async function onEnqueue(state: QueueState, task: Task, reply: (r: EnqueueResult) => void): Promise<void> {
  reply(await admit(state, task));
  await dispatch(state);
}

async function admit(state: QueueState, given: Task): Promise<EnqueueResult> {
  const { store, devices, maxQueueSize } = state.deps;
  const id = given.request.id;
  const refuse = (reason: "queue_full" | "unplaceable" | "deadline" | "invalid_state", why: string) => ({
    ok: false as const,
    reason,
    message: `Cannot enqueue task "${id}": ${why}`,
  });
  const stored = await store.getTask(id);
  const task = stored ?? given;
  if (task.state !== "dataset_validated") {
    if (stored && !["received", "dataset_submitted"].includes(stored.state)) {
      return { ok: true, task: stored, duplicate: true };
    }
    return refuse("invalid_state", `it is in state "${task.state}", not "dataset_validated"`);
  }
  const now = state.clock.now();
  const deadline = task.request.deadline_ms;
  if (deadline !== null && deadline <= now) {
    const failed = transition(task, { type: "fail", reason: "deadline" }, now);
    await (stored ? store.updateTask(id, () => failed) : store.createTask(failed));
    return refuse("deadline", `its deadline passed ${Math.ceil((now - deadline) / 1000)} s ago`);
  }
  const why = unplaceable(needOf(task), devices);
  if (why) return refuse("unplaceable", why);
  if (state.queued.length >= maxQueueSize) {
    return refuse("queue_full", `queue is full (${state.queued.length} of ${maxQueueSize})`);
  }
  const queued = stored
    ? await store.updateTask(id, (t) => transition(t, { type: "enqueue" }, now))
    : (await store.createTask(transition(task, { type: "enqueue" }, now))).task;
  insertEntry(state.queued, entryOf(queued));
  log.info("Queued task {taskId} (priority {priority}, {n} waiting)", {
    taskId: id,
    priority: queued.request.priority,
    n: state.queued.length,
  });
  return { ok: true, task: queued, duplicate: false };
}

/** Fails `taskId` with `reason`; a running trainer is told to stop and its device frees when it has. */
async function cancel(state: QueueState, taskId: string, reason: string): Promise<CancelResult> {
  const { store, gpu } = state.deps;
  const fail = (t: Task) => transition(t, { type: "fail", reason }, state.clock.now());
  if (removeEntry(state.queued, taskId)) {
    return { ok: true, task: await store.updateTask(taskId, fail), was: "queued" };
  }
  const run = state.running.get(taskId);
  if (run && !run.stopping) {
    run.stopping = true;
    const task = await store.updateTask(taskId, fail);
    const lead = gpu(run.devices[0]);
    const stopped = lead
      ? await cancelRun(lead, taskId).catch((e: Error) => ({ ok: false, message: e.message }))
      : null;
    // Nothing there to stop (the run is just ending, or its GpuActor is down): free the devices now.
    if (!stopped?.ok) await finishRun(state, taskId, { ok: false, code: "cancelled", message: reason });
    log.info("Task {taskId} stopped while training: {reason}", { taskId, reason });
    return { ok: true, task, was: "running" };
  }
  const task = await store.getTask(taskId);
  if (!task) {
    return { ok: false, reason: "not_found", message: `Cannot cancel task "${taskId}": no such task` };
  }
  const where = TERMINAL_STATES.has(task.state) || run ? "it has already finished" : `it is not queued`;
  return {
    ok: false,
    reason: "not_queued",
    message: `Cannot cancel task "${taskId}": ${where} (${task.state})`,
  };
}

function snapshot(state: QueueState): QueueSnapshot {
  return {
    queued: state.queued.map((e) => e.id),
    running: [...state.running.values()].map((r) => ({
      taskId: r.taskId,
      devices: r.devices.map(deviceKey),
    })),
    idle: idleDevices(state).map(deviceKey),
  };
}

/** Fails what passed its deadline (queued or running), then dispatches and schedules the next tick. */
async function tick(state: QueueState): Promise<void> {
  state.clock.clearTimeout(state.timer);
  const now = state.clock.now();
  for (const id of expiredIds(state.queued, now)) await cancel(state, id, "deadline");
  for (const run of [...state.running.values()]) {
    if (!run.stopping && run.deadlineMs !== null && run.deadlineMs <= now) {
      await cancel(state, run.taskId, "deadline");
    }
  }
  await dispatch(state);
  state.timer = state.clock.setTimeout(state.kick, state.deps.tickMs ?? 1_000);
}
