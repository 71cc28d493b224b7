/**
 * satori_protocol's client on both SDK generations: protocol/tests/test_client.py in each validator venv
 * (transport chosen by the SDK, result models, error mapping against a stand-in task API that verifies
 * every request), and btauth/1 across generations: the headers satori_protocol signs on bittensor 10.x
 * (which has no `http_auth`; `cancel` uses them) pass bittensor 11's own `http_auth.verify` for odd
 * targets and empty bodies, with sr25519 and ed25519 hotkeys, and fail it once the body or target
 * changes after signing. And every MinerClient call against our AxonActor on a real socket, on each
 * generation: submit (and a duplicate), status, capacity, cancel (on 10.x through the task API, signed
 * by satori_protocol itself, verified by the miner), a second cancel, unknown ids.
 */
import assert from "node:assert/strict";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats, type WithdrawResult } from "../actors/protocol.ts";
import type { Task, TaskRequest } from "../core/task.ts";
import { FakeMiner, MINER_PHRASE, taskJson, VALIDATOR_FACTS, walletFrom } from "./axon_fixtures.ts";
import { requireVenv, runPython, SDK_VENVS, validatorWallet } from "./protocol_venvs.ts";

const [V10, V11] = SDK_VENVS;
const RECEIVER = "5GrwvaEF5zXb26Fz9rcQpDWS5C9i2yUnuUmrmJnxDHGpjkDt"; // //Alice: any valid ss58 will do

for (const venv of SDK_VENVS) {
  Deno.test(`protocol/tests/test_client.py passes in ${venv.dir}`, async () => {
    await requireVenv(venv);
    const res = await runPython(venv.python, ["protocol/tests/test_client.py"]);
    assert.equal(res.code, 0, res.stdout + res.stderr.slice(-2000));
    assert.doesNotMatch(res.stdout, /FAIL/);
  });
}

type Signed = { method: string; target: string; body: string; headers: Record<string, string> };

async function corpus(op: Record<string, unknown>, python: string): Promise<unknown[]> {
  const res = await runPython(python, ["tests/py/btauth_corpus.py"], { stdin: JSON.stringify(op) });
  assert.equal(res.code, 0, res.stderr.slice(-2000));
  return JSON.parse(res.stdout);
}

Deno.test("btauth/1 headers satori_protocol signs on bittensor 10.x pass bittensor 11's verify", async () => {
  await requireVenv(V10);
  await requireVenv(V11);
  const requests = [
    { method: "POST", target: "/v1/tasks", body: '{"id":"t-1","type":"text"}' },
    { method: "POST", target: "/v1/tasks/t-1/cancel", body: "" },
    { method: "GET", target: "/v1/tasks/t%2F1?x=1&x=2&empty=&sp=%20+", body: "" },
    { method: "GET", target: "/v1/capacity?", body: "" },
    { method: "post", target: "/v1/tasks?q=é", body: "é\u2028\u0000" },
  ];
  const signed = await corpus({ op: "sign", receiver: RECEIVER, requests }, V10.python) as Signed[];
  assert.equal(signed.length, requests.length * 2);
  assert.deepEqual(
    signed.map((s) => s.headers["X-Bittensor-Crypto"] ?? "sr25519"),
    [...requests.map(() => "sr25519"), ...requests.map(() => "ed25519")],
  );
  const tampered = signed.flatMap((s) => [
    { ...s, body: s.body + " " },
    { ...s, target: s.target.includes("?") ? s.target + "&x=3" : s.target + "?x=3" },
  ]);
  const verdicts = await corpus(
    { op: "verify", receiver: RECEIVER, signed: [...signed, ...tampered] },
    V11.python,
  ) as { ok: boolean; error?: string; hotkey?: string }[];
  const [good, bad] = [verdicts.slice(0, signed.length), verdicts.slice(signed.length)];
  assert.deepEqual(good.map((v) => v.error ?? "ok"), signed.map(() => "ok"));
  assert.deepEqual(good.map((v) => v.hotkey), signed.map((s) => s.headers["X-Bittensor-Hotkey"]));
  assert.deepEqual(bad.map((v) => v.error), tampered.map(() => "BadSignature"));
});

/** A FakeMiner that knows duplicates and cancels (what the pipeline does: the task fails, "cancelled"). */
class CancellingMiner extends FakeMiner {
  override acceptTask(request: TaskRequest, validator: { hotkey: string; stakeTao: number }) {
    const known = this.tasks.get(request.id);
    if (known === undefined) return super.acceptTask(request, validator);
    const message = `Task "${request.id}" was sent before: it is "${known.state}"`;
    return {
      ok: false as const,
      reason: "duplicate" as const,
      message,
      taskId: request.id,
      state: known.state,
      position: 0,
    };
  }

  cancelTask(taskId: string): WithdrawResult {
    const task = this.tasks.get(taskId);
    if (task === undefined) return { ok: false, reason: "not_found", message: "unknown", state: null };
    const after: Task = { ...task, state: "failed", reason: "cancelled" };
    this.tasks.set(taskId, after);
    return { ok: true, task: after };
  }
}

// deno-lint-ignore no-explicit-any
type Call = { call: string; ok: boolean; [key: string]: any };

for (const venv of SDK_VENVS) {
  Deno.test(`MinerClient makes every call to our axon with ${venv.dir}`, async () => {
    const { root, hotkey: validatorHotkey } = await validatorWallet(venv, "protocol_client_");
    const minerWallet = await walletFrom(MINER_PHRASE);
    const miner = new CancellingMiner();
    miner.facts.set(validatorHotkey, VALIDATOR_FACTS);
    const axon = startAxonActor(
      { ip: "127.0.0.1", port: 0, maxBodyBytes: 1 << 20, minStakeTao: 1_000 },
      {
        wallet: minerWallet,
        lookup: (h) => miner.lookup(h),
        acceptTask: (r, v) => miner.acceptTask(r, v),
        taskStatus: (id) => miner.taskStatus(id),
        capacity: () => miner.capacity(),
        cancelTask: (id) => miner.cancelTask(id),
      },
    );
    try {
      const { port } = (await axonStats(axon)).address;
      const res = await runPython(venv.python, ["tests/py/protocol_client_calls.py"], {
        stdin: JSON.stringify({
          axon: { ip: "127.0.0.1", port, hotkey: minerWallet.hotkey.ss58 },
          wallet: { path: `${root}/wallets`, name: "validator", hotkey: "default" },
          task: taskJson("client-1"),
        }),
      });
      assert.equal(res.code, 0, res.stderr.slice(-3000));
      const [head, ...calls] = JSON.parse(res.stdout) as Call[];
      const byName = Object.fromEntries(calls.map((c) => [c.call, c]));
      const api = venv.generation === "11"; // the synapses carry no HTTP status for a refusal
      assert.deepEqual(head.transport, api ? "btauth" : "synapse");

      assert.deepEqual(byName["submit"].result, { task_id: "client-1", queue_position: 0 });
      const dup = byName["submit again"];
      assert.deepEqual(
        [dup.code, dup.status, dup.refusal, dup.details.task_id],
        ["duplicate", api ? 409 : null, true, "client-1"],
      );
      assert.deepEqual(byName["status"].result, {
        task_id: "client-1",
        state: "queued",
        progress: null,
        result_repo: null,
        reason: null,
      });
      assert.deepEqual(byName["capacity"].result, {
        total_gpus: 2,
        free_gpus: 1,
        gpu_vram_mb: [81559, 81559],
        queue_length: 1,
        queue_max: 2,
      });
      // Cancel goes over the task API on both generations: on 10.x satori_protocol signed it itself.
      assert.deepEqual(byName["cancel"].result, {
        task_id: "client-1",
        state: "failed",
        progress: null,
        result_repo: null,
        reason: "cancelled",
      });
      const again = byName["cancel again"];
      assert.deepEqual([again.code, again.status, again.details.state], ["not_cancellable", 409, "failed"]);
      assert.deepEqual(
        [byName["status unknown"].code, byName["status unknown"].status],
        ["not_found", api ? 404 : null],
      );
      assert.deepEqual([byName["cancel unknown"].code, byName["cancel unknown"].status], ["not_found", 404]);
      assert.equal(miner.submitted.length, 1);
    } finally {
      await axon.stop();
      await Deno.remove(root, { recursive: true });
    }
  });
}
