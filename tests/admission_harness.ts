/**
 * A validator's side of admission without sockets: the PipelineActor's `accept` in front of a real
 * QueueActor (in-memory store, fake clock, no GpuActor up, so nothing trains) and a task center actor
 * that only acknowledges `prepareDataset`. For the tests of what validators may ask for.
 */
import { startPipelineActor } from "../actors/pipeline/pipeline_actor.ts";
import type { AdmissionPolicy } from "../actors/queue/policy.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { type AcceptResult, acceptTask, type TaskCenterMsg } from "../actors/protocol.ts";
import { spawn } from "../actors/runtime/actor.ts";
import type { Device } from "../core/device.ts";
import { Store } from "../core/store.ts";
import { type Task, TaskRequest } from "../core/task.ts";
import { type FakeClock, fakeClock } from "./helpers.ts";
import { cudaDevice } from "./queue_fake_gpu.ts";

export const T0 = 1_700_000_000_000;

/** A text task for the configured base model (the one the admission policy allows by default). */
export function admissionRequest(id: string, over: Record<string, unknown> = {}): TaskRequest {
  return TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training: { base_model: "Qwen/Qwen2.5-7B-Instruct", hyperparameters: { max_steps: 4 } },
    ...over,
  });
}

export type Admission = AsyncDisposable & {
  store: Store;
  clock: FakeClock;
  queue: ReturnType<typeof startQueueActor>;
  /** `prepareDataset` asks the fake task center received, by task id. */
  prepared: string[];
  accept(request: TaskRequest, hotkey: string, stakeTao: number): Promise<AcceptResult>;
  /** Moves a stored record as the rest of the miner would (a test shortcut past the state machine). */
  setState(id: string, state: Task["state"]): Promise<Task>;
};

export async function startAdmission(
  opts: { devices?: Device[]; maxQueueSize?: number; policy?: AdmissionPolicy } = {},
): Promise<Admission> {
  const store = await Store.open();
  const clock = fakeClock(T0);
  const queue = startQueueActor({
    store,
    devices: opts.devices ?? [cudaDevice(0)],
    gpu: () => undefined,
    maxQueueSize: opts.maxQueueSize ?? 100,
    maxAttempts: 3,
    dataDir: "/srv/data",
    clock: clock.clock,
    policy: opts.policy,
  });
  const prepared: string[] = [];
  const taskCenter = spawn<TaskCenterMsg, null>({
    name: "fake-task-center",
    init: () => null,
    handle: (_s, msg) => {
      if (msg.type !== "prepareDataset") {
        return msg.reply({ ok: false, reason: "not_found", message: "not in this test" });
      }
      prepared.push(msg.taskId);
      msg.reply({ ok: true, started: true });
    },
  });
  const pipeline = startPipelineActor({
    store,
    queue: () => queue,
    taskCenter: () => taskCenter,
    upload: () => undefined,
    clock: clock.clock,
  });
  return {
    store,
    clock,
    queue,
    prepared,
    accept: (request, hotkey, stakeTao) => acceptTask(pipeline, request, { hotkey, stakeTao }),
    setState: (id, state) => store.updateTask(id, (t) => ({ ...t, state })),
    [Symbol.asyncDispose]: async () => {
      await pipeline.stop();
      await taskCenter.stop();
      await queue.stop();
      store.close();
    },
  };
}
