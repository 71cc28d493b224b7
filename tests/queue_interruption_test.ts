/**
 * Attempts count the trainer's failures, not the miner's: a QueueActor started on a store that holds a
 * `training` task with no live run (what a SIGKILL of the miner leaves) requeues it with its attempt
 * given back and one more interruption, bounded by `maxInterruptions`. Fake GpuActors, fake clock.
 */
import assert from "node:assert/strict";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { Store } from "../core/store.ts";
import { type Task, transition } from "../core/task.ts";
import { textTask } from "./fixtures.ts";
import { fakeClock, waitFor } from "./helpers.ts";
import { cudaDevice, startFakeGpu } from "./queue_fake_gpu.ts";

const T0 = 1_000_000;

function training(id: string, over: Partial<Task> = {}): Task {
  let t = textTask(id, T0);
  for (const type of ["submitDataset", "datasetValidated", "enqueue", "startTraining"] as const) {
    t = transition(t, { type }, T0);
  }
  return { ...t, ...over };
}

/** A miner's life: a queue and a GPU on `store` until `kill()` drops both without a word (SIGKILL). */
function boot(store: Store, opts: { maxAttempts?: number; maxInterruptions?: number } = {}) {
  const fake = fakeClock(T0);
  const device = cudaDevice(0);
  const gpu = startFakeGpu(device, { clock: fake.clock });
  const queue = startQueueActor({
    store,
    devices: [device],
    gpu: () => gpu.ref,
    maxQueueSize: 10,
    maxAttempts: opts.maxAttempts ?? 2,
    maxInterruptions: opts.maxInterruptions,
    dataDir: "/srv/data",
    clock: fake.clock,
  });
  const kill = async () => {
    await queue.stop();
    await gpu.ref.stop();
  };
  return { gpu, queue, kill };
}

Deno.test("QueueActor restarted after two miner crashes during training keeps the attempt count; a trainer crash uses one", async () => {
  const store = await Store.open();
  try {
    await store.createTask(training("t-1")); // what the first SIGKILL during its first run left
    const first = boot(store);
    await waitFor(() => first.gpu.jobs.length === 1, { what: "the run after the first miner crash" });
    assert.equal(first.gpu.jobs[0].resume, true, "it resumes from its checkpoint");
    const after1 = await store.getTask("t-1");
    assert.deepEqual([after1?.state, after1?.attempts, after1?.interruptions], ["training", 1, 1]);
    await first.kill(); // the second SIGKILL: the record stays `training`
    const miner = boot(store, { maxAttempts: 2 });
    try {
      await waitFor(() => miner.gpu.jobs.length === 1, { what: "the run after the second miner crash" });
      const after2 = await store.getTask("t-1");
      assert.deepEqual([after2?.state, after2?.attempts, after2?.interruptions], ["training", 1, 2]);
      miner.gpu.finish({ ok: false, code: "crashed", message: "Trainer was killed by SIGSEGV" });
      await waitFor(() => miner.gpu.jobs.length === 2, { what: "the retry after the trainer crash" });
      assert.equal((await store.getTask("t-1"))?.attempts, 2, "the trainer's crash used one attempt");
      miner.gpu.finish({ ok: false, code: "crashed", message: "Trainer was killed by SIGSEGV" });
      await waitFor(async () => (await store.getTask("t-1"))?.state === "failed", { what: "the failure" });
      const task = await store.getTask("t-1");
      assert.equal(task?.reason, "Training failed after 2 attempts (crashed)");
      assert.equal(task?.interruptions, 2);
    } finally {
      await miner.kill();
    }
  } finally {
    store.close();
  }
});

Deno.test("QueueActor on start fails a task interrupted more than max_interruptions times instead of looping", async () => {
  const store = await Store.open();
  await store.createTask(training("looping", { interruptions: 3 }));
  await store.createTask(training("fine", { interruptions: 2 }));
  const miner = boot(store, { maxInterruptions: 3 });
  try {
    await waitFor(() => miner.gpu.jobs.length === 1, { what: "the run that may go on" });
    assert.equal(miner.gpu.jobs[0].taskId, "fine");
    const looping = await store.getTask("looping");
    assert.equal(looping?.state, "failed");
    assert.equal(looping?.reason, "Training failed after 4 interruptions (miner_restarted)");
    assert.deepEqual(await store.queuedIds(), []);
  } finally {
    await miner.kill();
    store.close();
  }
});
