import assert from "node:assert/strict";
import { Store } from "./store.ts";
import { transition } from "./task.ts";
import { textTask } from "../tests/fixtures.ts";

const toQueued = (id: string, priority: number, at: number) => {
  let t = textTask(id, at, { priority });
  for (const type of ["submitDataset", "datasetValidated", "enqueue"] as const) {
    t = transition(t, { type }, at);
  }
  return t;
};

Deno.test("Store survives a reopen with tasks, queue order and outbox intact", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state/miner.kv`;
  {
    await using store = await Store.open(path);
    await store.createTask(toQueued("low", 1, 10));
    await store.createTask(toQueued("high", 5, 20));
    await store.createTask(toQueued("high-later", 5, 30));
    await store.createTask(textTask("fresh", 40));
    await store.putOutbox("low", "result", { repo: "me/low" });
  }
  await using store = await Store.open(path);
  assert.deepEqual(await store.queuedIds(), ["high", "high-later", "low"]);
  assert.equal((await store.getTask("fresh"))?.state, "received");
  assert.deepEqual(await Array.fromAsync(store.outbox()), [{
    taskId: "low",
    kind: "result",
    payload: { repo: "me/low" },
  }]);
  assert.equal((await Array.fromAsync(store.tasks())).length, 4);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Store.createTask() is idempotent on a duplicate id and keeps the first record", async () => {
  await using store = await Store.open();
  assert.equal((await store.createTask(textTask("dup", 1))).ok, true);
  const again = await store.createTask(textTask("dup", 99));
  assert.equal(again.ok, false);
  assert.equal(again.task.received_ms, 1);
});

Deno.test("Store.updateTask() moves the queue index with the state in one commit", async () => {
  await using store = await Store.open();
  await store.createTask(toQueued("a", 0, 1));
  await store.createTask(toQueued("b", 0, 2));
  await store.updateTask("a", (t) => transition(t, { type: "startTraining" }, 3));
  assert.deepEqual(await store.queuedIds(), ["b"]);
  await store.updateTask("a", (t) => transition(t, { type: "requeue" }, 4));
  assert.deepEqual(await store.queuedIds(), ["a", "b"]);
});

Deno.test("Store.updateTask() retries a concurrent change instead of losing it", async () => {
  await using store = await Store.open();
  await store.createTask(textTask("c", 1));
  await Promise.all(
    Array.from(
      { length: 8 },
      (_, i) =>
        store.updateTask(
          "c",
          (t) => ({ ...t, history: [...t.history, { state: "received" as const, at_ms: i }] }),
        ),
    ),
  );
  assert.equal((await store.getTask("c"))?.history.length, 9);
});

Deno.test("Store.updateTask() fails clearly on an unknown task", async () => {
  await using store = await Store.open();
  await assert.rejects(() => store.updateTask("nope", (t) => t), /Cannot update task "nope": no such task/);
});

Deno.test("Store.createTasks() writes many tasks and answers duplicates like createTask()", async () => {
  await using store = await Store.open();
  await store.createTask(toQueued("a", 0, 1));
  const results = await store.createTasks([
    toQueued("b", 2, 2),
    toQueued("a", 9, 3),
    textTask("c", 4),
    textTask("b", 5),
  ]);
  assert.deepEqual(results.map((r) => [r.ok, r.task.received_ms]), [[true, 2], [false, 1], [true, 4], [
    false,
    2,
  ]]);
  assert.deepEqual(await store.queuedIds(), ["b", "a"]);
  assert.equal((await store.getTask("b"))?.state, "queued", "the first of two same ids in a batch wins");
});

Deno.test("Store.createTasks() splits more than 100 records over several atomic commits", async () => {
  await using store = await Store.open();
  const tasks = Array.from({ length: 250 }, (_, i) => toQueued(`t-${i}`, 0, i));
  const results = await store.createTasks(tasks);
  assert.ok(results.every((r) => r.ok));
  assert.equal(new Set(results.map((r) => r.ok && r.versionstamp)).size, 3, "100 + 100 + 50");
  assert.equal((await store.queuedIds()).length, 250);
});

Deno.test("Store.updateTasks() re-reads a stale known record instead of overwriting the change", async () => {
  await using store = await Store.open();
  await store.createTasks([toQueued("x", 0, 1), toQueued("y", 0, 2)]);
  const [stale] = await store.getTasks(["x"]);
  await store.updateTask("x", (t) => ({ ...t, reason: "changed elsewhere" }));
  const [x, y] = await store.updateTasks([
    { id: "x", known: stale!, change: (t) => transition(t, { type: "startTraining" }, 3) },
    { id: "y", change: () => null },
  ]);
  assert.deepEqual([x.task.state, x.task.reason], ["training", "changed elsewhere"]);
  assert.equal(y.task.state, "queued", "null leaves the record as it is");
  assert.deepEqual(await store.queuedIds(), ["y"]);
});

Deno.test("Store.updateTasks() refuses the same id twice in one batch", async () => {
  await using store = await Store.open();
  await store.createTask(textTask("d", 1));
  await assert.rejects(
    () => store.updateTasks([{ id: "d", change: (t) => t }, { id: "d", change: (t) => t }]),
    /Cannot update task "d" twice in one batch/,
  );
});
