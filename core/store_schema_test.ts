import assert from "node:assert/strict";
import { Store } from "./store.ts";
import { SCHEMA_KEY, SCHEMA_VERSION, StoreVersionError } from "./store_schema.ts";
import { transition } from "./task.ts";
import { textTask } from "../tests/fixtures.ts";

const queued = (id: string, priority: number, at: number, stake = 0) => {
  let t = { ...textTask(id, at, { priority }), validator_stake_tao: stake };
  for (const type of ["submitDataset", "datasetValidated", "enqueue"] as const) {
    t = transition(t, { type }, at);
  }
  return t;
};

async function tempStorePath(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "store-schema-" });
  return { dir, path: `${dir}/state/miner.kv` };
}

Deno.test("Store.open() records the current schema version in a new store", async () => {
  const { dir, path } = await tempStorePath();
  (await Store.open(path)).close();
  const kv = await Deno.openKv(path);
  assert.equal((await kv.get(SCHEMA_KEY)).value, SCHEMA_VERSION);
  kv.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Store.open() migrates a version 1 store in place: queue index keys gain the stake", async () => {
  const { dir, path } = await tempStorePath();
  await Deno.mkdir(`${dir}/state`);
  // What the previous miner wrote: no schema key, index keys [v1, queue, -priority, received_ms, id].
  const kv = await Deno.openKv(path);
  const tasks = [queued("rich-low", 1, 10, 500), queued("poor-high", 9, 20, 5), queued("done", 3, 30)];
  for (const t of tasks.slice(0, 2)) {
    await kv.set(["v1", "task", t.request.id], t);
    await kv.set(["v1", "queue", -t.request.priority, t.received_ms, t.request.id], t.request.id);
  }
  // An index key left behind for a task that moved on is dropped, not carried over.
  await kv.set(["v1", "task", "done"], { ...tasks[2], state: "training" });
  await kv.set(["v1", "queue", -3, 30, "done"], "done");
  kv.close();

  {
    await using store = await Store.open(path);
    assert.deepEqual(await store.queuedIds(), ["rich-low", "poor-high"], "stake first, then priority");
    assert.equal((await store.getTask("poor-high"))?.request.priority, 9);
  }
  const after = await Deno.openKv(path);
  assert.equal((await after.get(SCHEMA_KEY)).value, SCHEMA_VERSION);
  const keys = (await Array.fromAsync(after.list({ prefix: ["v1", "queue"] }))).map((e) => e.key.length);
  assert.deepEqual(keys, [6, 6]);
  after.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Store.open() refuses a store written by a newer miner and leaves it as it was", async () => {
  const { dir, path } = await tempStorePath();
  await Deno.mkdir(`${dir}/state`);
  const kv = await Deno.openKv(path);
  await kv.set(SCHEMA_KEY, SCHEMA_VERSION + 1);
  await kv.set(["v9", "task", "x"], { shape: "unknown to us" });
  kv.close();
  await assert.rejects(Store.open(path), (e: Error) => {
    assert.ok(e instanceof StoreVersionError);
    assert.equal(
      e.message,
      `Cannot open the store "${path}": it has schema version ${SCHEMA_VERSION + 1}, written by a newer ` +
        `miner (this one reads up to ${SCHEMA_VERSION}); upgrade the miner, or set miner.data_dir to another folder`,
    );
    return true;
  });
  const again = await Deno.openKv(path);
  assert.equal((await again.get(SCHEMA_KEY)).value, SCHEMA_VERSION + 1);
  assert.deepEqual((await again.get(["v9", "task", "x"])).value, { shape: "unknown to us" });
  again.close();
  await Deno.remove(dir, { recursive: true });
});
