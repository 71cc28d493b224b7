import assert from "node:assert/strict";
import fc from "fast-check";
import { Store } from "../../core/store.ts";
import { newTask, transition } from "../../core/task.ts";
import { textRequest } from "../../tests/fixtures.ts";
import { compareEntries, type Entry, entryOf, expiredIds, insertEntry, removeEntry } from "./priority.ts";

const entry = (
  id: string,
  priority: number,
  receivedMs: number,
  deadlineMs: number | null = null,
  stake = 0,
): Entry => ({
  id,
  validator: `v-${stake}`,
  stake,
  priority,
  receivedMs,
  deadlineMs,
  need: { gpus: 1, vramMb: 1 },
});

Deno.test("insertEntry() keeps priority descending, then arrival, then id", () => {
  const list: Entry[] = [];
  for (
    const e of [entry("c", 0, 5), entry("a", 2, 9), entry("b", 2, 1), entry("d", 0, 5), entry("e", -1, 0)]
  ) {
    insertEntry(list, e);
  }
  assert.deepEqual(list.map((e) => e.id), ["b", "a", "c", "d", "e"]);
  assert.equal(removeEntry(list, "a")?.id, "a");
  assert.equal(removeEntry(list, "a"), undefined);
});

Deno.test("insertEntry() ranks validators by stake and a task's own priority only within equal stake", () => {
  const list: Entry[] = [];
  const rich = entry("rich-early", 0, 1, null, 5_000);
  const poor = entry("poor-urgent", 1e308, 2, null, 10);
  for (const e of [poor, rich, entry("rich-urgent", 7, 3, null, 5_000)]) insertEntry(list, e);
  assert.deepEqual(list.map((e) => e.id), ["rich-urgent", "rich-early", "poor-urgent"]);
});

Deno.test("compareEntries() orders queued tasks exactly like the store's queue index", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(
        fc.record({
          p: fc.constantFrom(-1e308, -3, 0, 2, 1e308),
          s: fc.constantFrom(0, 10, 5_000.5),
          at: fc.integer({ min: 1, max: 5 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      async (rows) => {
        await using store = await Store.open();
        const list: Entry[] = [];
        for (const [i, r] of rows.entries()) {
          const t = newTask(textRequest(`t${i}`, { priority: r.p }), `v${r.s}`, r.at, r.s);
          const queued = ["submitDataset", "datasetValidated", "enqueue"].reduce(
            (acc, type) => transition(acc, { type } as never, r.at),
            t,
          );
          await store.createTask(queued);
          insertEntry(list, entryOf(queued));
        }
        assert.deepEqual(list.map((e) => e.id), await store.queuedIds());
      },
    ),
    { numRuns: 30 },
  );
  assert.ok(compareEntries(entry("a", 1, 0), entry("b", 0, 0)) < 0);
});

Deno.test("expiredIds() lists entries whose deadline is now or past", () => {
  const list = [entry("a", 0, 0, 100), entry("b", 0, 0, null), entry("c", 0, 0, 101)];
  assert.deepEqual(expiredIds(list, 100), ["a"]);
});
