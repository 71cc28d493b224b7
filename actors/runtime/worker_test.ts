import assert from "node:assert/strict";
import { ActorStoppedError, AskTimeoutError } from "../../core/errors.ts";
import { fakeClock, waitFor } from "../../tests/helpers.ts";
import { startSupervisor } from "./supervisor.ts";
import type { CounterApi } from "./testdata/counter_worker.ts";
import { startWorkerActor, type WorkerActor } from "./worker.ts";

const COUNTER = new URL("./testdata/counter_worker.ts", import.meta.url);

Deno.test("WorkerActor.call() returns the worker's result", async () => {
  await using counter = startWorkerActor<CounterApi>(COUNTER, "counter");
  assert.deepEqual(await counter.call("increment", [2]), { ok: true, value: 2 });
  assert.deepEqual(await counter.call("increment", [3]), { ok: true, value: 5 });
});

Deno.test("WorkerActor.call() rejects with AskTimeoutError when the worker does not answer in time", async () => {
  const fake = fakeClock();
  await using counter = startWorkerActor<CounterApi>(COUNTER, "counter", { clock: fake.clock });
  const answer = counter.call("hang", [], { timeoutMs: 30_000 });
  const checked = assert.rejects(answer, (e: unknown) => {
    assert.ok(e instanceof AskTimeoutError);
    assert.equal(e.message, 'Ask "hang" to actor "counter" timed out after 30000 ms');
    return true;
  });
  await fake.tick(30_000);
  await checked;
});

Deno.test("WorkerActor crashes when the worker throws uncaught, failing the calls in flight", async () => {
  const counter = startWorkerActor<CounterApi>(COUNTER, "counter");
  const pending = counter.call("hang", [], { timeoutMs: 60_000 });
  // Watched from the start: under load the crash can reject it before the test reaches the check.
  const pendingFailed = assert.rejects(pending, (e: unknown) => {
    assert.ok(e instanceof ActorStoppedError);
    assert.match(String((e.cause as Error).message), /crashed on purpose/);
    return true;
  });
  // Its reply and the crash race (separate channels from the worker): either the reply or the crash wins.
  const reply = await counter.call("crashSoon", []).catch((e: unknown) => e);
  assert.ok(reply instanceof ActorStoppedError || (reply as { ok: boolean }).ok === true, String(reply));
  await assert.rejects(counter.done, /Worker "counter" crashed: .*Counter worker crashed on purpose/);
  await pendingFailed;
  assert.equal(counter.status, "crashed");
  await assert.rejects(counter.call("increment", [1]), ActorStoppedError);
});

Deno.test("WorkerActor.stop() runs onStop in the worker before terminating it", async () => {
  const persisted: number[] = [];
  const counter = startWorkerActor<CounterApi>(COUNTER, "counter", {
    onStop: async (call) => {
      const r = await call("flush", []);
      persisted.push(r.persisted);
    },
  });
  await counter.call("increment", [7]);
  await counter.stop();
  await counter.done;
  assert.deepEqual(persisted, [7]);
  assert.equal(counter.status, "stopped");
});

Deno.test("Supervisor restarts a crashed Web Worker actor with fresh state", async () => {
  await using sup = await startSupervisor({
    name: "gpus",
    strategy: "one_for_one",
    intensity: 3,
    periodMs: 60_000,
    backoff: { minMs: 1, maxMs: 10, jitter: 0 },
    children: [{
      id: "gpu:0",
      start: () => startWorkerActor<CounterApi>(COUNTER, "gpu:0"),
      shutdownMs: 1_000,
    }],
  });
  const first = sup.child<WorkerActor<CounterApi>>("gpu:0");
  assert.ok(first);
  await first.call("increment", [4]);
  await first.call("crashSoon", []).catch(() => {}); // the crash may beat the reply
  await waitFor(() => sup.restarts().total === 1 && sup.child("gpu:0") !== undefined, { what: "a restart" });
  const second = sup.child<WorkerActor<CounterApi>>("gpu:0");
  assert.ok(second && second !== first);
  assert.deepEqual(await second.call("increment", [1]), { ok: true, value: 1 });
});

Deno.test("Supervisor treats a killed Web Worker actor as crashed", async () => {
  await using sup = await startSupervisor({
    name: "gpus",
    strategy: "one_for_one",
    intensity: 3,
    periodMs: 60_000,
    backoff: { minMs: 1, maxMs: 10, jitter: 0 },
    children: [{ id: "gpu:0", start: () => startWorkerActor<CounterApi>(COUNTER, "gpu:0") }],
  });
  sup.child<WorkerActor<CounterApi>>("gpu:0")?.kill();
  await waitFor(() => sup.restarts().byChild["gpu:0"] === 1 && sup.child("gpu:0") !== undefined, {
    what: "a restart",
  });
});
