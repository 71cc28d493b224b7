/** QueueActor against fake GpuActors (tests/queue_fake_gpu.ts), an in-memory store and a fake clock. */
import assert from "node:assert/strict";
import type { Device } from "../core/device.ts";
import { startQueueActor, type Trained } from "../actors/queue/queue_actor.ts";
import { cancelTask, enqueue, queueSnapshot } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { type Task, transition } from "../core/task.ts";
import { textTask } from "./fixtures.ts";
import { fakeClock, waitFor } from "./helpers.ts";
import { cudaDevice, doneOutcome, type FakeGpu, startFakeGpu } from "./queue_fake_gpu.ts";

const T0 = 1_000_000;

function validated(id: string, receivedMs = T0, over: Record<string, unknown> = {}): Task {
  const t = textTask(id, receivedMs, over);
  return transition(
    transition(t, { type: "submitDataset" }, receivedMs),
    { type: "datasetValidated" },
    receivedMs,
  );
}

async function setup(
  opts: { devices?: Device[]; maxQueueSize?: number; maxAttempts?: number; store?: Store } = {},
) {
  const store = opts.store ?? (await Store.open());
  const fake = fakeClock(T0);
  const devices = opts.devices ?? [cudaDevice(0)];
  const gpus: FakeGpu[] = devices.map((d) => startFakeGpu(d, { clock: fake.clock }));
  const trained: Trained[] = [];
  const queue = startQueueActor({
    store,
    devices,
    gpu: (d) => gpus.find((g) => g.device === d)?.ref,
    maxQueueSize: opts.maxQueueSize ?? 100,
    maxAttempts: opts.maxAttempts ?? 3,
    dataDir: "/srv/data",
    clock: fake.clock,
    onTrained: (t) => trained.push(t),
  });
  const state = async (id: string) => (await store.getTask(id))?.state;
  const dispose = async () => {
    await queue.stop();
    for (const g of gpus) await g.ref.stop();
    store.close();
  };
  return { store, fake, gpus, queue, trained, state, [Symbol.asyncDispose]: dispose };
}

Deno.test("QueueActor dispatches by priority, then by arrival", async () => {
  await using q = await setup();
  const gpu = q.gpus[0];
  await enqueue(q.queue, validated("blocker", T0));
  await enqueue(q.queue, validated("low-early", T0 + 1));
  await enqueue(q.queue, validated("high-late", T0 + 3, { priority: 5 }));
  await enqueue(q.queue, validated("high-early", T0 + 2, { priority: 5 }));
  await enqueue(q.queue, validated("low-late", T0 + 4));
  const order = ["high-early", "high-late", "low-early", "low-late"];
  assert.deepEqual((await queueSnapshot(q.queue)).queued, order);
  assert.deepEqual(await q.store.queuedIds(), order, "memory and the KV index agree");
  for (let i = 0; i < 5; i++) {
    await waitFor(() => gpu.jobs.length === i + 1, { what: `job ${i + 1}` });
    gpu.finish(doneOutcome());
  }
  assert.deepEqual(gpu.jobs.map((j) => j.taskId), ["blocker", ...order]);
  await waitFor(() => q.trained.length === 5, { what: "all trained" });
  assert.equal(await q.state("low-late"), "uploading");
});

Deno.test("enqueue() refuses a task when the queue is full and keeps the queued ones", async () => {
  await using q = await setup({ maxQueueSize: 2 });
  await enqueue(q.queue, validated("running"));
  assert.equal((await enqueue(q.queue, validated("a"))).ok, true);
  assert.equal((await enqueue(q.queue, validated("b"))).ok, true);
  const refused = await enqueue(q.queue, validated("t-42"));
  assert.deepEqual(refused, {
    ok: false,
    reason: "queue_full",
    message: 'Cannot enqueue task "t-42": queue is full (2 of 2)',
  });
  assert.deepEqual(await q.store.queuedIds(), ["a", "b"]);
  assert.equal(await q.state("t-42"), undefined);
});

Deno.test("enqueue() is idempotent for a duplicate task id", async () => {
  await using q = await setup();
  const first = await enqueue(q.queue, validated("dup"));
  const again = await enqueue(q.queue, validated("dup"));
  assert.ok(first.ok && !first.duplicate);
  assert.ok(again.ok && again.duplicate);
  assert.equal(again.task.state, "training");
  assert.equal(q.gpus[0].jobs.length, 1);
});

Deno.test("enqueue() refuses a task in the wrong state and one no device could ever hold", async () => {
  await using q = await setup({ devices: [cudaDevice(0, 24_564)] });
  const early = await enqueue(q.queue, textTask("early"));
  assert.deepEqual(early, {
    ok: false,
    reason: "invalid_state",
    message: 'Cannot enqueue task "early": it is in state "received", not "dataset_validated"',
  });
  const huge = await enqueue(q.queue, validated("huge", T0, { gpus: 2 }));
  assert.ok(!huge.ok && huge.reason === "unplaceable");
  assert.match(huge.message, /^Cannot enqueue task "huge": it needs 2 devices with about \d+ MiB each/);
});

Deno.test("QueueActor fails a queued task with reason deadline when its deadline passes, and never trains it", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("blocker"));
  await enqueue(q.queue, validated("late", T0, { deadline_ms: T0 + 5_000 }));
  await q.fake.tick(4_000);
  assert.equal(await q.state("late"), "queued");
  await q.fake.tick(1_000);
  await waitFor(async () => (await q.state("late")) === "failed", { what: "the deadline" });
  assert.equal((await q.store.getTask("late"))?.reason, "deadline");
  q.gpus[0].finish(doneOutcome());
  await waitFor(() => q.trained.length === 1, { what: "the blocker to finish" });
  await q.fake.tick(1_000);
  assert.deepEqual(q.gpus[0].jobs.map((j) => j.taskId), ["blocker"]);
});

Deno.test("QueueActor stops a running task whose deadline passes", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("slow", T0, { deadline_ms: T0 + 3_000 }));
  await q.fake.tick(3_000);
  await waitFor(async () => (await q.state("slow")) === "failed", { what: "the deadline" });
  assert.deepEqual(q.gpus[0].cancels, ["slow"]);
  assert.equal((await q.store.getTask("slow"))?.reason, "deadline");
  await waitFor(async () => (await queueSnapshot(q.queue)).idle.length === 1, { what: "the device to free" });
});

Deno.test("cancelTask() fails a queued task and stops a running one", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("running"));
  await enqueue(q.queue, validated("waiting"));
  const queued = await cancelTask(q.queue, "waiting");
  assert.ok(queued.ok && queued.was === "queued" && queued.task.reason === "cancelled");
  const running = await cancelTask(q.queue, "running");
  assert.ok(running.ok && running.was === "running" && running.task.state === "failed");
  assert.deepEqual(q.gpus[0].cancels, ["running"]);
  await waitFor(async () => (await queueSnapshot(q.queue)).running.length === 0, { what: "the run to end" });
  assert.equal(await q.state("running"), "failed");
  const again = await cancelTask(q.queue, "running");
  assert.ok(!again.ok && again.reason === "not_queued");
  assert.ok(!(await cancelTask(q.queue, "nobody")).ok);
  assert.deepEqual(await q.store.queuedIds(), []);
});

Deno.test("QueueActor retries a crashed run up to max_attempts, then fails it with the code (the message stays in the log)", async () => {
  await using q = await setup({ maxAttempts: 3 });
  await enqueue(q.queue, validated("flaky"));
  for (let attempt = 1; attempt <= 3; attempt++) {
    await waitFor(() => q.gpus[0].jobs.length === attempt, { what: `attempt ${attempt}` });
    assert.equal(q.gpus[0].jobs[attempt - 1].resume, attempt > 1);
    q.gpus[0].finish({ ok: false, code: "crashed", message: `Trainer was killed by SIGKILL (${attempt})` });
  }
  await waitFor(async () => (await q.state("flaky")) === "failed", { what: "the final failure" });
  const task = await q.store.getTask("flaky");
  assert.equal(task?.attempts, 3);
  assert.equal(task?.reason, "Training failed after 3 attempts (crashed)");
});

Deno.test("QueueActor fails at once on a trainer error that a retry cannot fix", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("bad-data"));
  await waitFor(() => q.gpus[0].jobs.length === 1, { what: "the run" });
  q.gpus[0].finish({ ok: false, code: "dataset_invalid", message: 'No rows in "train.jsonl"' });
  await waitFor(async () => (await q.state("bad-data")) === "failed", { what: "the failure" });
  assert.equal((await q.store.getTask("bad-data"))?.reason, "Training failed (dataset_invalid)");
});

Deno.test("QueueActor requeues a run stopped with the miner without using an attempt", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("stopped"));
  await waitFor(() => q.gpus[0].jobs.length === 1, { what: "the run" });
  q.gpus[0].finish({ ok: false, code: "cancelled", message: "Training was stopped with the miner" });
  await waitFor(() => q.gpus[0].jobs.length === 2, { what: "the second run" });
  assert.equal((await q.store.getTask("stopped"))?.attempts, 1);
  assert.equal(q.gpus[0].jobs[1].resume, true);
});

Deno.test("QueueActor writes progress into the task record, throttled, and the last step always", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("p"));
  await waitFor(() => q.gpus[0].jobs.length === 1, { what: "the run" });
  const progress = (step: number) => ({
    type: "progress" as const,
    time: step,
    step,
    total: 10,
    loss: 3 - step / 10,
    lr: 0.01,
    samples_per_s: 1,
    tokens_per_s: null,
    eta_s: 10 - step,
    gpu_mem_mb: null,
  });
  q.gpus[0].emit(progress(1));
  await waitFor(async () => (await q.store.getTask("p"))?.progress?.step === 1, { what: "the first write" });
  q.gpus[0].emit(progress(2));
  await queueSnapshot(q.queue); // the report before it has been handled
  assert.equal((await q.store.getTask("p"))?.progress?.step, 1, "within the throttle window");
  q.gpus[0].emit(progress(10));
  await waitFor(async () => (await q.store.getTask("p"))?.progress?.step === 10, { what: "the last step" });
});

Deno.test("QueueActor places a 2-GPU task on two idle devices and lets small tasks pass a big one", async () => {
  await using q = await setup({ devices: [cudaDevice(0), cudaDevice(1)] });
  await enqueue(q.queue, validated("one"));
  await enqueue(q.queue, validated("pair", T0, { gpus: 2, priority: 9 }));
  await enqueue(q.queue, validated("small"));
  await waitFor(() => q.gpus[1].jobs.length === 1, { what: "the small task" });
  assert.deepEqual(q.gpus[1].jobs.map((j) => j.taskId), ["small"], "the pair waits; the small one backfills");
  q.gpus[0].finish(doneOutcome());
  q.gpus[1].finish(doneOutcome());
  await waitFor(() => q.gpus[0].jobs.length === 2, { what: "the pair" });
  const pair = q.gpus[0].jobs[1];
  assert.equal(pair.taskId, "pair");
  assert.deepEqual(pair.devices.map((d) => d.index), [0, 1]);
  assert.deepEqual((await queueSnapshot(q.queue)).running, [{
    taskId: "pair",
    devices: ["cuda:0", "cuda:1"],
  }]);
});

Deno.test("QueueActor on start requeues tasks that were training and resumes them without using an attempt", async () => {
  const store = await Store.open();
  const t = transition(validated("interrupted"), { type: "enqueue" }, T0);
  await store.createTask(transition(t, { type: "startTraining" }, T0));
  await store.createTask(transition(validated("waiting", T0 + 1), { type: "enqueue" }, T0));
  await using q = await setup({ store });
  await waitFor(() => q.gpus[0].jobs.length === 1, { what: "the resumed run" });
  assert.equal(q.gpus[0].jobs[0].taskId, "interrupted");
  assert.equal(q.gpus[0].jobs[0].resume, true);
  assert.deepEqual(await q.store.queuedIds(), ["waiting"]);
  const resumed = await q.store.getTask("interrupted");
  assert.deepEqual([resumed?.attempts, resumed?.interruptions], [1, 1], "the miner's crash is given back");
});

Deno.test("QueueActor restarted alone adopts the run a live GpuActor still has, instead of running it twice", async () => {
  await using q = await setup();
  await enqueue(q.queue, validated("long"));
  await waitFor(() => q.gpus[0].running() === "long", { what: "the run" });
  await q.queue.stop();
  const trained: Trained[] = [];
  const again = startQueueActor({
    store: q.store,
    devices: [q.gpus[0].device],
    gpu: () => q.gpus[0].ref,
    maxQueueSize: 100,
    maxAttempts: 3,
    dataDir: "/srv/data",
    clock: q.fake.clock,
    onTrained: (t) => trained.push(t),
  });
  assert.deepEqual((await queueSnapshot(again)).running, [{ taskId: "long", devices: ["cuda:0"] }]);
  assert.equal(q.gpus[0].jobs.length, 1);
  q.gpus[0].finish(doneOutcome());
  await waitFor(() => trained.length === 1, { what: "the adopted run to be reported to the new queue" });
  await again.stop();
});
