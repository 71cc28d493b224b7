/**
 * QueueActor: owns the durable priority queue (Deno KV, mirrored in memory), `max_queue_size` over
 * every accepted task not yet training, and which GpuActor runs what. Receives admit / enqueue /
 * release / cancel / snapshot, the GpuActors' reports, and its own tick (deadlines, dispatch retries).
 * Sends `train` / `cancel` to GpuActors and a "trained" notification upward. Admits and enqueues
 * waiting together in the mailbox share one commit (admission.ts). A full queue, an unplaceable task
 * or a passed deadline are replies; a store failure crashes it.
 */
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import { type Task, TERMINAL_STATES, transition } from "../../core/task.ts";
import { deviceKey } from "../gpu/devices.ts";
import { cancelRun } from "../gpu/gpu_actor.ts";
import type {
  AdmitResult,
  CancelResult,
  EnqueueResult,
  GpuMsg,
  GpuReport,
  QueueMsg,
  QueueSnapshot,
} from "../protocol.ts";
import { type ActorContext, type ActorRef, ask, realClock, spawn } from "../runtime/actor.ts";
import { admittedCount, flush, onAdmit, onEnqueue, release as releaseSlot } from "./admission.ts";
import { expiredIds, removeEntry } from "./priority.ts";
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
    onStop: async (state) => {
      state.clock.clearTimeout(state.timer);
      await flush(state);
    },
  });
}

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

/**
 * Frees the slot of an admitted task that failed or was rejected before it was queued. Fire and
 * forget: when the queue is down or its mailbox full, the message is dropped, and the queue finds the
 * slot free anyway (a full queue re-reads its waiting tasks before it refuses; a restart recounts).
 */
export function release(queue: ActorRef<QueueMsg> | undefined, taskId: string): void {
  const refused = queue ? queue.offer({ type: "release", taskId }) : "the queue is down";
  if (refused) {
    log.debug("Task {taskId}: release not sent ({why}); the queue recounts", {
      taskId,
      why: String(refused),
    });
  }
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
  // The group commit holds only admits and enqueues: anything else sees their writes done.
  if (msg.type !== "admit" && msg.type !== "enqueue") await flush(state);
  switch (msg.type) {
    case "admit":
      return await onAdmit(state, msg.task, msg.reply);
    case "enqueue":
      return await onEnqueue(state, msg.task, msg.reply);
    case "release":
      return releaseSlot(state, msg.taskId);
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
    waiting: new Map(),
    records: new Map(),
    batch: [],
    backlog: () => self.mailboxSize,
    recountedMs: -Infinity,
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

/** Fails `taskId` with `reason`; a running trainer is told to stop and its device frees when it has. */
async function cancel(state: QueueState, taskId: string, reason: string): Promise<CancelResult> {
  const { store, gpu } = state.deps;
  const fail = (t: Task) => transition(t, { type: "fail", reason }, state.clock.now());
  if (removeEntry(state.queued, taskId)) {
    const known = state.records.get(taskId);
    state.records.delete(taskId);
    const [record] = await store.updateTasks([{ id: taskId, known, change: fail }]);
    return { ok: true, task: record.task, was: "queued" };
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
    admitted: admittedCount(state),
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
