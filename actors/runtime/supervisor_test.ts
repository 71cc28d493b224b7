import assert from "node:assert/strict";
import { EscalationError } from "../../core/errors.ts";
import { fakeClock } from "../../tests/helpers.ts";
import { type ActorRef, type Child, type Clock, spawn, tell } from "./actor.ts";
import { type ChildSpec, startSupervisor, type Supervisor, type SupervisorSpec } from "./supervisor.ts";

/** Test-only protocol: an actor that can crash or exit normally on request. */
type ProbeMsg = { type: "fail" } | { type: "quit" };

function startProbe(id: string, log: string[]): ActorRef<ProbeMsg> {
  log.push(`start ${id}`);
  return spawn<ProbeMsg, null>({
    name: id,
    init: () => null,
    handle: (_s, msg, ctx) => {
      if (msg.type === "fail") throw new Error(`Probe "${id}" failed on purpose`);
      void ctx.self.stop();
    },
    onStop: () => void log.push(`stop ${id}`),
  });
}

function spec(clock: Clock, children: ChildSpec[], over: Partial<SupervisorSpec> = {}): SupervisorSpec {
  return {
    name: "root",
    strategy: "one_for_one",
    intensity: 5,
    periodMs: 60_000,
    backoff: { minMs: 100, maxMs: 1_000, jitter: 0 },
    children,
    clock,
    ...over,
  };
}

function probe(id: string, log: string[], over: Partial<ChildSpec> = {}): ChildSpec {
  return { id, start: () => startProbe(id, log), ...over };
}

function send(sup: Supervisor, id: string, msg: ProbeMsg): void {
  const child = sup.child<ActorRef<ProbeMsg>>(id);
  assert.ok(child, `child "${id}" is running`);
  tell(child, msg);
}

Deno.test("Supervisor starts children in order and stops them in reverse with their shutdownMs", async () => {
  const { clock } = fakeClock();
  const log: string[] = [];
  const recorder = (id: string, shutdownMs: number): ChildSpec => ({
    id,
    shutdownMs,
    start: (): Child => {
      log.push(`start ${id}`);
      return {
        name: id,
        done: new Promise(() => {}),
        stop: (t) => Promise.resolve(void log.push(`stop ${id} within ${t}`)),
      };
    },
  });
  const sup = await startSupervisor(
    spec(clock, [recorder("chain", 5_000), probe("queue", log), recorder("axon", 2_000)]),
  );
  await sup.stop();
  await sup.done;
  assert.deepEqual(log, [
    "start chain",
    "start queue",
    "start axon",
    "stop axon within 2000",
    "stop queue",
    "stop chain within 5000",
  ]);
});

Deno.test("Supervisor restarts a crashing actor after 100, 200 and 400 ms of backoff", async () => {
  const fake = fakeClock();
  const log: string[] = [];
  await using sup = await startSupervisor(spec(fake.clock, [probe("queue", log)]));
  const starts = () => log.filter((l) => l === "start queue").length;
  for (const [i, delayMs] of [100, 200, 400].entries()) {
    send(sup, "queue", { type: "fail" });
    await fake.flush();
    assert.equal(sup.child("queue"), undefined, "down during the backoff");
    await fake.tick(delayMs - 1);
    assert.equal(starts(), i + 1, `not restarted before ${delayMs} ms`);
    await fake.tick(1);
    assert.equal(starts(), i + 2, `restarted at ${delayMs} ms`);
  }
  assert.deepEqual(sup.restarts(), { total: 3, byChild: { queue: 3 } });
});

Deno.test("Supervisor escalates on the 6th crash in 60 s when intensity is 5", async () => {
  const fake = fakeClock();
  const log: string[] = [];
  const sup = await startSupervisor(
    spec(fake.clock, [probe("chain", log), probe("gpu", log), probe("axon", log)]),
  );
  for (let i = 0; i < 5; i++) {
    send(sup, "gpu", { type: "fail" });
    await fake.tick(1_000); // past any backoff, well inside the period
  }
  log.length = 0;
  send(sup, "gpu", { type: "fail" });
  await fake.flush();
  await assert.rejects(sup.done, (e: unknown) => {
    assert.ok(e instanceof EscalationError);
    assert.equal(e.supervisor, "root");
    assert.equal(e.child, "gpu");
    assert.equal(e.context, "restart");
    assert.equal(e.restarts, 5);
    assert.equal(
      e.message,
      'Supervisor "root" gave up on child "gpu" (restart) after 5 restarts in period: Probe "gpu" failed on purpose',
    );
    return true;
  });
  assert.deepEqual(log, ["stop axon", "stop chain"], "the others stop cleanly, in reverse");
});

Deno.test("Supervisor forgets crashes older than the period", async () => {
  const fake = fakeClock();
  const log: string[] = [];
  await using sup = await startSupervisor(
    spec(fake.clock, [probe("gpu", log)], { intensity: 1, periodMs: 10_000 }),
  );
  for (let i = 0; i < 3; i++) {
    send(sup, "gpu", { type: "fail" });
    await fake.tick(10_000);
  }
  assert.equal(sup.restarts().total, 3);
  assert.ok(sup.child("gpu"));
});

Deno.test("startSupervisor() escalates when a child fails to start, stopping those already started", async () => {
  const { clock } = fakeClock();
  const log: string[] = [];
  const broken: ChildSpec = {
    id: "store",
    start: () => {
      throw new Error('Cannot open KV "data/miner.kv"');
    },
  };
  await assert.rejects(
    startSupervisor(spec(clock, [probe("chain", log), broken, probe("axon", log)])),
    (e: unknown) => {
      assert.ok(e instanceof EscalationError);
      assert.equal(e.child, "store");
      assert.equal(e.context, "start");
      assert.match(e.message, /Cannot open KV "data\/miner.kv"/);
      return true;
    },
  );
  assert.deepEqual(log, ["start chain", "stop chain"]);
});

Deno.test("Supervisor restarts a permanent child that exits normally, but not a transient or temporary one", async () => {
  const fake = fakeClock();
  const log: string[] = [];
  await using sup = await startSupervisor(spec(fake.clock, [
    probe("perm", log),
    probe("trans", log, { restart: "transient" }),
    probe("temp", log, { restart: "temporary" }),
  ]));
  send(sup, "perm", { type: "quit" });
  send(sup, "trans", { type: "quit" });
  send(sup, "temp", { type: "fail" });
  await fake.tick(1_000);
  assert.deepEqual(sup.restarts().byChild, { perm: 1, trans: 0, temp: 0 });
  assert.ok(sup.child("perm"));
  assert.equal(sup.child("trans"), undefined);
  assert.equal(sup.child("temp"), undefined);
});

Deno.test("Supervisor restarts a nested supervisor that escalated", async () => {
  const fake = fakeClock();
  const log: string[] = [];
  const gpuSpec = spec(fake.clock, [probe("gpu:0", log)], { name: "gpus", intensity: 0 });
  await using root = await startSupervisor(
    spec(fake.clock, [{ id: "gpus", start: () => startSupervisor(gpuSpec) }]),
  );
  const gpus = root.child<Supervisor>("gpus");
  assert.ok(gpus);
  send(gpus, "gpu:0", { type: "fail" });
  await assert.rejects(gpus.done, EscalationError);
  await fake.tick(100);
  assert.deepEqual(root.restarts(), { total: 1, byChild: { gpus: 1 } });
  const fresh = root.child<Supervisor>("gpus");
  assert.ok(fresh && fresh !== gpus);
  assert.ok(fresh.child("gpu:0"));
  assert.deepEqual(log, ["start gpu:0", "start gpu:0"]);
});
