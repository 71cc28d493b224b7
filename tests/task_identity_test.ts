/**
 * Task ids belong to the validator that sent them (issue 12): another validator's id is refused
 * without a word about the task holding it, and a validator sending its own id again learns where
 * that task is (`duplicate`, with its state) instead of a second `accepted`.
 */
import assert from "node:assert/strict";
import { forward } from "../actors/axon/synapse_handlers.ts";
import { admissionRequest, startAdmission } from "./admission_harness.ts";

const A = "5ValidatorA";
const B = "5ValidatorB";

const request = admissionRequest;

Deno.test("acceptTask() refuses another validator's task id with id_taken, telling nothing of that task", async () => {
  await using h = await startAdmission();
  assert.ok((await h.accept(request("shared"), A, 5_000)).ok);
  const taken = await h.accept(request("shared", { priority: 9 }), B, 9_000);
  assert.deepEqual(taken, {
    ok: false,
    reason: "id_taken",
    message: 'Cannot accept task "shared": this id is already taken on this miner; send it under another id',
  });
  await h.setState("shared", "done");
  assert.deepEqual(await h.accept(request("shared"), B, 9_000), taken, "the same words whatever its state");
  const stored = await h.store.getTask("shared");
  assert.equal(stored?.validator_hotkey, A, "A's task is untouched");
  assert.deepEqual(h.prepared, ["shared"], "B's request started nothing");
  assert.ok((await h.accept(request("shared-b"), B, 9_000)).ok, "B's own id goes through");
});

Deno.test("acceptTask() answers a repeated id duplicate with the task's current state, never accepted", async () => {
  await using h = await startAdmission();
  assert.deepEqual(await h.accept(request("again"), A, 5_000), { ok: true, taskId: "again", position: 1 });
  const received = await h.accept(request("again"), A, 5_000);
  assert.deepEqual(received, {
    ok: false,
    reason: "duplicate",
    taskId: "again",
    state: "received",
    position: 1,
    message: 'Task "again" was already sent by this validator: it is "received" at queue position 1',
  });
  for (const state of ["dataset_submitted", "training", "failed", "done"] as const) {
    await h.setState("again", state);
    const answer = await h.accept(request("again"), A, 5_000);
    assert.ok(!answer.ok && answer.reason === "duplicate", `${state}: ${JSON.stringify(answer)}`);
    assert.equal(answer.state, state);
    assert.match(answer.message, new RegExp(`it is "${state}"`));
  }
  const done = await h.accept(request("again"), A, 5_000);
  assert.ok(!done.ok && done.reason === "duplicate" && done.position === 0, "a done task has no place");
  assert.deepEqual(h.prepared, ["again"], "nothing was started again");
});

Deno.test("forward() answers a duplicate TrainingTask with the task id and its place, not accepted", async () => {
  const services = {
    lookup: () => ({ registered: true, uid: 1, validatorPermit: true, stakeTao: 5_000, stale: false }),
    acceptTask: () => ({
      ok: false as const,
      reason: "duplicate" as const,
      message: 'Task "t-1" was already sent by this validator: it is "queued" at queue position 2',
      taskId: "t-1",
      state: "queued" as const,
      position: 2,
    }),
    taskStatus: () => null,
    capacity: () => ({ totalGpus: 1, freeGpus: 1, vramMb: [1], queueLength: 0, queueMax: 1 }),
  };
  const reply = await forward("TrainingTask", { task: request("t-1") }, { hotkey: A, facts: null }, services);
  assert.deepEqual(reply, {
    accepted: false,
    task_id: "t-1",
    queue_position: 2,
    reason: "duplicate",
    message: 'Task "t-1" was already sent by this validator: it is "queued" at queue position 2',
  });
});
