/**
 * A validator's cancel (the task API's `POST /v1/tasks/{id}/cancel` → `withdrawTask`) in each state a
 * task can be cancelled in, on the real pipeline, queue and task center actors: the task ends `failed`
 * with reason "cancelled", written by the one actor that holds it, and its work stops.
 */
import assert from "node:assert/strict";
import { admissionPolicy } from "../actors/queue/policy.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import {
  admit,
  cancelTask,
  enqueue,
  type PipelineMsg,
  type QueueMsg,
  queueSnapshot,
  type TaskCenterMsg,
  withdrawTask,
} from "../actors/protocol.ts";
import type { Child } from "../actors/runtime/actor.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { textTask } from "./fixtures.ts";
import { fakeClock, waitFor } from "./helpers.ts";
import { cudaDevice } from "./queue_fake_gpu.ts";
import { type ChildId, pipelineRequest, startHarness } from "./pipeline_harness.ts";

const T0 = 1_000_000;

Deno.test("cancelTask() fails a dataset_validated task on its way into the queue and frees its slot", async () => {
  const store = await Store.open();
  const fake = fakeClock(T0);
  const queue = startQueueActor({
    store,
    devices: [cudaDevice(0)],
    gpu: () => undefined, // no GpuActor up: a queued task would stay queued
    maxQueueSize: 1,
    maxAttempts: 3,
    dataDir: "/srv/data",
    clock: fake.clock,
    policy: admissionPolicy({
      allowedBaseModels: ["tiny-llama"],
      fairness: { maxShare: 1, reservedSlots: 0 },
    }),
  });
  try {
    const admitted = await admit(queue, textTask("v-1", T0));
    assert.ok(admitted.ok, JSON.stringify(admitted));
    // The task center's two writes, as its actor makes them.
    const validated = await store.updateTask(
      "v-1",
      (t) => transition(transition(t, { type: "submitDataset" }, T0), { type: "datasetValidated" }, T0),
    );
    assert.equal((await queueSnapshot(queue)).admitted, 1);
    const r = await cancelTask(queue, "v-1");
    assert.ok(r.ok && r.was === "validated");
    assert.deepEqual([r.task.state, r.task.reason], ["failed", "cancelled"]);
    assert.equal((await queueSnapshot(queue)).admitted, 0);
    // The pipeline's enqueue, read before the cancel, arrives late: nothing is queued, nothing crashes.
    await enqueue(queue, validated);
    assert.deepEqual((await queueSnapshot(queue)).queued, []);
    assert.equal((await store.getTask("v-1"))?.state, "failed");
    assert.ok((await admit(queue, textTask("v-2", T0))).ok, "the slot is free again");
  } finally {
    await queue.stop();
    store.close();
  }
});

Deno.test("withdrawTask() fails a task awaiting its dataset's validation and stops polling the task center", async () => {
  await using h = await startHarness();
  const id = "cancel-polling";
  h.taskCenter.scripts.set(id, { status: "pending" });
  assert.ok((await h.accept(pipelineRequest(id))).ok);
  await waitFor(() => h.taskCenter.requestsTo("validation") > 0, {
    what: "the first poll",
    timeoutMs: 10_000,
  });
  const pipeline = h.child<PipelineMsg>("pipeline")!;
  const r = await withdrawTask(pipeline, id);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual([r.task.state, r.task.reason], ["failed", "cancelled"]);
  assert.deepEqual((await h.store.getTask(id))?.history.map((s) => s.state), [
    "received",
    "dataset_submitted",
    "failed",
  ]);
  assert.ok(h.settled.some((t) => t.request.id === id));
  // The job is gone: no poll follows (the harness polls every second). Proving an absence takes a wait.
  const polls = h.taskCenter.requestsTo("validation");
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(h.taskCenter.requestsTo("validation"), polls);
  const again = await withdrawTask(pipeline, id);
  assert.ok(!again.ok && again.reason === "not_cancellable" && again.state === "failed");
  const unknown = await withdrawTask(pipeline, "nobody");
  assert.ok(!unknown.ok && unknown.reason === "not_found");
});

Deno.test("withdrawTask() fails a training task and stops its trainer", async () => {
  await using h = await startHarness();
  const id = "cancel-training";
  assert.ok((await h.accept(pipelineRequest(id, "fake:slow"))).ok);
  await waitFor(async () => (await h.store.getTask(id))?.state === "training", {
    what: "training to start",
    timeoutMs: 20_000,
  });
  const r = await withdrawTask(h.child<PipelineMsg>("pipeline")!, id);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual([r.task.state, r.task.reason], ["failed", "cancelled"]);
  const queue = h.child<QueueMsg>("queue")!;
  await waitFor(async () => (await queueSnapshot(queue)).running.length === 0, {
    what: "the trainer to stop",
    timeoutMs: 10_000,
  });
  assert.equal((await h.store.getTask(id))?.reason, "cancelled");
});

Deno.test("withdrawTask() answers unavailable while the task center restarts, then cancels a received task", async () => {
  let release = () => {};
  let held: Promise<void> | null = null;
  const hold = async (child: ChildId, start: () => Promise<Child>) => {
    if (child === "taskCenter" && held) await held;
    return await start();
  };
  await using h = await startHarness({ hold });
  held = new Promise<void>((r) => (release = r));
  await h.child<TaskCenterMsg>("taskCenter")!.stop();
  const id = "cancel-received";
  assert.ok((await h.accept(pipelineRequest(id))).ok);
  assert.equal((await h.store.getTask(id))?.state, "received");
  const pipeline = h.child<PipelineMsg>("pipeline")!;
  const busy = await withdrawTask(pipeline, id);
  assert.ok(!busy.ok && busy.reason === "unavailable", JSON.stringify(busy));
  assert.match(busy.message, /task center/);
  release();
  await waitFor(() => h.child("taskCenter") !== undefined, {
    what: "the task center's restart",
    timeoutMs: 10_000,
  });
  const r = await withdrawTask(pipeline, id);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual([r.task.state, r.task.reason], ["failed", "cancelled"]);
});
