/**
 * protocol/example_validator.py, the README's validator script, run as a subprocess against our
 * AxonActor on a real socket, once per SDK generation: with .venv-bt (bittensor 10.x) it sends the
 * TrainingTask and TaskStatus synapses through the Dendrite, with .venv-bt11 (11.x) it calls the task
 * API signed with `bittensor.http_auth`. Either way it sends the task from a JSON file, follows its
 * state through each step and ends with one JSON line and exit code 0 only when the task is done.
 * The miner behind the axon is a fake that moves the task one state per poll; the full-miner run on
 * the local network is tests/e2e_test.ts.
 */
import assert from "node:assert/strict";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats } from "../actors/protocol.ts";
import type { Task } from "../core/task.ts";
import { pinnedSdk, runPython, SDK_VENVS, type SdkVenv, validatorWallet } from "./protocol_venvs.ts";
import { FakeMiner, MINER_PHRASE, taskJson, VALIDATOR_FACTS, walletFrom } from "./axon_fixtures.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const STEPS: { state: Task["state"]; step: number }[] = [
  { state: "queued", step: 0 },
  { state: "training", step: 1 },
  { state: "training", step: 2 },
  { state: "uploading", step: 4 },
  { state: "done", step: 4 },
];

/** Each TaskStatus moves the task one step further (then stays done). */
class SteppingMiner extends FakeMiner {
  polls = 0;
  override taskStatus(taskId: string): Task | null {
    const task = super.taskStatus(taskId);
    if (task === null) return null;
    const { state, step } = STEPS[Math.min(this.polls++, STEPS.length - 1)];
    const result = state === "done"
      ? { repo_id: `satori-local/${taskId}`, commit_sha: "c0ffee", artifacts: [], metrics: {} }
      : null;
    return { ...task, state, progress: { step, total: 4, loss: 1 }, result };
  }
}

async function setup(venv: SdkVenv, queueMax: number) {
  const { root, hotkey: validatorHotkey } = await validatorWallet(venv, "protocol_example_");
  const minerWallet = await walletFrom(MINER_PHRASE);
  const miner = new SteppingMiner();
  miner.queueMax = queueMax;
  miner.facts.set(validatorHotkey, VALIDATOR_FACTS);
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
  const { port } = (await axonStats(axon)).address;
  await Deno.writeTextFile(`${root}/task.json`, JSON.stringify(taskJson("example-1")));
  const args = [
    "protocol/example_validator.py",
    ...["--axon-ip", "127.0.0.1", "--axon-port", String(port), "--axon-hotkey", minerWallet.hotkey.ss58],
    ...["--wallet-path", `${root}/wallets`, "--wallet-name", "validator", "--wallet-hotkey", "default"],
    ...[
      "--task-json",
      `${root}/task.json`,
      "--timeout",
      "60",
      "--poll",
      "0.05",
      "--external-ip",
      "127.0.0.2",
    ],
  ];
  return {
    miner,
    run: () => runPython(venv.python, args, { cwd: ROOT }),
    [Symbol.asyncDispose]: async () => {
      await axon.stop();
      await Deno.remove(root, { recursive: true });
    },
  };
}

for (const venv of SDK_VENVS) {
  Deno.test(`example_validator.py follows a task to done and exits 0 with one JSON line on ${venv.dir}`, async () => {
    await using net = await setup(venv, 10);
    const res = await net.run();
    assert.equal(res.code, 0, res.stderr.slice(-3000));
    const lines = res.stdout.trim().split("\n");
    assert.equal(lines.length, 1, res.stdout);
    assert.deepEqual(JSON.parse(lines[0]), {
      task_id: "example-1",
      state: "done",
      progress: 1,
      result_repo: "satori-local/example-1",
      reason: null,
    });
    const changes = [...res.stderr.matchAll(/example-1: (\w+)( \d+%)?/g)].map((m) => m[1] + (m[2] ?? ""));
    assert.deepEqual(changes, [
      "queued 0%",
      "training 25%",
      "training 50%",
      "uploading 100%",
      "done 100%",
    ]);
    assert.equal(net.miner.submitted[0].request.id, "example-1");
    const transport = venv.generation === "10" ? "synapse" : "btauth";
    assert.match(res.stderr, new RegExp(`bittensor ${await pinnedSdk(venv)}: sending over ${transport}`));
  });

  Deno.test(`example_validator.py exits 1 with the reason when the miner refuses the task on ${venv.dir}`, async () => {
    await using net = await setup(venv, 0);
    const res = await net.run();
    assert.equal(res.code, 1, res.stderr.slice(-3000));
    const line = JSON.parse(res.stdout.trim());
    assert.deepEqual([line.state, line.reason], ["refused", "queue_full"]);
  });
}
