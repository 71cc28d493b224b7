import assert from "node:assert/strict";
import { Store } from "../../core/store.ts";
import { transition } from "../../core/task.ts";
import { textTask } from "../../tests/fixtures.ts";
import { observeStore, RECENT_MAX, tallyStore, TaskTally } from "./tally.ts";

async function scanCounts(store: Store): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const t of store.tasks()) counts[t.state] = (counts[t.state] ?? 0) + 1;
  return counts;
}

const nonZero = (c: Record<string, number>) => Object.fromEntries(Object.entries(c).filter(([, n]) => n > 0));

Deno.test("TaskTally.record() moves a task's count from its old state to its new one", () => {
  const tally = new TaskTally();
  const t = textTask("t-1");
  tally.record(t);
  tally.record(t); // the same write seen twice counts once
  const submitted = transition(t, { type: "submitDataset" }, 2_000);
  tally.record(submitted);
  assert.deepEqual(nonZero(tally.counts()), { dataset_submitted: 1 });
  assert.equal(tally.brief("t-1")?.state, "dataset_submitted");
  tally.record(transition(submitted, { type: "fail", reason: "cancelled" }, 3_000));
  assert.deepEqual(nonZero(tally.counts()), { failed: 1 });
  assert.equal(tally.brief("t-1"), undefined);
  assert.deepEqual(tally.recent().map((r) => [r.id, r.state, r.reason]), [["t-1", "failed", "cancelled"]]);
});

Deno.test("observeStore() tallies every committed task and outbox write once, as a full scan counts them", async () => {
  await using raw = await Store.open();
  const tally = new TaskTally();
  const store = observeStore(raw, tally);
  await store.createTask(textTask("a"));
  await store.createTasks([textTask("b"), textTask("c"), textTask("a")]); // "a" is a duplicate
  await store.updateTask("b", (t) => transition(t, { type: "submitDataset" }, 2_000));
  await store.updateTasks([
    { id: "c", change: (t) => transition(t, { type: "reject", reason: "model_not_allowed" }, 2_000) },
    { id: "a", change: () => null }, // unchanged
  ]);
  await store.putOutbox("b", "result", { x: 1 });
  await store.putOutbox("b", "result", { x: 2 }); // overwrites: still one entry
  await store.putOutbox("c", "result", {});
  await store.deleteOutbox("c", "result");
  assert.deepEqual(nonZero(tally.counts()), nonZero(await scanCounts(raw)));
  assert.deepEqual(nonZero(tally.counts()), { received: 1, dataset_submitted: 1, rejected: 1 });
  assert.equal(tally.outboxLength, 1);
  // Reads pass straight through.
  assert.equal((await store.getTask("b"))?.state, "dataset_submitted");
  assert.ok(store instanceof Store);
});

Deno.test("tallyStore() loads counts, the outbox and the newest ended tasks from one scan", async () => {
  await using raw = await Store.open();
  for (let i = 0; i < RECENT_MAX + 5; i++) {
    await raw.createTask(
      transition(textTask(`old-${i}`, i), { type: "reject", reason: "queue_full" }, 10_000 + i),
    );
  }
  await raw.createTask(textTask("live"));
  await raw.putOutbox("live", "result", {});
  const tally = new TaskTally();
  const store = await tallyStore(raw, tally);
  assert.deepEqual(nonZero(tally.counts()), { rejected: RECENT_MAX + 5, received: 1 });
  assert.equal(tally.outboxLength, 1);
  assert.equal(tally.recent().length, RECENT_MAX);
  assert.equal(tally.recent()[0].id, `old-${RECENT_MAX + 4}`, "newest first");
  await store.updateTask("live", (t) => transition(t, { type: "fail", reason: "deadline" }, 99_999));
  assert.equal(tally.recent()[0].id, "live");
  assert.deepEqual(nonZero(tally.counts()), { rejected: RECENT_MAX + 5, failed: 1 });
});
