/**
 * QueueActor admission (admit / enqueue, `max_queue_size` over every accepted task not yet
 * training) and group commit, against fake GpuActors, an in-memory store and a fake clock.
 */
import assert from "node:assert/strict";
import type { Device } from "../core/device.ts";
import { admissionPolicy } from "../actors/queue/policy.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { admit, enqueue, queueSnapshot } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { type Task, type TaskEvent, transition } from "../core/task.ts";
import { textTask } from "./fixtures.ts";
import { fakeClock, waitFor } from "./helpers.ts";
import { cudaDevice, type FakeGpu, startFakeGpu } from "./queue_fake_gpu.ts";

const T0 = 1_000_000;

/** `gpusDown`: no GpuActor is up, so nothing is dispatched and queued tasks stay queued. */
async function setup(
  opts: { devices?: Device[]; maxQueueSize?: number; store?: Store; gpusDown?: boolean } = {},
) {
  const store = opts.store ?? (await Store.open());
  const fake = fakeClock(T0);
  const devices = opts.devices ?? [cudaDevice(0)];
  const gpus: FakeGpu[] = devices.map((d) => startFakeGpu(d, { clock: fake.clock }));
  const queue = startQueueActor({
    store,
    devices,
    gpu: (d) => (opts.gpusDown ? undefined : gpus.find((g) => g.device === d)?.ref),
    maxQueueSize: opts.maxQueueSize ?? 100,
    maxAttempts: 3,
    dataDir: "/srv/data",
    clock: fake.clock,
    // These tests are about the queue-wide limit, with one validator: it may take every slot here
    // (tests/queue_fairness_test.ts covers the shares), and the fixtures' model is allowed.
    policy: admissionPolicy({
      allowedBaseModels: ["tiny-llama"],
      fairness: { maxShare: 1, reservedSlots: 0 },
    }),
  });
  /** What the TaskCenterActor does to an admitted task's record: its dataset is submitted, then checked. */
  const walk = (id: string, ...types: TaskEvent["type"][]) =>
    store.updateTask(id, (t) => types.reduce((x, type) => transition(x, { type } as TaskEvent, T0), t));
  const dispose = async () => {
    await queue.stop();
    for (const g of gpus) await g.ref.stop();
    store.close();
  };
  return { store, gpus, queue, walk, [Symbol.asyncDispose]: dispose };
}

function validated(id: string, receivedMs = T0, over: Record<string, unknown> = {}): Task {
  return ["submitDataset", "datasetValidated"].reduce(
    (t, type) => transition(t, { type } as TaskEvent, receivedMs),
    textTask(id, receivedMs, over),
  );
}

Deno.test("admit() stores a received task and answers its position in dispatch order", async () => {
  await using q = await setup();
  const a = await admit(q.queue, textTask("a", T0));
  const b = await admit(q.queue, textTask("b", T0 + 1, { priority: 5 }));
  const c = await admit(q.queue, textTask("c", T0 + 2));
  assert.deepEqual([a, b, c].map((r) => r.ok && [r.duplicate, r.position]), [[false, 1], [false, 1], [
    false,
    3,
  ]]);
  assert.equal((await q.store.getTask("a"))?.state, "received");
  const again = await admit(q.queue, textTask("a", T0));
  assert.ok(again.ok && again.duplicate && again.position === 2, "b went ahead of a");
  const snap = await queueSnapshot(q.queue);
  assert.equal(snap.admitted, 3);
  assert.deepEqual(snap.queued, [], "nothing is queued before its dataset is validated");
});

Deno.test("admit() refuses a task when the queue is full of tasks still waiting for their dataset", async () => {
  await using q = await setup({ maxQueueSize: 2 });
  assert.ok((await admit(q.queue, textTask("a"))).ok);
  assert.ok((await admit(q.queue, textTask("b"))).ok);
  const refused = await admit(q.queue, textTask("t-42"));
  assert.deepEqual(refused, {
    ok: false,
    reason: "queue_full",
    message: 'Cannot accept task "t-42": queue is full (2 of 2)',
  });
  assert.equal(await q.store.getTask("t-42"), null, "a refused task leaves no record");
});

Deno.test("admit() is idempotent for a duplicate id and answers the stored record", async () => {
  await using q = await setup({ maxQueueSize: 1 });
  assert.ok((await admit(q.queue, textTask("dup", T0))).ok);
  await q.walk("dup", "submitDataset");
  const again = await admit(q.queue, textTask("dup", T0 + 5));
  assert.ok(again.ok && again.duplicate, "a duplicate is accepted even when the queue is full");
  assert.equal(again.task.state, "dataset_submitted");
  assert.equal(again.task.received_ms, T0);
  assert.equal(again.position, 1);
  assert.equal((await queueSnapshot(q.queue)).admitted, 1);
});

Deno.test("admit() refuses a passed deadline and a task no device could ever hold", async () => {
  await using q = await setup({ devices: [cudaDevice(0, 24_564)] });
  const late = await admit(q.queue, textTask("late", T0, { deadline_ms: T0 - 3_000 }));
  assert.deepEqual(late, {
    ok: false,
    reason: "deadline",
    message: 'Cannot accept task "late": its deadline passed 3 s ago',
  });
  const huge = await admit(q.queue, textTask("huge", T0, { gpus: 2 }));
  assert.ok(!huge.ok && huge.reason === "unplaceable");
  assert.match(huge.message, /^Cannot accept task "huge": it needs 2 devices with about \d+ MiB each/);
  await assert.rejects(
    () => admit(q.queue, validated("v")),
    /Cannot admit task "v": it is in state "dataset_validated", not "received"/,
  );
});

Deno.test("enqueue() of an admitted task keeps its slot instead of counting it twice", async () => {
  await using q = await setup({ maxQueueSize: 2 });
  await enqueue(q.queue, validated("blocker")); // trains at once: no longer counted
  await waitFor(() => q.gpus[0].running() === "blocker", { what: "the blocker to run" });
  assert.ok((await admit(q.queue, textTask("a"))).ok);
  assert.ok((await admit(q.queue, textTask("b"))).ok);
  const validatedA = await q.walk("a", "submitDataset", "datasetValidated");
  const queued = await enqueue(q.queue, validatedA);
  assert.ok(queued.ok && !queued.duplicate && queued.task.state === "queued");
  const snap = await queueSnapshot(q.queue);
  assert.deepEqual([snap.queued, snap.admitted], [["a"], 2]);
  assert.deepEqual(await q.store.queuedIds(), ["a"]);
  const full = await admit(q.queue, textTask("c"));
  assert.ok(!full.ok && full.message === 'Cannot accept task "c": queue is full (2 of 2)');
  const again = await admit(q.queue, textTask("a"));
  assert.ok(again.ok && again.duplicate && again.task.state === "queued" && again.position === 1);
});

Deno.test("QueueActor frees the slot of a task that failed before it was queued, read from the store", async () => {
  await using q = await setup({ maxQueueSize: 1 });
  assert.ok((await admit(q.queue, textTask("rejected"))).ok);
  await q.store.updateTask(
    "rejected",
    (t) => transition(t, { type: "fail", reason: "dataset rejected" }, T0),
  );
  assert.equal((await queueSnapshot(q.queue)).admitted, 0);
  assert.ok((await admit(q.queue, textTask("next"))).ok);
});

Deno.test("admit() re-reads its waiting tasks when full, so a task failed elsewhere does not hold a slot", async () => {
  await using q = await setup({ maxQueueSize: 1 });
  assert.ok((await admit(q.queue, textTask("timed-out"))).ok);
  await q.store.updateTask("timed-out", (t) => transition(t, { type: "reject", reason: "timeout" }, T0));
  const next = await admit(q.queue, textTask("next"));
  assert.ok(next.ok && next.position === 1);
  assert.equal((await queueSnapshot(q.queue)).admitted, 1);
});

Deno.test("QueueActor on start recounts admitted tasks from the store", async () => {
  const store = await Store.open();
  await store.createTask(textTask("received", T0));
  await store.createTask(transition(textTask("submitted", T0 + 1), { type: "submitDataset" }, T0));
  await store.createTask(transition(validated("queued", T0 + 2), { type: "enqueue" }, T0));
  await store.createTask(transition(textTask("failed", T0), { type: "fail", reason: "x" }, T0));
  await using q = await setup({ store, maxQueueSize: 3, gpusDown: true });
  assert.equal((await queueSnapshot(q.queue)).admitted, 3);
  const full = await admit(q.queue, textTask("new"));
  assert.ok(!full.ok && full.reason === "queue_full");
  const again = await admit(q.queue, textTask("submitted"));
  assert.ok(again.ok && again.duplicate && again.position === 2);
});

Deno.test("admit() answers concurrent callers from one group commit, each after it is durable", async () => {
  await using q = await setup({ maxQueueSize: 30 });
  let commits = 0;
  const written = new Set<string>();
  const createTasks = q.store.createTasks.bind(q.store);
  q.store.createTasks = async (tasks) => {
    const results = await createTasks(tasks);
    if (tasks.length > 0) commits++;
    for (const t of tasks) written.add(t.request.id);
    return results;
  };
  const ids = Array.from({ length: 40 }, (_, i) => `c-${i}`);
  const results = await Promise.all(
    [...ids, "c-0"].map((id, i) =>
      admit(q.queue, textTask(id, T0 + i)).then((r) => {
        assert.ok(!r.ok || written.has(id), `${id} answered before its write`);
        return r;
      })
    ),
  );
  assert.equal(commits, 1, "one commit for the 30 that fit");
  assert.equal(results.filter((r) => r.ok && !r.duplicate).length, 30);
  assert.equal(results.filter((r) => !r.ok && r.reason === "queue_full").length, 10);
  const dup = results.at(-1)!;
  assert.ok(dup.ok && dup.duplicate && dup.position === 1);
  assert.equal((await Array.fromAsync(q.store.tasks())).length, 30);
});

Deno.test("enqueue() from concurrent callers fills the queue to its limit in one commit and refuses the rest", async () => {
  await using q = await setup({ maxQueueSize: 3, gpusDown: true });
  const results = await Promise.all(
    ["a", "b", "c", "d", "e"].map((id, i) => enqueue(q.queue, validated(id, T0 + i))),
  );
  assert.deepEqual(results.map((r) => r.ok ? "ok" : r.reason), [
    "ok",
    "ok",
    "ok",
    "queue_full",
    "queue_full",
  ]);
  assert.deepEqual(await q.store.queuedIds(), ["a", "b", "c"]);
  assert.equal(await q.store.getTask("d"), null);
});
