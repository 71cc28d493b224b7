import assert from "node:assert/strict";
import type { Logger } from "@logtape/logtape";
import { verify } from "../../core/wallet.ts";
import { fakeClock } from "../../tests/helpers.ts";
import {
  makeHandler,
  MINER_PHRASE,
  STRANGER_PHRASE,
  taskJson,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "../../tests/axon_fixtures.ts";
import { EMPTY_BODY_HASH } from "./body_hash.ts";
import { type AxonTarget, createDendrite, type PreparedRequest } from "../../local/dendrite.ts";

const T0 = 1_750_000_000_000;
const [minerW, validatorW, strangerW] = await Promise.all(
  [MINER_PHRASE, VALIDATOR_PHRASE, STRANGER_PHRASE].map(walletFrom),
);
const TARGET: AxonTarget = { ip: "10.0.0.1", port: 8001, hotkey: minerW.hotkey.ss58 };

function setup(over: Parameters<typeof makeHandler>[2] = {}) {
  const fake = fakeClock(T0);
  const s = makeHandler(minerW, fake.clock, over);
  s.miner.facts.set(validatorW.hotkey.ss58, VALIDATOR_FACTS);
  const validator = createDendrite({ wallet: validatorW, now: () => fake.clock.now(), ip: "10.0.0.9" });
  const stranger = createDendrite({ wallet: strangerW, now: () => fake.clock.now() });
  const send = (p: PreparedRequest, init: RequestInit = {}) =>
    s.handler(new Request(p.url, { method: "POST", headers: p.headers, body: p.body, ...init }), {
      remoteAddr: { hostname: "10.0.0.9", port: 40123 },
    });
  return { ...s, fake, validator, stranger, send };
}

// deno-lint-ignore no-explicit-any
async function json(res: Response): Promise<Record<string, any>> {
  assert.equal(res.headers.get("content-type"), "application/json");
  return await res.json();
}

Deno.test("handler() answers a validator's TrainingTask with 200 and the whole synapse", async () => {
  const t = setup();
  const req = t.validator.prepare(TARGET, "TrainingTask", { task: taskJson("t-1") });
  const res = await t.send(req);
  assert.equal(res.status, 200);
  const body = await json(res);
  assert.deepEqual(Object.keys(body), [
    "name",
    "timeout",
    "total_size",
    "header_size",
    "dendrite",
    "axon",
    "computed_body_hash",
    "task",
    "accepted",
    "task_id",
    "queue_position",
    "reason",
    "message",
  ]);
  assert.equal(body.name, "TrainingTask");
  assert.deepEqual([body.accepted, body.task_id, body.queue_position, body.reason], [true, "t-1", 0, null]);
  assert.deepEqual(body.task, taskJson("t-1"));
  assert.equal(body.axon.status_code, 200);
  assert.equal(body.axon.status_message, "Success");
  assert.equal(body.axon.hotkey, minerW.hotkey.ss58);
  // The nonce is echoed exactly (a ns timestamp exceeds 2^53).
  const raw = await t.send(t.validator.prepare(TARGET, "Synapse")).then((r) => r.text());
  assert.match(raw, new RegExp(`"nonce":${BigInt(T0) * 1_000_000n + 1n}`));
  const h = Object.fromEntries(res.headers);
  assert.equal(h.name, "TrainingTask");
  assert.equal(h.timeout, "12.0");
  assert.equal(h.bt_header_axon_status_code, "200");
  assert.equal(h.bt_header_axon_status_message, "Success");
  assert.equal(h.bt_header_dendrite_nonce, req.headers.bt_header_dendrite_nonce);
  assert.equal(h.computed_body_hash, req.headers.computed_body_hash);
  const signed = `${h.bt_header_axon_nonce}.${validatorW.hotkey.ss58}.${minerW.hotkey.ss58}.axon-uuid-1`;
  assert.ok(verify(signed, h.bt_header_axon_signature, minerW.hotkey.ss58), "axon signature verifies");
  assert.deepEqual(t.miner.submitted[0].validator, { hotkey: validatorW.hotkey.ss58, stakeTao: 5_000 });
});

Deno.test("handler() refuses a task as a 200 reply when the queue is full or the task is invalid", async () => {
  const t = setup();
  t.miner.queueMax = 0;
  const full = await json(
    await t.send(t.validator.prepare(TARGET, "TrainingTask", { task: taskJson("t-1") })),
  );
  assert.deepEqual([full.accepted, full.reason, full.task_id], [false, "queue_full", null]);
  const bad = { ...taskJson("t-2"), dataset: { kind: "hf", repo: "not a repo", revision: "main" } };
  const invalid = await json(await t.send(t.validator.prepare(TARGET, "TrainingTask", { task: bad })));
  assert.deepEqual([invalid.accepted, invalid.reason], [false, "invalid_task"]);
  assert.match(invalid.message, /^Field "task\.dataset\.repo": /);
  const missing = await json(await t.send(t.validator.prepare(TARGET, "TrainingTask")));
  assert.equal(missing.message, 'Field "task" is required');
});

Deno.test("handler() answers TaskStatus for the sender's own task only, and Capacity", async () => {
  const t = setup();
  await t.send(t.validator.prepare(TARGET, "TrainingTask", { task: taskJson("t-9") }));
  const task = t.miner.tasks.get("t-9")!;
  t.miner.tasks.set("t-9", { ...task, state: "training", progress: { step: 25, total: 100, loss: 1.5 } });
  const own = await json(await t.send(t.validator.prepare(TARGET, "TaskStatus", { task_id: "t-9" })));
  assert.deepEqual([own.task_id, own.state, own.progress, own.result_repo], ["t-9", "training", 0.25, null]);
  t.miner.facts.set(strangerW.hotkey.ss58, VALIDATOR_FACTS);
  const other = await json(await t.send(t.stranger.prepare(TARGET, "TaskStatus", { task_id: "t-9" })));
  assert.equal(other.state, "not_found");
  const cap = await json(await t.send(t.validator.prepare(TARGET, "Capacity")));
  assert.deepEqual(
    [cap.total_gpus, cap.free_gpus, cap.gpu_vram_mb, cap.queue_length, cap.queue_max],
    [2, 1, [81559, 81559], 1, 2],
  );
});

Deno.test("handler() answers an unknown synapse or path with 404 naming the available ones", async () => {
  const t = setup();
  for (const path of ["Nope", "TrainingTask/extra", ""]) {
    const p = t.validator.prepare(TARGET, "Synapse");
    const res = await t.send({ ...p, url: `http://10.0.0.1:8001/${path}` });
    assert.equal(res.status, 404, path);
    const { message } = await json(res);
    assert.match(message, /^Synapse name '.*' not found\. Available synapses \['Synapse', 'TrainingTask', /);
    assert.equal(res.headers.get("bt_header_axon_status_code"), "404");
  }
});

Deno.test("handler() answers 403 to unregistered, permitless, low-stake and rate-limited hotkeys", async () => {
  const t = setup({ rateLimit: { burst: 2, perSecond: 1 } });
  const forbidden = async (d = t.stranger) => {
    const res = await t.send(d.prepare(TARGET, "Capacity"));
    return [res.status, (await json(res)).message];
  };
  assert.deepEqual(await forbidden(), [403, "Forbidden. Key is blacklisted: Unrecognized hotkey."]);
  t.miner.facts.set(strangerW.hotkey.ss58, { ...VALIDATOR_FACTS, validatorPermit: false });
  assert.deepEqual(await forbidden(), [403, "Forbidden. Key is blacklisted: Non-validator hotkey."]);
  t.miner.facts.set(strangerW.hotkey.ss58, { ...VALIDATOR_FACTS, stakeTao: 999.5 });
  assert.deepEqual(await forbidden(), [
    403,
    "Forbidden. Key is blacklisted: Stake 999.5 TAO is below the minimum 1000 TAO.",
  ]);
  // Refused requests took no tokens; two verified ones empty the bucket; a second refills one.
  assert.equal((await t.send(t.validator.prepare(TARGET, "Capacity"))).status, 200);
  assert.equal((await t.send(t.validator.prepare(TARGET, "Capacity"))).status, 200);
  const limited = await forbidden(t.validator);
  assert.equal(limited[0], 403);
  assert.match(limited[1], /Rate limit exceeded/);
  await t.fake.tick(1_000);
  assert.equal((await t.send(t.validator.prepare(TARGET, "Capacity"))).status, 200);
});

Deno.test("handler() lets an unregistered hotkey ping (the SDK's Synapse route has no blacklist)", async () => {
  const t = setup();
  const res = await t.send(t.stranger.prepare(TARGET, "Synapse"));
  assert.equal(res.status, 200);
  assert.equal((await json(res)).axon.status_message, "Success");
});

Deno.test("handler() answers 401 to bad signatures, replays, stale nonces and tampered bodies", async () => {
  const t = setup();
  const unauthorized = async (p: PreparedRequest, pattern: RegExp) => {
    const res = await t.send(p);
    const { message } = await json(res);
    assert.equal(res.status, 401, message);
    assert.match(message, /^Not Verified with error: /);
    assert.match(message, pattern);
  };
  const p = t.validator.prepare(TARGET, "TrainingTask", { task: taskJson("t-1") });
  const sig = p.headers.bt_header_dendrite_signature;
  const flipped = sig.slice(0, 10) + (sig[10] === "0" ? "1" : "0") + sig.slice(11);
  await unauthorized(
    { ...p, headers: { ...p.headers, bt_header_dendrite_signature: flipped } },
    /Signature mismatch/,
  );
  const { bt_header_dendrite_signature: _, ...unsigned } = p.headers;
  await unauthorized({ ...p, headers: unsigned }, /Missing Signature/);
  await unauthorized({ ...p, body: p.body.replace('"t-1"', '"t-2"') }, /Hash mismatch/);
  assert.equal((await t.send(p)).status, 200);
  await unauthorized(p, /a newer one was last processed/);
  // A new dendrite (uuid) has no recorded nonce: its first request must be fresh.
  const fresh = createDendrite({ wallet: validatorW, now: () => t.fake.clock.now() });
  const old = fresh.prepare(TARGET, "Capacity");
  await t.fake.tick(16_001);
  await unauthorized(old, /Nonce is too old: acceptable delta is 16\.00 seconds/);
  const elsewhere = t.validator.prepare({ ...TARGET, hotkey: strangerW.hotkey.ss58 }, "Capacity");
  await unauthorized(elsewhere, /Request is for axon hotkey/);
  assert.equal(t.miner.submitted.length, 1);
});

Deno.test("handler() answers 400 naming the JSON position, the field or the header", async () => {
  const t = setup();
  const p = t.validator.prepare(TARGET, "TaskStatus", { task_id: "t-1" });
  const bad = async (req: PreparedRequest) => {
    const res = await t.send(req);
    assert.equal(res.status, 400);
    return (await json(res)).message as string;
  };
  assert.match(
    await bad({ ...p, body: p.body.slice(0, 40) }),
    /^Body is not valid JSON: .*position|line|column/,
  );
  assert.equal(await bad({ ...p, body: "[1]" }), "Body is not a JSON object");
  const typed = t.validator.prepare(TARGET, "Capacity");
  assert.match(
    await bad({ ...typed, body: typed.body.replace('"queue_max":null', '"queue_max":"x"') }),
    /^Field "queue_max": /,
  );
  assert.equal(
    await bad({ ...p, headers: { ...p.headers, bt_header_dendrite_nonce: "12abc" } }),
    'Header "bt_header_dendrite_nonce" is not an integer',
  );
});

Deno.test("handler() answers 413 to a body over the limit, declared or streamed", async () => {
  const t = setup({ maxBodyBytes: 1_000 });
  const p = t.validator.prepare(TARGET, "TrainingTask", {
    task: { ...taskJson("t-1"), pad: "x".repeat(2_000) },
  });
  assert.equal((await t.send(p)).status, 413);
  const streamed = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(p.body));
      c.close();
    },
  });
  const { "content-length": _, ...headers } = p.headers;
  const res = await t.send({ ...p, headers }, { body: streamed });
  assert.equal(res.status, 413);
  assert.match((await json(res)).message, /limit is 1000 bytes/);
});

Deno.test("handler() answers 408 when the request waits for a handler slot past its timeout", async () => {
  const t = setup({ maxInFlight: 1 });
  let unblock = () => {};
  t.miner.capacity = () => new Promise((r) => (unblock = () => r(t.miner.capacityValue)));
  const first = t.send(t.validator.prepare(TARGET, "Capacity", {}, 12));
  await t.fake.flush();
  const second = t.send(t.validator.prepare(TARGET, "Synapse", {}, 2));
  await t.fake.tick(2_001);
  const res = await second;
  assert.equal(res.status, 408);
  assert.equal((await json(res)).message, "Response timeout after: 2.0s");
  unblock();
  assert.equal((await first).status, 200);
});

Deno.test("handler() answers 500 with an error id when a service fails, and 405 to other methods", async () => {
  const t = setup();
  t.miner.failWith = new Error("ask timed out");
  const res = await t.send(t.validator.prepare(TARGET, "Capacity"));
  assert.equal(res.status, 500);
  assert.match((await json(res)).message, /^Internal Server Error #[0-9a-f-]{36}$/);
  const put = await t.send(t.validator.prepare(TARGET, "Synapse"), { method: "PUT" });
  assert.equal(put.status, 405);
  assert.equal((await json(put)).message, "Method Not Allowed");
});

Deno.test("handler() puts the request's TerminalInfo and the client address in error headers", async () => {
  const t = setup();
  const p = t.stranger.prepare(TARGET, "Capacity");
  const h = Object.fromEntries((await t.send(p)).headers);
  assert.equal(h.bt_header_axon_status_code, "403");
  assert.equal(h.bt_header_dendrite_ip, "10.0.0.9");
  assert.equal(h.bt_header_dendrite_port, "40123");
  assert.equal(h.bt_header_dendrite_hotkey, strangerW.hotkey.ss58);
  assert.equal(h.bt_header_axon_hotkey, minerW.hotkey.ss58);
  assert.equal(h.computed_body_hash, EMPTY_BODY_HASH);
  assert.equal(h.bt_header_axon_signature, undefined, "refusals are not signed");
  assert.equal(t.state.counts.get(403), 1);
});

Deno.test("handler() counts a body that stops before its end as aborted, logged at debug, not a reply", async () => {
  const logged: string[] = [];
  const log = Object.fromEntries(
    ["debug", "info", "warn", "error"].map((
      level,
    ) => [level, (m: string) => void logged.push(`${level} ${m}`)]),
  ) as unknown as Logger;
  const t = setup({ log });
  const p = t.validator.prepare(TARGET, "TaskStatus", { task_id: "t-1" });
  // What Deno.serve's body stream does when the connection closes mid-body (client gone, or deadline).
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(p.body.slice(0, 20)));
      c.error(new Deno.errors.BadResource("Cannot read request body as underlying resource unavailable"));
    },
  });
  await t.send(p, { body });
  assert.equal(t.state.aborted, 1);
  assert.deepEqual(Object.fromEntries(t.state.counts), {});
  assert.deepEqual(logged, ["debug Axon request {name} aborted: its body did not arrive"]);
});

Deno.test("handler() keeps pings' nonces apart from validator synapses' and bounds our signature cache", async () => {
  const t = setup();
  assert.equal((await t.send(t.stranger.prepare(TARGET, "Synapse"))).status, 200);
  assert.equal((await t.send(t.validator.prepare(TARGET, "Capacity"))).status, 200);
  assert.deepEqual([...t.state.openNonces.keys()], [`${strangerW.hotkey.ss58}:${t.stranger.uuid}`]);
  assert.deepEqual([...t.state.nonces.keys()], [`${validatorW.hotkey.ss58}:${t.validator.uuid}`]);
  assert.deepEqual([...t.state.signatures.keys()], [strangerW.hotkey.ss58, validatorW.hotkey.ss58]);
});
