import assert from "node:assert/strict";
import fc from "fast-check";
import { Store } from "../../core/store.ts";
import { transition } from "../../core/task.ts";
import { textTask } from "../../tests/fixtures.ts";
import { compareEntries, type Entry, entryOf, expiredIds, insertEntry, removeEntry } from "./priority.ts";

const entry = (
  id: string,
  priority: number,
  receivedMs: number,
  deadlineMs: number | null = null,
): Entry => ({
  id,
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

Deno.test("compareEntries() orders queued tasks exactly like the store's queue index", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(fc.record({ p: fc.integer({ min: -3, max: 3 }), at: fc.integer({ min: 1, max: 5 }) }), {
        minLength: 1,
        maxLength: 12,
      }),
      async (rows) => {
        await using store = await Store.open();
        const list: Entry[] = [];
        for (const [i, r] of rows.entries()) {
          const t = textTask(`t${i}`, r.at, { priority: r.p });
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
