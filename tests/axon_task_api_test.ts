/**
 * The task API through the axon's handler (`new Request`, no socket): routes, replies and every error's
 * status and code, with requests signed as `bittensor.http_auth.sign` signs them (tests/axon_btauth_
 * fixtures.ts). The real SDK over a socket is tests/axon_btauth_sdk_test.ts.
 */
import assert from "node:assert/strict";
import { UnavailableError } from "../core/errors.ts";
import { newTask, TaskRequest } from "../core/task.ts";
import type { WithdrawResult } from "../actors/protocol.ts";
import { fakeClock } from "./helpers.ts";
import {
  makeHandler,
  MINER_PHRASE,
  STRANGER_PHRASE,
  taskJson,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "./axon_fixtures.ts";
import {
  type BtauthSigner,
  ed25519Signer,
  signedRequest,
  type SignOptions,
  walletSigner,
} from "./axon_btauth_fixtures.ts";
import { createDendrite } from "../local/dendrite.ts";

const T0 = 1_750_000_000_000;
const [minerW, validatorW, otherW] = await Promise.all(
  [MINER_PHRASE, VALIDATOR_PHRASE, STRANGER_PHRASE].map(walletFrom),
);
const MINER = minerW.hotkey.ss58;
const validator = walletSigner(validatorW);
const other = walletSigner(otherW);

function setup(over: Parameters<typeof makeHandler>[2] = {}) {
  const fake = fakeClock(T0);
  const s = makeHandler(minerW, fake.clock, over);
  s.miner.facts.set(validator.ss58, VALIDATOR_FACTS);
  s.miner.facts.set(other.ss58, VALIDATOR_FACTS);
  let n = 0n;
  /** Signs with a fresh nonce (1 µs apart: one clock tick never repeats a nonce) and sends. */
  const send = (signer: BtauthSigner, o: Partial<SignOptions> & { method: string; target: string }) =>
    s.handler(
      signedRequest(signer, {
        receiver: MINER,
        nonceNs: BigInt(fake.clock.now()) * 1_000_000n + n++ * 1_000n,
        ...o,
      }),
    );
  return { ...s, fake, send };
}

// deno-lint-ignore no-explicit-any
async function body(res: Response): Promise<Record<string, any>> {
  assert.equal(res.headers.get("content-type"), "application/json");
  return await res.json();
}

async function refused(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const b = await body(res);
  assert.equal(res.status, status, JSON.stringify(b));
  assert.equal(b.error, code);
  assert.equal(typeof b.message, "string");
  return b;
}

const submit = (id: string, extra: Record<string, unknown> = {}) => ({
  method: "POST",
  target: "/v1/tasks",
  body: JSON.stringify({ ...taskJson(id), ...extra }),
});

Deno.test("POST /v1/tasks answers 202 with the task id and queue position, admitted with the sender's stake", async () => {
  const t = setup();
  const res = await t.send(validator, submit("t-1"));
  assert.equal(res.status, 202);
  assert.deepEqual(await body(res), { task_id: "t-1", accepted: true, queue_position: 0 });
  assert.deepEqual(t.miner.submitted[0].validator, { hotkey: validator.ss58, stakeTao: 5_000 });
  assert.deepEqual(t.miner.submitted[0].request, TaskRequest.parse(taskJson("t-1")));
});

Deno.test("POST /v1/tasks refuses a bad body with 400 invalid_task naming the problem", async () => {
  const t = setup();
  const cases: [string | Uint8Array, RegExp][] = [
    ["{", /not valid JSON/],
    ["[]", /Field/],
    [JSON.stringify({ ...taskJson("t-1"), gpus: 0 }), /Field "gpus"/],
    [JSON.stringify({ ...taskJson("t-1"), extra: 1 }), /extra/],
    [new Uint8Array([0x7b, 0xff, 0x7d]), /not UTF-8/],
    ["[".repeat(10_000), /nested deeper/],
    ["", /not valid JSON/],
  ];
  for (const [sent, message] of cases) {
    const b = await refused(
      await t.send(validator, { method: "POST", target: "/v1/tasks", body: sent }),
      400,
      "invalid_task",
    );
    assert.match(String(b.message), message);
  }
  assert.equal(t.miner.submitted.length, 0);
});

Deno.test("POST /v1/tasks maps admission refusals: 409 duplicate with where it is, 429 with Retry-After, 400", async () => {
  const results = [
    { ok: false, reason: "duplicate", message: "sent before", taskId: "t-1", state: "queued", position: 2 },
    { ok: false, reason: "id_taken", message: "taken" },
    { ok: false, reason: "queue_full", message: "full" },
    { ok: false, reason: "validator_quota", message: "your share" },
    { ok: false, reason: "over_limit", message: "too many steps" },
    { ok: false, reason: "model_not_allowed", message: "no" },
    { ok: false, reason: "unavailable", message: "queue restarting", what: "queue actor", retryAfterS: 5 },
  ] as const;
  let i = 0;
  const t = setup({ services: { acceptTask: () => results[i++] } });
  const dup = await refused(await t.send(validator, submit("t-1")), 409, "duplicate");
  assert.deepEqual({ ...dup, message: undefined }, {
    error: "duplicate",
    message: undefined,
    task_id: "t-1",
    state: "queued",
    queue_position: 2,
  });
  await refused(await t.send(validator, submit("t-2")), 409, "id_taken");
  for (const code of ["queue_full", "validator_quota"]) {
    const res = await t.send(validator, submit(`t-${code}`));
    assert.equal(res.headers.get("retry-after"), "30");
    await refused(res, 429, code);
  }
  await refused(await t.send(validator, submit("t-5")), 400, "over_limit");
  await refused(await t.send(validator, submit("t-6")), 400, "model_not_allowed");
  const busy = await t.send(validator, submit("t-7"));
  assert.equal(busy.headers.get("retry-after"), "5");
  await refused(busy, 503, "unavailable");
});

Deno.test("GET /v1/tasks/{id} answers the status fields; another validator's task is 404 like an unknown one", async () => {
  const t = setup();
  await t.send(validator, submit("t-1"));
  const res = await t.send(validator, { method: "GET", target: "/v1/tasks/t-1" });
  assert.equal(res.status, 200);
  assert.deepEqual(await body(res), {
    task_id: "t-1",
    state: "queued",
    progress: null,
    result_repo: null,
    reason: null,
  });
  const foreign = await refused(
    await t.send(other, { method: "GET", target: "/v1/tasks/t-1" }),
    404,
    "not_found",
  );
  const unknown = await refused(
    await t.send(other, { method: "GET", target: "/v1/tasks/t-9" }),
    404,
    "not_found",
  );
  assert.equal(String(foreign.message).replace("t-1", "ID"), String(unknown.message).replace("t-9", "ID"));
});

Deno.test("POST /v1/tasks/{id}/cancel cancels the sender's own task only and says 409 once it ended", async () => {
  const cancels: string[] = [];
  let answer: WithdrawResult | null = null;
  const t = setup({
    services: {
      cancelTask: (id) => {
        cancels.push(id);
        return answer!;
      },
    },
  });
  const task = {
    ...newTask(TaskRequest.parse(taskJson("t-1")), validator.ss58, T0),
    state: "training" as const,
  };
  t.miner.tasks.set("t-1", task);
  answer = { ok: true, task: { ...task, state: "failed", reason: "cancelled" } };
  const cancel = (signer: BtauthSigner, id = "t-1") =>
    t.send(signer, { method: "POST", target: `/v1/tasks/${id}/cancel` });
  await refused(await cancel(other), 404, "not_found");
  await refused(await cancel(validator, "t-9"), 404, "not_found");
  assert.deepEqual(cancels, []);
  const res = await cancel(validator);
  assert.equal(res.status, 200);
  assert.deepEqual(await body(res), { task_id: "t-1", state: "failed", reason: "cancelled" });
  answer = { ok: false, reason: "not_cancellable", message: "its result is on its way", state: "uploading" };
  assert.equal((await refused(await cancel(validator), 409, "not_cancellable")).state, "uploading");
  answer = { ok: false, reason: "unavailable", message: "restarting", what: "queue actor", retryAfterS: 5 };
  const busy = await cancel(validator);
  assert.equal(busy.headers.get("retry-after"), "5");
  await refused(busy, 503, "unavailable");
  t.miner.tasks.set("t-1", { ...task, state: "done" });
  assert.equal((await refused(await cancel(validator), 409, "not_cancellable")).state, "done");
  assert.deepEqual(cancels, ["t-1", "t-1", "t-1"]);
});

Deno.test("GET /v1/capacity answers the Capacity synapse's fields", async () => {
  const t = setup();
  const res = await t.send(validator, { method: "GET", target: "/v1/capacity" });
  assert.equal(res.status, 200);
  assert.deepEqual(await body(res), {
    total_gpus: 2,
    free_gpus: 1,
    gpu_vram_mb: [81559, 81559],
    queue_length: 0,
    queue_max: 2,
  });
});

Deno.test("GET /v1/openapi.yaml is served without auth; unknown routes are 404 and wrong methods 405", async () => {
  const t = setup();
  const doc = await t.handler(new Request("http://axon/v1/openapi.yaml"));
  assert.equal(doc.status, 200);
  const text = await doc.text();
  assert.equal(text, await Deno.readTextFile(new URL("../docs/task-api.openapi.yml", import.meta.url)));
  await refused(await t.handler(new Request("http://axon/v1/nothing")), 404, "not_found");
  await refused(await t.send(validator, { method: "GET", target: "/TrainingTask" }), 404, "not_found");
  const wrong = await t.send(validator, { method: "DELETE", target: "/v1/tasks/t-1" });
  assert.equal(wrong.headers.get("allow"), "GET");
  await refused(wrong, 405, "method_not_allowed");
  await refused(await t.handler(new Request("http://axon/v1/capacity")), 401, "malformed_auth");
});

Deno.test("handler() serves both wire formats on one port: a synapse and a btauth request from one validator", async () => {
  const t = setup();
  const dendrite = createDendrite({ wallet: validatorW, now: () => t.fake.clock.now() });
  const p = dendrite.prepare({ ip: "127.0.0.1", port: 8001, hotkey: MINER }, "TrainingTask", {
    task: taskJson("t-a"),
  });
  const viaSynapse = await t.handler(
    new Request(p.url, { method: "POST", headers: p.headers, body: p.body }),
  );
  assert.equal(viaSynapse.status, 200);
  assert.equal((await viaSynapse.json()).accepted, true);
  assert.equal((await t.send(validator, submit("t-b"))).status, 202);
  assert.deepEqual(t.miner.submitted.map((s) => s.validator.hotkey), [validator.ss58, validator.ss58]);
});

Deno.test("handler() refuses the task API's callers with the synapse route's blacklist and rate limit", async () => {
  const t = setup({ rateLimit: { burst: 2, perSecond: 1 } });
  const stranger = ed25519Signer(new Uint8Array(32).fill(1));
  const b = await refused(
    await t.send(stranger, { method: "GET", target: "/v1/capacity" }),
    403,
    "not_registered",
  );
  assert.match(String(b.message), /Unrecognized hotkey/);
  t.miner.facts.set(stranger.ss58, { ...VALIDATOR_FACTS, validatorPermit: false });
  await refused(await t.send(stranger, { method: "GET", target: "/v1/capacity" }), 403, "not_a_validator");
  t.miner.facts.set(stranger.ss58, { ...VALIDATOR_FACTS, stakeTao: 999 });
  const low = await refused(
    await t.send(stranger, { method: "GET", target: "/v1/capacity" }),
    403,
    "stake_too_low",
  );
  assert.match(String(low.message), /999 TAO is below the minimum 1000 TAO/);
  assert.equal((await t.send(validator, { method: "GET", target: "/v1/capacity" })).status, 200);
  assert.equal((await t.send(validator, { method: "GET", target: "/v1/capacity" })).status, 200);
  await refused(await t.send(validator, { method: "GET", target: "/v1/capacity" }), 403, "rate_limited");
});

Deno.test("handler() verifies an ed25519-signed request from a registered ed25519 hotkey", async () => {
  const t = setup();
  const ed = ed25519Signer();
  t.miner.facts.set(ed.ss58, VALIDATOR_FACTS);
  const res = await t.send(ed, submit("t-ed"));
  assert.equal(res.status, 202);
  assert.equal(t.miner.submitted[0].validator.hotkey, ed.ss58);
});

Deno.test("handler() records a nonce only once its signature verified: a forgery cannot burn a validator's nonce", async () => {
  const t = setup();
  const nonceNs = BigInt(T0) * 1_000_000n;
  const real = signedRequest(validator, { method: "GET", target: "/v1/capacity", receiver: MINER, nonceNs });
  const forged = new Request(real.url, { headers: real.headers });
  forged.headers.set("x-bittensor-signature", "0x" + "ab".repeat(64));
  await refused(await t.handler(forged), 401, "bad_signature");
  assert.equal((await t.handler(real.clone())).status, 200);
  await refused(await t.handler(real), 401, "replayed_request");
  assert.equal(t.state.ledger.size, 1);
});

Deno.test("handler() answers 413 for a body over axon.max_body_bytes, declared or streamed", async () => {
  const t = setup({ maxBodyBytes: 1_000 });
  const big = JSON.stringify({ ...taskJson("t-1"), pad: "x".repeat(2_000) });
  await refused(
    await t.send(validator, { method: "POST", target: "/v1/tasks", body: big }),
    413,
    "body_too_large",
  );
  const req = signedRequest(validator, {
    method: "POST",
    target: "/v1/tasks",
    body: big,
    receiver: MINER,
    nonceNs: BigInt(T0) * 1_000_000n,
  });
  const stream = new Request(req.url, {
    method: "POST",
    headers: req.headers,
    body: ReadableStream.from([new TextEncoder().encode(big)]),
  });
  stream.headers.delete("content-length");
  await refused(await t.handler(stream), 413, "body_too_large");
});

Deno.test("handler() answers 503 with Retry-After while an actor restarts and 500 only for its own failures", async () => {
  const t = setup();
  t.miner.failWith = new UnavailableError("chain actor", 5);
  const res = await t.send(validator, { method: "GET", target: "/v1/capacity" });
  assert.equal(res.headers.get("retry-after"), "5");
  await refused(res, 503, "unavailable");
  t.miner.failWith = new Error("disk on fire");
  const b = await refused(
    await t.send(validator, { method: "GET", target: "/v1/capacity" }),
    500,
    "internal",
  );
  assert.doesNotMatch(String(b.message), /disk/);
});
