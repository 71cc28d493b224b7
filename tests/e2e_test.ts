/**
 * The whole flow on the local network, the miner as its own process (`main.ts start`) and the README's
 * validator (protocol/example_validator.py) on both SDK generations at once: with bittensor 10.x
 * (.venv-bt) through the real Python dendrite and the synapses, with bittensor 11.x (.venv-bt11) through
 * the task API signed with `bittensor.http_auth` (btauth/1). Each task: accepted → dataset validated by
 * the task center → trained on the CPU → quality passed → uploaded to the local Hub (the files load
 * back with peft) → result recorded by the task center, whose signature check passed. Then SIGTERM
 * stops the miner cleanly.
 */
import assert from "node:assert/strict";
import { downloadSnapshot } from "./hub_download.ts";
import { buildTiny, startLocalNetwork, tinyTaskRequest } from "../local/local_network.ts";
import { waitFor } from "./helpers.ts";
import { requireVenv, SDK_VENVS } from "./protocol_venvs.ts";

const REPO = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

Deno.test("Miner takes a text task from each SDK generation's validator to done on the local network", async () => {
  for (const venv of SDK_VENVS) await requireVenv(venv);
  const runDir = await Deno.makeTempDir({ prefix: "satori-e2e-" });
  const tiny = await buildTiny(`${REPO}.venv/bin/python`, "text", `${runDir}/tiny`);
  await using net = await startLocalNetwork(runDir, Deno.env.toObject(), { baseModels: [tiny.model] });
  const served = await net.files.serve(`${tiny.dataset}/train.jsonl`);
  const validators = await Promise.all(SDK_VENVS.map(async (venv) => {
    const request = tinyTaskRequest("text", `e2e-text-bt${venv.generation}`, tiny.model, served);
    const taskFile = `${runDir}/task-bt${venv.generation}.json`;
    await Deno.writeTextFile(taskFile, JSON.stringify(request));
    return { venv, request, taskFile };
  }));

  const miner = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, "start"],
    cwd: REPO,
    env: { MINER_CONFIG: net.configFile, HF_TOKEN: net.hfToken, HF_HUB_OFFLINE: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output: string[] = [];
  const collect = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) output.push(dec.decode(chunk));
  };
  const streams = Promise.all([collect(miner.stdout), collect(miner.stderr)]);
  try {
    // Capacity is for validators only: a 200 means the axon is up and has synced a metagraph listing ours.
    await waitFor(async () => (await net.validator.dendrite.call(net.axon, "Capacity")).status === 200, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: "the miner's axon to know our validator",
    });

    // Both validators at once: the same hotkey, one per SDK generation, each with its own task.
    const common = [
      `${REPO}protocol/example_validator.py`,
      ...["--axon-ip", net.axon.ip, "--axon-port", String(net.axon.port), "--axon-hotkey", net.axon.hotkey],
      ...["--wallet-path", `${runDir}/wallets`, "--wallet-name", "validator", "--wallet-hotkey", "default"],
      ...["--timeout", "600", "--poll", "1", "--external-ip", "127.0.0.2"],
    ];
    const runs = await Promise.all(validators.map(async ({ venv, request, taskFile }) => {
      const out = await new Deno.Command(venv.python, {
        args: [...common, "--task-json", taskFile],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { venv, request, code: out.code, said: dec.decode(out.stderr), stdout: dec.decode(out.stdout) };
    }));
    for (const { venv, request, code, said, stdout } of runs) {
      const where = `${venv.dir} validator`;
      assert.equal(code, 0, `${where} failed:\n${said}\n--- miner ---\n${output.join("").slice(-4000)}`);
      const transport = venv.generation === "10" ? "synapse" : "btauth";
      assert.match(said, new RegExp(`sending over ${transport}`), where);
      const final = JSON.parse(stdout.trim());
      assert.equal(final.state, "done", where);
      assert.match(said, /dataset_validated|queued|training/, where);

      // The task center recorded exactly one result, over a request whose signature it verified.
      const recorded = net.taskCenter.recorded.filter((r) => r.task_id === request.id);
      assert.equal(recorded.length, 1, where);
      assert.equal(recorded[0].repo_id, final.result_repo, where);

      // The adapter on the Hub loads with peft and changes the base model's output.
      const dest = `${runDir}/downloaded-bt${venv.generation}`;
      await checkAdapter(net, tiny.model, final.result_repo, dest, request.id);
    }
  } finally {
    miner.kill("SIGTERM");
    const status = await miner.status;
    await streams;
    assert.equal(status.code, 0, `miner exit ${status.code}:\n${output.join("").slice(-3000)}`);
  }
  assert.doesNotMatch(output.join(""), new RegExp(net.hfToken));
  await Deno.remove(runDir, { recursive: true });
});

/** The adapter `repo` on the local Hub holds the weights and card, loads with peft and changes the output. */
async function checkAdapter(
  net: Awaited<ReturnType<typeof startLocalNetwork>>,
  model: string,
  repo: string,
  dest: string,
  taskId: string,
): Promise<void> {
  const files = await downloadSnapshot({ hubUrl: net.hub.url, repo, accessToken: net.hfToken }, dest);
  assert.ok(files.includes("adapter_model.safetensors") && files.includes("README.md"), files.join(", "));
  const load = await new Deno.Command(`${REPO}.venv/bin/python`, {
    args: [
      `${REPO}tests/upload_peft_check.py`,
      "load",
      model,
      dest,
      `${net.config.miner.data_dir}/work/${taskId}/out`,
    ],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(load.code, 0, dec.decode(load.stderr));
  const loaded = JSON.parse(dec.decode(load.stdout).trim().split("\n").at(-1)!);
  assert.deepEqual({ same: loaded.same, changed: loaded.changed }, { same: true, changed: true });
}
