import assert from "node:assert/strict";
import { ActorStoppedError, AskTimeoutError, MailboxFullError } from "../../core/errors.ts";
import { fakeClock } from "../../tests/helpers.ts";
import { ask, type Clock, type Reply, spawn, tell } from "./actor.ts";

/** Test-only protocol: a counter that can be told to fail, stall or ignore an ask. */
type CounterMsg =
  | { type: "add"; by: number }
  | { type: "get"; reply: Reply<number> }
  | { type: "label"; reply: Reply<string> }
  | { type: "fail" }
  | { type: "wait"; until: Promise<void> }
  | { type: "ignore"; reply: Reply<number> };

function startCounter(name: string, opts: { capacity?: number; clock?: Clock; log?: string[] } = {}) {
  return spawn<CounterMsg, { n: number }>({
    name,
    capacity: opts.capacity,
    clock: opts.clock,
    init: () => ({ n: 0 }),
    handle: async (s, msg) => {
      switch (msg.type) {
        case "add":
          s.n += msg.by;
          return;
        case "get":
          return msg.reply(s.n);
        case "label":
          return msg.reply(`${name}=${s.n}`);
        case "fail":
          throw new Error(`Counter "${name}" failed on purpose`);
        case "wait":
          return await msg.until;
        case "ignore":
          return;
      }
    },
    onStop: (s) => void opts.log?.push(`${name} stopped at ${s.n}`),
  });
}

function gate(): { until: Promise<void>; open: () => void } {
  let open = () => {};
  const until = new Promise<void>((r) => (open = r));
  return { until, open };
}

Deno.test("ask() resolves with the reply typed by the message", async () => {
  await using counter = startCounter("c");
  tell(counter, { type: "add", by: 2 });
  const n: number = await ask(counter, (reply) => ({ type: "get", reply }));
  const label: string = await ask(counter, (reply) => ({ type: "label", reply }));
  assert.equal(n, 2);
  assert.equal(label, "c=2");
});

Deno.test("ask() rejects with AskTimeoutError when the actor does not reply in time", async () => {
  const fake = fakeClock();
  await using counter = startCounter("slow", { clock: fake.clock });
  const answer = ask(counter, (reply) => ({ type: "ignore", reply }), { timeoutMs: 1_000 });
  let error: unknown;
  answer.catch((e) => (error = e));
  const seen = () => error; // read through a call: the assertions below would narrow a plain variable
  await fake.tick(999);
  assert.equal(seen(), undefined);
  await fake.tick(1);
  const timedOut = seen();
  assert.ok(timedOut instanceof AskTimeoutError);
  assert.equal(timedOut.message, 'Ask "ignore" to actor "slow" timed out after 1000 ms');
});

Deno.test("tell() refuses with MailboxFullError when the mailbox is full, and loses nothing", async () => {
  await using counter = startCounter("busy", { capacity: 2 });
  const g = gate();
  tell(counter, { type: "wait", until: g.until });
  tell(counter, { type: "add", by: 1 });
  assert.throws(() => tell(counter, { type: "add", by: 10 }), MailboxFullError);
  await assert.rejects(ask(counter, (reply) => ({ type: "get", reply })), (e: unknown) => {
    assert.ok(e instanceof MailboxFullError);
    assert.equal(e.message, 'Cannot deliver "get" to actor "busy": mailbox is full (2 of 2)');
    return true;
  });
  g.open();
  assert.equal(await ask(counter, (reply) => ({ type: "get", reply })), 1);
});

Deno.test("ActorRef crashes alone when its handler throws", async () => {
  await using healthy = startCounter("healthy");
  const failing = startCounter("failing");
  tell(failing, { type: "fail" });
  await assert.rejects(failing.done, /Counter "failing" failed on purpose/);
  assert.equal(failing.status, "crashed");
  assert.throws(() => tell(failing, { type: "add", by: 1 }), ActorStoppedError);
  tell(healthy, { type: "add", by: 3 });
  assert.equal(await ask(healthy, (reply) => ({ type: "get", reply })), 3);
});

Deno.test("ask() rejects with ActorStoppedError when the actor crashes before replying", async () => {
  const counter = startCounter("doomed");
  tell(counter, { type: "fail" });
  await assert.rejects(ask(counter, (reply) => ({ type: "get", reply })), (e: unknown) => {
    assert.ok(e instanceof ActorStoppedError);
    assert.match(String((e.cause as Error).message), /failed on purpose/);
    return true;
  });
});

Deno.test("stop() drains accepted messages, refuses new ones, then runs onStop", async () => {
  const log: string[] = [];
  const counter = startCounter("graceful", { log });
  const g = gate();
  tell(counter, { type: "wait", until: g.until });
  tell(counter, { type: "add", by: 5 });
  const stopped = counter.stop();
  assert.equal(counter.status, "stopping");
  assert.throws(() => tell(counter, { type: "add", by: 1 }), ActorStoppedError);
  g.open();
  await stopped;
  await counter.done;
  assert.equal(counter.status, "stopped");
  assert.deepEqual(log, ["graceful stopped at 5"]);
});

Deno.test("stop() abandons an actor whose handler hangs past the shutdown time", async () => {
  const fake = fakeClock();
  const counter = startCounter("stuck", { clock: fake.clock });
  tell(counter, { type: "wait", until: new Promise<void>(() => {}) });
  const pending = ask(counter, (reply) => ({ type: "ignore", reply }), { timeoutMs: 60_000 });
  pending.catch(() => {});
  const stopped = counter.stop(2_000);
  await fake.tick(2_000);
  await stopped;
  assert.equal(counter.status, "crashed");
  await assert.rejects(counter.done, /did not stop within 2000 ms/);
  await assert.rejects(pending, ActorStoppedError);
});

Deno.test("await using stops the actor at the end of the scope", async () => {
  const log: string[] = [];
  {
    await using counter = startCounter("scoped", { log });
    tell(counter, { type: "add", by: 1 });
  }
  assert.deepEqual(log, ["scoped stopped at 1"]);
});
