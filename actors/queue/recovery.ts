/**
 * The QueueActor's start: reload every task from KV, recount the admitted ones (received and
 * dataset_submitted wait for their dataset and hold a slot), queue every `dataset_validated` one (its
 * enqueue may have been lost with the old queue: the store says it is ready, so it needs no message),
 * and reconcile with the GpuActors. A task that
 * was `training` keeps running if a live GpuActor still runs it (the queue restarted alone);
 * otherwise (the process died) it goes back to the queue via `requeue` and resumes from its last
 * checkpoint, its attempt given back: the miner's crash is not the trainer's failure (outcome.ts
 * `interrupted`). So nothing is lost and nothing runs twice at once.
 */
import { getLogger } from "@logtape/logtape";
import type { Stamped } from "../../core/store.ts";
import { type Task, transition } from "../../core/task.ts";
import { type Device, deviceKey } from "../../core/device.ts";
import { adopt } from "../protocol.ts";
import type { GpuMsg, GpuReport } from "../protocol.ts";
import type { ActorRef } from "../runtime/actor.ts";
import { type Entry, entryOf } from "./priority.ts";
import { compareEntries } from "./priority.ts";
import type { QueueState } from "./runs.ts";
import { PRE_QUEUE } from "./admission.ts";
import { interrupted } from "./outcome.ts";
import { DEFAULT_MAX_INTERRUPTIONS, devicesOf } from "./state.ts";

const log = getLogger(["satori", "queue"]);

/** Moves validated tasks into the queue, in group commits; one that moved on meanwhile is left alone. */
async function queueValidated(state: QueueState, ids: string[]): Promise<Stamped[]> {
  const now = state.clock.now();
  const change = (
    t: Task,
  ) => (t.state === "dataset_validated" ? transition(t, { type: "enqueue" }, now) : null);
  const records = await state.deps.store.updateTasks(ids.map((id) => ({ id, change })));
  return records.filter((r) => r.task.state === "queued");
}

/** Fills `state` from the store; returns reports the GpuActors could not deliver to the old queue. */
export async function recover(state: QueueState): Promise<GpuReport[]> {
  const { store, gpu } = state.deps;
  const queued: Entry[] = [];
  const training: Task[] = [];
  const validated: string[] = [];
  for await (const record of store.stampedTasks()) {
    const { task } = record;
    if (task.state === "queued") {
      queued.push(entryOf(task));
      state.records.set(task.request.id, record);
    }
    if (task.state === "training") training.push(task);
    if (task.state === "dataset_validated") validated.push(task.request.id);
    else if (PRE_QUEUE.has(task.state)) state.waiting.set(task.request.id, entryOf(task));
  }
  for (const record of await queueValidated(state, validated)) {
    queued.push(entryOf(record.task));
    state.records.set(record.task.request.id, record);
  }
  const runningOn = new Map<string, { devices: Device[]; lead: ActorRef<GpuMsg> }>();
  const missed: GpuReport[] = [];
  // One ask per actor: the Ray backend stands behind every device of the cluster.
  const actors = new Map<ActorRef<GpuMsg>, string>();
  for (const d of devicesOf(state.deps)) {
    const ref = gpu(d);
    if (ref && !actors.has(ref)) actors.set(ref, deviceKey(d));
  }
  for (const [ref, key] of actors) {
    try {
      const adoption = await adopt(ref, state.reporter);
      for (const r of adoption.running) runningOn.set(r.taskId, { devices: r.devices, lead: ref });
      missed.push(...adoption.unreported);
      state.watch(key, ref);
    } catch (e) {
      log.warn("Cannot ask {device} what it runs: {message}", { device: key, message: (e as Error).message });
    }
  }
  const now = state.clock.now();
  for (const { request: { id, deadline_ms } } of training) {
    const on = runningOn.get(id);
    if (on) {
      const run = {
        taskId: id,
        devices: on.devices,
        lead: on.lead,
        stopping: false,
        deadlineMs: deadline_ms,
        last: null,
        wroteMs: -Infinity,
        loggedMs: -Infinity,
      };
      state.running.set(id, run);
      for (const d of on.devices) state.busy.set(deviceKey(d), id);
      continue;
    }
    const max = state.deps.maxInterruptions ?? DEFAULT_MAX_INTERRUPTIONS;
    const [record] = await store.updateTasks([{
      id,
      change: (t) => (t.state === "training" ? interrupted(t, max, now) : null),
    }]);
    const { task } = record;
    if (task.state === "failed") {
      log.error("Task {taskId} failed: {reason}", { taskId: id, reason: task.reason });
      continue;
    }
    if (task.state !== "queued") continue;
    state.records.set(id, record);
    queued.push(entryOf(task));
    log.info(
      "Task {taskId} was training when the miner stopped (interruption {n} of at most {max}): back in the queue, it resumes from its checkpoint without using an attempt",
      { taskId: id, n: task.interruptions, max },
    );
  }
  state.queued = queued.sort(compareEntries);
  if (queued.length || training.length || state.waiting.size) {
    log.info(
      "Queue recovered {queued} queued tasks ({requeued} interrupted), {waiting} awaiting their dataset",
      {
        queued: queued.length,
        waiting: state.waiting.size,
        requeued: training.length - runningOn.size,
      },
    );
  }
  return missed;
}
