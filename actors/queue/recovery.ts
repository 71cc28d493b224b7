/**
 * The QueueActor's start: reload every task from KV and reconcile it with the GpuActors. A task that
 * was `training` keeps running if a live GpuActor still runs it (the queue restarted alone);
 * otherwise (the process died) it goes back to the queue via `requeue` and resumes from its last
 * checkpoint. So nothing is lost and nothing runs twice at once.
 */
import { getLogger } from "@logtape/logtape";
import { type Task, transition } from "../../core/task.ts";
import { type Device, deviceKey } from "../gpu/devices.ts";
import { adopt } from "../gpu/gpu_actor.ts";
import type { GpuMsg, GpuReport } from "../protocol.ts";
import type { ActorRef } from "../runtime/actor.ts";
import { type Entry, entryOf } from "./priority.ts";
import { compareEntries } from "./priority.ts";
import type { QueueState } from "./runs.ts";

const log = getLogger(["satori", "queue"]);

/** Fills `state` from the store; returns reports the GpuActors could not deliver to the old queue. */
export async function recover(state: QueueState): Promise<GpuReport[]> {
  const { store, devices, gpu } = state.deps;
  const queued: Entry[] = [];
  const training: Task[] = [];
  for await (const task of store.tasks()) {
    if (task.state === "queued") queued.push(entryOf(task));
    if (task.state === "training") training.push(task);
  }
  const runningOn = new Map<string, { devices: Device[]; lead: ActorRef<GpuMsg> }>();
  const missed: GpuReport[] = [];
  for (const d of devices) {
    const ref = gpu(d);
    if (!ref) continue;
    try {
      const adoption = await adopt(ref, state.reporter);
      if (adoption.running) {
        runningOn.set(adoption.running.taskId, { devices: adoption.running.devices, lead: ref });
      }
      if (adoption.unreported) missed.push(adoption.unreported);
      state.watch(deviceKey(d), ref);
    } catch (e) {
      log.warn("Cannot ask {device} what it runs: {message}", {
        device: deviceKey(d),
        message: (e as Error).message,
      });
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
    const task = await store.updateTask(id, (t) => transition(t, { type: "requeue" }, now));
    queued.push(entryOf(task));
    log.info(
      "Task {taskId} was training when the miner stopped: back in the queue, it resumes from its checkpoint",
      {
        taskId: id,
      },
    );
  }
  state.queued = queued.sort(compareEntries);
  if (queued.length || training.length) {
    log.info("Queue recovered {queued} queued tasks ({requeued} interrupted)", {
      queued: queued.length,
      requeued: training.length - runningOn.size,
    });
  }
  return missed;
}
