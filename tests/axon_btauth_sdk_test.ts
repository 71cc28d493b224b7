/**
 * A bittensor 11 validator against the running axon, over a socket: requests signed by the real SDK's
 * `http_auth.sign` (tests/py/axon_btauth_client.py in .venv-bt11) are served by the task API, and each
 * refusal the issue lists comes back with its status, code and message.
 */
import assert from "node:assert/strict";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats, type WithdrawResult } from "../actors/protocol.ts";
import { FakeMiner, MINER_PHRASE, taskJson, VALIDATOR_FACTS, walletFrom } from "./axon_fixtures.ts";
import { runBt11Script } from "./axon_bt11.ts";

type Keys = Record<"validator" | "stranger" | "low_stake" | "ed25519", string>;
type Case = {
  key: keyof Keys;
  method: string;
  target: string;
  body?: string;
  signed_target?: string;
  signed_body?: string;
  receiver?: string | null;
  nonce_offset_s?: number;
  set?: Record<string, string | null>;
  times?: number;
};
type Sent = { status: number; body: string; retry_after: string | null };

const TASK = JSON.stringify(taskJson("t-sdk"));

async function startMiner(keys: Keys) {
  const wallet = await walletFrom(MINER_PHRASE);
  const miner = new FakeMiner();
  miner.queueMax = 10;
  miner.facts.set(keys.validator, VALIDATOR_FACTS);
  miner.facts.set(keys.ed25519, VALIDATOR_FACTS);
  miner.facts.set(keys.low_stake, { ...VALIDATOR_FACTS, stakeTao: 10 });
  const cancelTask = (id: string): WithdrawResult => {
    const task = { ...miner.tasks.get(id)!, state: "failed" as const, reason: "cancelled" };
    miner.tasks.set(id, task);
    return { ok: true, task };
  };
  const axon = startAxonActor({ ip: "127.0.0.1", port: 0, maxBodyBytes: 64 * 1024, minStakeTao: 1_000 }, {
    wallet,
    lookup: (h) => miner.lookup(h),
    acceptTask: (r, v) => miner.acceptTask(r, v),
    taskStatus: (id) => miner.taskStatus(id),
    capacity: () => miner.capacity(),
    cancelTask,
  });
  return { axon, miner, hotkey: wallet.hotkey.ss58, port: (await axonStats(axon)).address.port };
}

async function run(port: number, receiver: string, cases: Case[]): Promise<Sent[][]> {
  return await runBt11Script<Sent[][]>("tests/py/axon_btauth_client.py", {
    op: "send",
    port,
    receiver,
    cases,
  });
}

function expectError(sent: Sent, status: number, code: string, message: RegExp): void {
  const body = JSON.parse(sent.body);
  assert.equal(sent.status, status, sent.body);
  assert.equal(body.error, code, sent.body);
  assert.match(body.message, message);
}

Deno.test("The SDK's http_auth.sign reaches the task API: submit, status, capacity, cancel, and ed25519", async () => {
  const keys = await runBt11Script<Keys>("tests/py/axon_btauth_client.py", { op: "keys" });
  const m = await startMiner(keys);
  await using _ = m.axon;
  const [[submitted], [status], [capacity], [cancelled], [ed], [edStatus]] = await run(m.port, m.hotkey, [
    { key: "validator", method: "POST", target: "/v1/tasks", body: TASK },
    { key: "validator", method: "GET", target: "/v1/tasks/t-sdk?fields=all&" },
    { key: "validator", method: "GET", target: "/v1/capacity" },
    { key: "validator", method: "POST", target: "/v1/tasks/t-sdk/cancel" },
    { key: "ed25519", method: "POST", target: "/v1/tasks", body: JSON.stringify(taskJson("t-ed")) },
    { key: "ed25519", method: "GET", target: "/v1/tasks/t-ed" },
  ]);
  assert.equal(submitted.status, 202, submitted.body);
  assert.deepEqual(JSON.parse(submitted.body), { task_id: "t-sdk", accepted: true, queue_position: 0 });
  assert.equal(status.status, 200, status.body);
  assert.equal(JSON.parse(status.body).state, "queued");
  assert.equal(capacity.status, 200, capacity.body);
  assert.equal(JSON.parse(capacity.body).total_gpus, 2);
  assert.deepEqual(JSON.parse(cancelled.body), { task_id: "t-sdk", state: "failed", reason: "cancelled" });
  assert.equal(ed.status, 202, ed.body);
  assert.equal(JSON.parse(edStatus.body).state, "queued");
  assert.deepEqual(m.miner.submitted.map((s) => s.validator.hotkey), [keys.validator, keys.ed25519]);
});

Deno.test("The task API refuses what the SDK signed and then broke, each with its status and message", async () => {
  const keys = await runBt11Script<Keys>("tests/py/axon_btauth_client.py", { op: "keys" });
  const m = await startMiner(keys);
  await using _ = m.axon;
  const get = { key: "validator", method: "GET", target: "/v1/capacity" } as const;
  const post = { key: "validator", method: "POST", target: "/v1/tasks", body: TASK } as const;
  const cases: [Case, (sent: Sent[]) => void][] = [
    [{ ...get, times: 2 }, ([first, again]) => {
      assert.equal(first.status, 200, first.body);
      expectError(again, 401, "replayed_request", /already accepted from this hotkey/);
    }],
    [{ ...get, nonce_offset_s: -11 }, ([s]) => expectError(s, 401, "stale_request", /older than the 10s/)],
    [
      { ...get, nonce_offset_s: 3 },
      ([s]) => expectError(s, 401, "stale_request", /more than 2s in the future/),
    ],
    [
      { ...get, receiver: keys.stranger },
      ([s]) => expectError(s, 403, "wrong_receiver", /different receiving/),
    ],
    [{ ...get, receiver: null }, ([s]) => expectError(s, 403, "wrong_receiver", /requires receiver-bound/)],
    [
      { ...post, signed_body: JSON.stringify(taskJson("t-other")) },
      ([s]) => expectError(s, 401, "bad_signature", /does not verify/),
    ],
    [
      { ...get, target: "/v1/capacity?b=1", signed_target: "/v1/capacity?a=1" },
      ([s]) => expectError(s, 401, "bad_signature", /does not verify/),
    ],
    [{ ...get, key: "stranger" }, ([s]) => expectError(s, 403, "not_registered", /Unrecognized hotkey/)],
    [
      { ...get, key: "low_stake" },
      ([s]) => expectError(s, 403, "stake_too_low", /Stake 10 TAO is below the minimum 1000 TAO/),
    ],
    [
      { ...get, set: { "X-Bittensor-Signature": null } },
      ([s]) => expectError(s, 401, "malformed_auth", /Missing X-Bittensor-Signature/),
    ],
    [
      { ...get, set: { "X-Bittensor-Nonce": null, "X-Bittensor-Hotkey": null } },
      ([s]) => expectError(s, 401, "malformed_auth", /Missing X-Bittensor-Hotkey/),
    ],
    [
      { ...get, set: { "X-Bittensor-Signature": "0xnot-hex" } },
      ([s]) => expectError(s, 401, "malformed_auth", /not hex/),
    ],
    [
      { ...get, set: { "X-Bittensor-Signature": "0x" + "ab".repeat(63) } },
      ([s]) => expectError(s, 401, "malformed_auth", /signature encoding/),
    ],
  ];
  const sent = await run(m.port, m.hotkey, cases.map(([c]) => c));
  cases.forEach(([c, check], i) => {
    try {
      check(sent[i]);
    } catch (e) {
      throw new Error(`case ${i} ${JSON.stringify(c).slice(0, 160)}: ${(e as Error).message}`);
    }
  });
  assert.equal(m.miner.submitted.length, 0);
});
