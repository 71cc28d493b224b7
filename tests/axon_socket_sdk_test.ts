/**
 * The AxonActor on a real socket, called by the real Python bittensor 10.5 Dendrite (.venv-bt) with our
 * synapse classes (protocol/satori_protocol.py), by our TypeScript dendrite, and, for comparison, the
 * same SDK cases against the SDK's own `bittensor.Axon` serving the same synapses.
 */
import assert from "node:assert/strict";
import { loadWallet } from "../core/wallet.ts";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats } from "../actors/protocol.ts";
import { createDendrite } from "../local/dendrite.ts";
import { runSdk } from "./axon_sdk.ts";
import { type DendriteCase, runSdkDendrite, startSdkAxon } from "./axon_sdk_processes.ts";
import { FakeMiner, taskJson, VALIDATOR_FACTS, walletFrom } from "./axon_fixtures.ts";

const root = await Deno.makeTempDir({ prefix: "axon_socket_" });
const names = ["miner", "validator", "lowstake", "stranger"] as const;
const made = await runSdk(names.map((name) => ({ op: "make_wallet", root, name, hotkey: "default" })));
const keys = Object.fromEntries(names.map((n, i) => [n, made[i]])) as unknown as Record<
  (typeof names)[number],
  { hotkey_ss58: string; hotkey_mnemonic: string }
>;
const minerWallet = (await loadWallet({ root, name: "miner", hotkey: "default", env: {} })).wallet;
const task = {
  ...taskJson("t-1"),
  training: { base_model: "tiny-llama", hyperparameters: { learning_rate: 1.0 } },
};

/** The cases both axons get, with what each should answer (ours is stricter on a tampered body). */
const CASES: { c: DendriteCase; ours: number; sdk: number }[] = [
  { c: call("validator", "TrainingTask", { task }), ours: 200, sdk: 200 },
  { c: call("validator", "TaskStatus", { task_id: "t-1" }), ours: 200, sdk: 200 },
  { c: call("validator", "Capacity"), ours: 200, sdk: 200 },
  { c: call("stranger", "Synapse"), ours: 200, sdk: 200 },
  { c: call("stranger", "TrainingTask", { task }), ours: 403, sdk: 403 },
  { c: call("lowstake", "Capacity"), ours: 403, sdk: 403 },
  { c: { ...call("validator", "TrainingTask", { task }), case: "bad_signature" }, ours: 401, sdk: 401 },
  { c: { ...call("validator", "TaskStatus", { task_id: "t-1" }), case: "replay" }, ours: 401, sdk: 401 },
  { c: { ...call("validator", "Capacity"), case: "stale_nonce" }, ours: 401, sdk: 401 },
  {
    c: {
      ...call("validator", "TaskStatus", { task_id: "t-1" }),
      case: "tampered_body",
      tamper: "task_id",
      tamper_value: "t-2",
    },
    ours: 401,
    sdk: 500,
  },
  { c: call("validator", "Unknown"), ours: 404, sdk: 404 },
];

function call(
  who: (typeof names)[number],
  synapse: string,
  fields: Record<string, unknown> = {},
): DendriteCase {
  return { case: "call", mnemonic: keys[who].hotkey_mnemonic, synapse, fields };
}

function startOurAxon() {
  const miner = new FakeMiner();
  miner.facts.set(keys.validator.hotkey_ss58, VALIDATOR_FACTS);
  miner.facts.set(keys.lowstake.hotkey_ss58, { ...VALIDATOR_FACTS, stakeTao: 10 });
  const axon = startAxonActor(
    { ip: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20, minStakeTao: 1_000 },
    {
      wallet: minerWallet,
      lookup: (h) => miner.lookup(h),
      acceptTask: (r, v) => miner.acceptTask(r, v),
      taskStatus: (id) => miner.taskStatus(id),
      capacity: () => miner.capacity(),
    },
  );
  return { axon, miner };
}

Deno.test("AxonActor answers the real bittensor 10.5 Dendrite like the SDK's axon", async (t) => {
  const { axon, miner } = startOurAxon();
  await using _ = axon;
  const { port } = (await axonStats(axon)).address;
  const ours = await runSdkDendrite(port, minerWallet.hotkey.ss58, CASES.map((x) => x.c));

  await t.step("statuses: 200 validator, 403 unregistered / low stake, 401 forged, 404 unknown", () => {
    assert.deepEqual(
      ours.map((r) => r.status),
      CASES.map((x) => x.ours),
      Deno.inspect(ours.map((r) => r.message)),
    );
  });

  await t.step("the SDK parses our 200 replies into our synapse classes", () => {
    const [accepted, status, capacity, ping] = ours;
    assert.equal(accepted.is_success, true);
    assert.equal(accepted.message, "Success");
    assert.deepEqual([accepted.synapse.accepted, accepted.synapse.task_id, accepted.synapse.queue_position], [
      true,
      "t-1",
      0,
    ]);
    assert.deepEqual(accepted.synapse.task, task);
    assert.equal(accepted.synapse.axon.status_code, 200);
    assert.equal(accepted.synapse.axon.hotkey, minerWallet.hotkey.ss58);
    assert.equal(accepted.synapse.dendrite.hotkey, keys.validator.hotkey_ss58);
    assert.deepEqual(miner.submitted[0].request.training.hyperparameters.learning_rate, 1);
    assert.deepEqual([status.synapse.state, status.synapse.task_id], ["queued", "t-1"]);
    assert.deepEqual(capacity.synapse.gpu_vram_mb, [81559, 81559]);
    assert.equal(ping.synapse.name, "Synapse");
  });

  await t.step("refusal messages read as the SDK's", () => {
    const msg = ours.map((r) => r.message ?? "");
    assert.equal(msg[4], "Forbidden. Key is blacklisted: Unrecognized hotkey.");
    assert.equal(msg[5], "Forbidden. Key is blacklisted: Stake 10 TAO is below the minimum 1000 TAO.");
    assert.match(msg[6], /^Not Verified with error: Signature mismatch/);
    assert.equal(ours[7].first_status, 200);
    assert.equal(msg[7], "Not Verified with error: Nonce is too old, a newer one was last processed");
    assert.match(msg[8], /^Not Verified with error: Nonce is too old: acceptable delta is 16\.00 seconds/);
    assert.match(msg[9], /^Not Verified with error: Hash mismatch/);
    assert.match(msg[10], /^Synapse name 'Unknown' not found\. Available synapses \['Synapse', /);
  });

  await t.step(
    "the SDK's own Axon answers the same cases the same way (500 for a tampered body)",
    async () => {
      await using sdk = await startSdkAxon(keys.miner.hotkey_mnemonic, [keys.validator.hotkey_ss58]);
      const theirs = await runSdkDendrite(sdk.port, keys.miner.hotkey_ss58, CASES.map((x) => x.c));
      assert.deepEqual(
        theirs.map((r) => r.status),
        CASES.map((x) => x.sdk),
        Deno.inspect(theirs.map((r) => r.message)),
      );
      // Same reply shape: the synapse's fields and TerminalInfo keys.
      assert.deepEqual(Object.keys(theirs[0].synapse).sort(), Object.keys(ours[0].synapse).sort());
      assert.deepEqual(Object.keys(theirs[0].synapse.axon).sort(), Object.keys(ours[0].synapse.axon).sort());
    },
  );
});

Deno.test("AxonActor answers our TypeScript dendrite over a socket with the same statuses", async () => {
  const { axon } = startOurAxon();
  await using _ = axon;
  const { port } = (await axonStats(axon)).address;
  const target = { ip: "127.0.0.1", port, hotkey: minerWallet.hotkey.ss58 };
  const [validator, lowstake, stranger] = await Promise.all(
    [keys.validator, keys.lowstake, keys.stranger].map((k) => walletFrom(k.hotkey_mnemonic)),
  );
  const v = createDendrite({ wallet: validator });
  const ok = await v.call(target, "TrainingTask", { task });
  assert.equal(ok.status, 200, ok.message ?? "");
  assert.deepEqual([ok.synapse?.accepted, ok.synapse?.task_id], [true, "t-1"]);
  assert.equal((await v.call(target, "TaskStatus", { task_id: "t-1" })).synapse?.state, "queued");
  assert.equal((await v.call(target, "Capacity")).synapse?.queue_max, 2);
  assert.equal((await createDendrite({ wallet: stranger }).call(target, "Synapse")).status, 200);
  assert.equal((await createDendrite({ wallet: stranger }).call(target, "Capacity")).status, 403);
  assert.equal((await createDendrite({ wallet: lowstake }).call(target, "Capacity")).status, 403);

  const p = v.prepare(target, "TaskStatus", { task_id: "t-1" });
  const sig = p.headers.bt_header_dendrite_signature;
  const badSig = {
    ...p.headers,
    bt_header_dendrite_signature: sig.slice(0, 10) + (sig[10] === "0" ? "1" : "0") + sig.slice(11),
  };
  assert.equal((await v.send({ ...p, headers: badSig })).status, 401);
  assert.equal((await v.send({ ...p, body: p.body.replace('"t-1"', '"t-2"') })).status, 401);
  assert.equal((await v.send(p)).status, 200);
  assert.equal((await v.send(p)).status, 401, "replay");
  const stale = createDendrite({ wallet: validator, now: () => Date.now() - 60_000 });
  assert.equal((await stale.call(target, "Capacity")).status, 401);
  assert.equal((await v.send({ ...p, url: p.url.replace("/TaskStatus", "/Unknown") })).status, 404);

  const stats = await axonStats(axon);
  assert.deepEqual(stats.replies, { "200": 5, "401": 4, "403": 2, "404": 1 });
});

Deno.test("AxonActor stops by closing its server", async () => {
  const { axon } = startOurAxon();
  const { port } = (await axonStats(axon)).address;
  await axon.stop();
  await assert.rejects(fetch(`http://127.0.0.1:${port}/Synapse`, { method: "POST" }));
  await Deno.remove(root, { recursive: true });
});
