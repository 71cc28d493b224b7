/**
 * QueueActor: owns the durable priority queue (Deno KV, mirrored in memory), `max_queue_size` over
 * every accepted task not yet training, and which GpuActor runs what. Receives admit / enqueue /
 * cancel / snapshot, the GpuActors' reports, and its own tick (deadlines, dispatch retries). Sends
 * `train` / `cancel` to GpuActors and a "trained" report to the pipeline. Admits and enqueues
 * waiting together in the mailbox share one commit (admission.ts). A full queue, an unplaceable task
 * or a passed deadline are replies; a store failure crashes it.
 */
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import { type Task, TERMINAL_STATES, transition } from "../../core/task.ts";
import { deviceKey } from "../../core/device.ts";
import {
  type CancelResult,
  cancelRun,
  type GpuMsg,
  type GpuReport,
  type QueueMsg,
  type QueueSnapshot,
} from "../protocol.ts";
import { type ActorContext, type ActorRef, realClock, spawn } from "../runtime/actor.ts";
import { admittedCount, flush, onAdmit, onEnqueue, refreshWaiting } from "./admission.ts";
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

async function handle(state: QueueState, msg: Msg): Promise<void> {
  // The group commit holds only admits and enqueues: anything else sees their writes done.
  if (msg.type !== "admit" && msg.type !== "enqueue") await flush(state);
  switch (msg.type) {
    case "admit":
      return await onAdmit(state, msg.task, msg.reply);
    case "enqueue":
      return await onEnqueue(state, msg.task, msg.reply);
    case "cancel":
      return msg.reply(await cancel(state, msg.taskId, "cancelled"));
    case "snapshot":
      await refreshWaiting(state); // so the count validators see is the store's, not a stale mirror
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
  if (task.state === "dataset_validated") {
    // On its way in: the next write is ours (enqueue), so the cancel is too; its slot frees now.
    state.waiting.delete(taskId);
    const failed = await store.updateTask(taskId, (t) => t.state === "dataset_validated" ? fail(t) : t);
    if (failed.state === "failed") return { ok: true, task: failed, was: "validated" };
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
