/**
 * Validators share the queue by stake (issue 12): stake ranks validators and a task's own priority
 * only orders its validator's tasks, and no validator can take every slot.
 */
import assert from "node:assert/strict";
import { enqueue, queueSnapshot } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { SCHEMA_KEY } from "../core/store_schema.ts";
import { newTask, type Task, type TaskEvent, transition } from "../core/task.ts";
import { admissionRequest, startAdmission, T0 } from "./admission_harness.ts";

const RICH = "5RichValidator";
const POOR = "5PoorValidator";

const request = admissionRequest;

const walk = (...types: TaskEvent["type"][]) => (t: Task) =>
  types.reduce((x, type) => transition(x, { type } as TaskEvent, T0), t);

Deno.test("acceptTask() keeps a low-stake validator's priority 1e308 behind a higher-stake validator's earlier tasks", async () => {
  await using h = await startAdmission();
  for (const id of ["rich-1", "rich-2", "rich-3"]) {
    assert.ok((await h.accept(request(id), RICH, 5_000)).ok);
  }
  await h.clock.tick(3_000);
  const jump = await h.accept(request("poor-1", { priority: 1e308 }), POOR, 1_000);
  assert.deepEqual(jump, { ok: true, taskId: "poor-1", position: 4 }, "behind the three queued tasks");
  const own = await h.accept(request("rich-4", { priority: 1e308 }), RICH, 5_000);
  assert.deepEqual(own, { ok: true, taskId: "rich-4", position: 1 }, "its own priority orders its own tasks");

  for (const id of ["poor-1", "rich-1", "rich-4"]) {
    const validated = await h.store.updateTask(id, walk("submitDataset", "datasetValidated"));
    assert.ok((await enqueue(h.queue, validated)).ok);
  }
  assert.deepEqual((await queueSnapshot(h.queue)).queued, ["rich-4", "rich-1", "poor-1"]);
  assert.deepEqual(await h.store.queuedIds(), ["rich-4", "rich-1", "poor-1"], "the KV index agrees");
});

Deno.test("acceptTask() keeps one validator from filling the queue: another validator still gets a slot", async () => {
  await using h = await startAdmission({ maxQueueSize: 4 });
  const answers = [];
  for (const id of ["a-1", "a-2", "a-3", "a-4"]) answers.push(await h.accept(request(id), RICH, 5_000));
  assert.deepEqual(answers.map((a) => a.ok ? "ok" : a.reason), [
    "ok",
    "ok",
    "validator_quota",
    "validator_quota",
  ]);
  const refused = answers[2];
  assert.ok(!refused.ok);
  assert.equal(
    refused.message,
    'Cannot accept task "a-3": validator quota reached: you hold 2 of your 2 slot(s) (your stake is 100% ' +
      "of the stake with tasks waiting; each validator may hold 50% of 4 slots at most and 1 at least)",
  );
  assert.ok((await h.accept(request("b-1"), POOR, 10)).ok, "a second validator gets a slot");
  const second = await h.accept(request("b-2"), POOR, 10);
  assert.ok(!second.ok && second.reason === "validator_quota", JSON.stringify(second));
  assert.ok(!second.message.includes(RICH), "a refusal never names another validator");
  assert.ok((await h.accept(request("c-1"), "5Newcomer", 1)).ok, "the reserved slot takes a newcomer");
  assert.equal((await queueSnapshot(h.queue)).admitted, 4);
});

Deno.test("acceptTask() gives a validator its share again once its tasks leave the queue", async () => {
  await using h = await startAdmission({ maxQueueSize: 4 });
  assert.ok((await h.accept(request("a-1"), RICH, 5_000)).ok);
  assert.ok((await h.accept(request("a-2"), RICH, 5_000)).ok);
  assert.ok(!(await h.accept(request("a-3"), RICH, 5_000)).ok);
  await h.setState("a-1", "failed");
  await h.clock.tick(1_000); // the queue re-reads its waiting records at most once a second
  assert.ok((await h.accept(request("a-3"), RICH, 5_000)).ok, "a-1's slot is free again");
});

Deno.test("Store.open() moves queue index keys of the layout without stake to the current one", async () => {
  const path = `${await Deno.makeTempDir()}/kv.sqlite3`;
  {
    await using store = await Store.open(path);
    for (const [id, stake, priority] of [["low", 10, 9], ["high", 5_000, 0]] as const) {
      const task = newTask(request(id, { priority }), `v-${id}`, T0, stake);
      await store.createTask(walk("submitDataset", "datasetValidated", "enqueue")(task));
    }
  }
  const kv = await Deno.openKv(path);
  for await (const e of kv.list({ prefix: ["v1", "queue"] })) await kv.delete(e.key);
  await kv.set(["v1", "queue", -9, T0, "low"], "low"); // what the old layout wrote
  await kv.set(["v1", "queue", 0, T0, "high"], "high");
  await kv.delete(SCHEMA_KEY); // a store of that layout recorded no schema version (core/store_schema.ts)
  kv.close();
  await using store = await Store.open(path);
  assert.deepEqual(await store.queuedIds(), ["high", "low"]);
});
