/**
 * A killed trainer and a crashed GPU worker: the QueueActor retries the task (the supervisor restarts
 * the GpuActor) and fails it with the reason after `maxAttempts`. Uses the fake trainer, no Python.
 */
import assert from "node:assert/strict";
import { CPU_DEVICE } from "../core/device.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import type { GpuMsg, GpuReport } from "../actors/protocol.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { enqueue } from "../actors/protocol.ts";
import type { ActorRef } from "../actors/runtime/actor.ts";
import { startSupervisor } from "../actors/runtime/supervisor.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { textTask } from "./fixtures.ts";
import { waitFor } from "./helpers.ts";

const FAKE_PYTHON = new URL("./gpu_fake_python.sh", import.meta.url).pathname;
const CRASHING_WORKER = new URL("./gpu_crashing_worker.ts", import.meta.url);

async function minerWith(workerUrl?: URL) {
  const dataDir = await Deno.makeTempDir({ prefix: "gpu-retry-" });
  const store = await Store.open();
  const gpus = await startSupervisor({
    name: "gpus",
    strategy: "one_for_one",
    intensity: 5,
    periodMs: 60_000,
    backoff: { minMs: 1, maxMs: 5, jitter: 0 },
    children: [{
      id: "gpu:cpu",
      start: () =>
        startGpuActor({
          device: CPU_DEVICE,
          dataDir,
          python: FAKE_PYTHON,
          trainerRoot: Deno.cwd(),
          timeLimitMs: 60_000,
          graceMs: 1_000,
          workerUrl,
        }),
    }],
  });
  const reports: GpuReport[] = [];
  const queue = startQueueActor({
    store,
    devices: [CPU_DEVICE],
    gpu: () => gpus.child<ActorRef<GpuMsg>>("gpu:cpu"),
    maxQueueSize: 10,
    maxAttempts: 2,
    dataDir,
    tickMs: 20, // picks the task up again once the GpuActor is back
    onReport: (r) => reports.push(r),
  });
  const hanging = textTask("t-hang", 1_000, { training: { base_model: "fake:hang" } });
  const task = transition(transition(hanging, { type: "submitDataset" }, 1), { type: "datasetValidated" }, 1);
  const spawnedPids = () =>
    reports.filter((r) => r.kind === "spawned").map((r) => (r as { pid: number }).pid);
  const failed = async () => (await store.getTask("t-hang"))?.state === "failed";
  const dispose = async () => {
    await queue.stop();
    await gpus.stop();
    store.close();
  };
  return { store, gpus, queue, task, spawnedPids, failed, [Symbol.asyncDispose]: dispose };
}

Deno.test("QueueActor retries a SIGKILLed trainer, then fails the task with its code", async () => {
  await using m = await minerWith();
  await enqueue(m.queue, m.task);
  for (let attempt = 1; attempt <= 2; attempt++) {
    await waitFor(() => m.spawnedPids().length === attempt, {
      timeoutMs: 10_000,
      what: `attempt ${attempt}`,
    });
    Deno.kill(m.spawnedPids()[attempt - 1], "SIGKILL");
  }
  await waitFor(m.failed, { timeoutMs: 10_000, what: "the task to fail" });
  const task = await m.store.getTask("t-hang");
  assert.equal(task?.attempts, 2);
  assert.equal(task?.reason, "Training failed after 2 attempts (crashed)");
});

Deno.test("QueueActor retries when the GPU worker crashes (the supervisor restarts it), then fails the task", async () => {
  const flag = `${await Deno.makeTempDir()}/crash`;
  Deno.env.set("SATORI_TEST_CRASH_FLAG", flag);
  await using m = await minerWith(CRASHING_WORKER);
  await enqueue(m.queue, m.task);
  for (let attempt = 1; attempt <= 2; attempt++) {
    await waitFor(() => m.spawnedPids().length === attempt, {
      timeoutMs: 10_000,
      what: `attempt ${attempt}`,
    });
    await Deno.writeTextFile(flag, "");
  }
  await waitFor(m.failed, { timeoutMs: 10_000, what: "the task to fail" });
  const task = await m.store.getTask("t-hang");
  assert.equal(task?.attempts, 2);
  assert.equal(task?.reason, "Training failed after 2 attempts (crashed)");
  assert.equal(m.gpus.restarts().byChild["gpu:cpu"], 2);
  for (const pid of m.spawnedPids()) assert.throws(() => Deno.kill(pid, "SIGCONT"), Deno.errors.NotFound);
});
