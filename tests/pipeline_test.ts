/**
 * The PipelineActor under real supervision (tests/pipeline_harness.ts): a task reaches `done` with one
 * result while an actor on its path is held down, and a validator meets a restarting actor as a 503
 * with Retry-After, never a 500.
 */
import assert from "node:assert/strict";
import { createDendrite } from "../local/dendrite.ts";
import { ActorStoppedError, UnavailableError } from "../core/errors.ts";
import { acceptTask, type PipelineMsg } from "../actors/protocol.ts";
import type { Child } from "../actors/runtime/actor.ts";
import {
  makeHandler,
  MINER_PHRASE,
  taskJson,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "./axon_fixtures.ts";
import { waitFor } from "./helpers.ts";
import { type ChildId, pipelineRequest, startHarness } from "./pipeline_harness.ts";

const HELD_MS = 60_000;

/** A `hold` for the harness: while `until()` is in the future, a (re)start of `id` waits for it. */
function holdDown(id: ChildId) {
  let until = 0;
  return {
    from: (ms: number) => (until = Date.now() + ms),
    hold: async (child: ChildId, start: () => Promise<Child>) => {
      const wait = until - Date.now();
      if (child === id && wait > 0) await new Promise((r) => setTimeout(r, wait));
      return await start();
    },
  };
}

Deno.test("PipelineActor delivers a task exactly once when the queue is held down for 60 s as its dataset is validated", async () => {
  const queue = holdDown("queue");
  await using h = await startHarness({ hold: queue.hold });
  const id = "held-1";
  h.taskCenter.scripts.set(id, { status: "pending" });
  const accepted = await h.accept(pipelineRequest(id));
  assert.ok(accepted.ok, JSON.stringify(accepted));
  await waitFor(async () => (await h.store.getTask(id))?.state === "dataset_submitted", {
    timeoutMs: 20_000,
    what: "the dataset to be submitted",
  });

  // The queue crashes and its restart is held down for 60 s; meanwhile the dataset is validated.
  queue.from(HELD_MS);
  const heldSince = Date.now();
  await h.child<never>("queue")!.stop();
  h.taskCenter.scripts.set(id, { status: "validated" });
  await waitFor(async () => (await h.store.getTask(id))?.state === "dataset_validated", {
    timeoutMs: 20_000,
    what: "the validation to land",
  });
  assert.equal(h.child("queue"), undefined, "the queue is still down");

  await waitFor(async () => (await h.store.getTask(id))?.state === "done", {
    timeoutMs: HELD_MS + 60_000,
    intervalMs: 250,
    what: "the task to be trained and delivered",
  });
  assert.ok(Date.now() - heldSince >= HELD_MS, "it finished only after the queue came back");
  assert.equal(h.taskCenter.recorded.length, 1, "exactly one result reached the task center");
  assert.equal(h.taskCenter.recorded[0].task_id, id);
  assert.deepEqual(h.settled.map((t) => [t.request.id, t.state]), [[id, "done"]]);
  const task = await h.store.getTask(id);
  assert.equal(task?.history.filter((s) => s.state === "training").length, 1, "trained once");
  assert.equal(h.sup.restarts().byChild.queue, 1, "one restart of the queue, no restart of the miner");
});

Deno.test("A validator's TrainingTask gets 503 with Retry-After while the queue restarts, then 200", async () => {
  const queue = holdDown("queue");
  await using h = await startHarness({ hold: queue.hold });
  const [minerW, validatorW] = await Promise.all([MINER_PHRASE, VALIDATOR_PHRASE].map(walletFrom));
  const s = makeHandler(minerW, { now: () => Date.now(), setTimeout, clearTimeout }, {
    services: {
      acceptTask: (request, sender) => acceptTask(h.child<PipelineMsg>("pipeline")!, request, sender),
    },
  });
  s.miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  const validator = createDendrite({ wallet: validatorW, now: () => Date.now() });
  const target = { ip: "127.0.0.1", port: 8001, hotkey: minerW.hotkey.ss58 };
  const send = (id: string) => {
    const p = validator.prepare(target, "TrainingTask", { task: taskJson(id) });
    return s.handler(new Request(p.url, { method: "POST", headers: p.headers, body: p.body }));
  };

  queue.from(3_000);
  await h.child<never>("queue")!.stop();
  const busy = await send("busy-1");
  assert.equal(busy.status, 503);
  assert.equal(busy.headers.get("retry-after"), "5");
  assert.match((await busy.json()).message, /queue actor is busy or restarting/);

  await waitFor(() => h.child("queue") !== undefined, { timeoutMs: 10_000, what: "the queue to restart" });
  const ok = await send("busy-1");
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).accepted, true);
});

Deno.test("handler() answers 503 with Retry-After, not 500, when a service's actor is stopped or restarting", async () => {
  const [minerW, validatorW] = await Promise.all([MINER_PHRASE, VALIDATOR_PHRASE].map(walletFrom));
  const s = makeHandler(minerW, { now: () => Date.now(), setTimeout, clearTimeout }, {
    services: {
      acceptTask: () => Promise.reject(new ActorStoppedError("pipeline", "accept")),
      capacity: () => Promise.reject(new UnavailableError("queue actor", 5)),
    },
  });
  s.miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  const validator = createDendrite({ wallet: validatorW, now: () => Date.now() });
  const target = { ip: "127.0.0.1", port: 8001, hotkey: minerW.hotkey.ss58 };
  for (
    const [name, fields, what] of [
      ["TrainingTask", { task: taskJson("t-1") }, /pipeline actor/],
      ["Capacity", {}, /queue actor/],
    ] as const
  ) {
    const p = validator.prepare(target, name, fields);
    const res = await s.handler(new Request(p.url, { method: "POST", headers: p.headers, body: p.body }));
    assert.equal(res.status, 503, name);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.match((await res.json()).message, what);
  }
});
