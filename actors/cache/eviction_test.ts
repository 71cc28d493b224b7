import assert from "node:assert/strict";
import { evictionPlan } from "./eviction.ts";

const GB = 1e9;
const m = (model: string, gb: number, lastUsedMs: number | null) => ({ model, bytes: gb * GB, lastUsedMs });

Deno.test("evictionPlan() evicts the least recently used models until the cache fits its budget", () => {
  const onDisk = [m("a/new", 10, 3_000), m("a/old", 10, 1_000), m("a/mid", 10, 2_000)];
  assert.deepEqual(evictionPlan(onDisk, 15 * GB, new Set()), { evict: ["a/old", "a/mid"], overBytes: 0 });
  assert.deepEqual(evictionPlan(onDisk, 30 * GB, new Set()), { evict: [], overBytes: 0 });
});

Deno.test("evictionPlan() never evicts a model a task needs, and says how far over the budget that leaves", () => {
  const onDisk = [m("a/old", 10, 1_000), m("a/new", 10, 3_000)];
  assert.deepEqual(evictionPlan(onDisk, 5 * GB, new Set(["a/old"])), { evict: ["a/new"], overBytes: 5 * GB });
});

Deno.test("evictionPlan() takes a model never used as the least recent", () => {
  const onDisk = [m("a/used", 10, 1_000), m("a/never", 10, null)];
  assert.deepEqual(evictionPlan(onDisk, 10 * GB, new Set()).evict, ["a/never"]);
});
