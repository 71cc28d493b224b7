/**
 * The miner under real PM2 (npm, pinned; installed by `scripts/setup.sh --test` into .tools/) on the local
 * network, with a private PM2_HOME: `pm2 start ops/ecosystem.config.cjs` runs it and a validator's task
 * starts training; `pm2 stop satori-miner` mid-training ends with a checkpoint and exit code 0; `pm2
 * restart satori-miner` resumes the task to `done`; `pm2 logs` shows the miner's lines. The PM2 daemon is
 * killed at the end, whatever happened.
 */
import assert from "node:assert/strict";
import type { PyValue } from "../actors/axon/body_hash.ts";
import { storePath } from "../core/paths.ts";
import { Store } from "../core/store.ts";
import { TaskRequest } from "../core/task.ts";
import { buildTiny, startLocalNetwork, tinyTaskRequest } from "../local/local_network.ts";
import { waitFor } from "./helpers.ts";

const REPO = new URL("..", import.meta.url).pathname;
const PM2 = `${REPO}.tools/node_modules/.bin/pm2`;
const dec = new TextDecoder();

Deno.test({
  name:
    "pm2 runs the miner from ops/ecosystem.config.cjs: stop checkpoints and exits 0, restart resumes to done",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await Deno.stat(PM2).catch(() => {
      throw new Error(`No pm2 at ${PM2}: run \`bash scripts/setup.sh --test\``);
    });
    const runDir = await Deno.makeTempDir({ prefix: "satori-pm2-" });
    const pm2Home = `${runDir}/pm2`;
    const tiny = await buildTiny(`${REPO}.venv/bin/python`, "text", `${runDir}/tiny`);
    await using net = await startLocalNetwork(runDir, Deno.env.toObject(), { baseModels: [tiny.model] });
    const served = await net.files.serve(`${tiny.dataset}/train.jsonl`);
    const env = {
      PATH: `${Deno.execPath().replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH")}`,
      HOME: Deno.env.get("HOME") ?? runDir,
      PM2_HOME: pm2Home,
      MINER_CONFIG: net.configFile,
      HF_TOKEN: net.hfToken,
      HF_HUB_OFFLINE: "1",
    };
    const pm2 = async (...args: string[]) => {
      const out = await new Deno.Command(PM2, {
        args,
        cwd: REPO,
        env,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(150_000),
      }).output();
      return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
    };
    const pm2Log = () => Deno.readTextFile(`${pm2Home}/pm2.log`).catch(() => "");
    const minerLog = () => Deno.readTextFile(net.config.logging.file).catch(() => "");
    const status = async (id: string) => {
      const r = await net.validator.dendrite.call(net.axon, "TaskStatus", { task_id: id });
      return r.synapse ?? {};
    };
    try {
      const started = await pm2("start", "ops/ecosystem.config.cjs");
      assert.equal(started.code, 0, started.text);
      await waitFor(async () => (await net.validator.dendrite.call(net.axon, "Capacity")).status === 200, {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: `the miner's axon under pm2:\n${await minerLog()}`,
      });

      // A task long enough to stop halfway: 120 steps, a checkpoint every 5.
      const base = tinyTaskRequest("text", "pm2-text", tiny.model, served);
      const request = TaskRequest.parse({
        ...base,
        training: {
          ...base.training,
          hyperparameters: { ...base.training.hyperparameters, max_steps: 120, checkpoint_every: 5 },
        },
      });
      const sent = await net.validator.dendrite.call(net.axon, "TrainingTask", {
        task: request as unknown as PyValue,
      });
      assert.equal(sent.synapse?.accepted, true, JSON.stringify(sent));
      const checkpoints = `${net.config.miner.data_dir}/work/${request.id}/out/checkpoints`;
      const steps = async () =>
        (await Array.fromAsync(Deno.readDir(checkpoints)).catch(() => [])).filter((e) =>
          e.name.startsWith("step-")
        )
          .map((e) => e.name).sort();
      const checkpointed = async () => {
        const s = await status(request.id);
        if (s.state === "failed") throw new Error(`Task failed before a checkpoint: ${s.reason}`);
        return (await steps()).length > 0;
      };
      await waitFor(checkpointed, {
        timeoutMs: 180_000,
        intervalMs: 500,
        what: "a checkpoint",
      });

      const before = await steps();
      const stopped = await pm2("stop", "satori-miner");
      assert.equal(stopped.code, 0, stopped.text);
      await waitFor(async () => /App \[satori-miner:\d+\] exited with code \[0\]/.test(await pm2Log()), {
        timeoutMs: 10_000,
        what: `exit code 0 in pm2.log:\n${await pm2Log()}`,
      });
      const log = await minerLog();
      assert.match(log, /Stopped/);
      const kept = await steps();
      // The trainer saves at the step boundary after the signal: a checkpoint newer than any before it.
      assert.ok(kept.at(-1)! > before.at(-1)!, `checkpoints ${before.join(", ")}, then ${kept.join(", ")}`);
      {
        await using store = await Store.open(storePath(net.config.miner.data_dir));
        const task = await store.getTask(request.id);
        // A graceful stop gives the run back to the queue: the task waits to resume, it has not failed.
        assert.equal(task?.state, "queued", `the stop gave the run back: ${JSON.stringify(task?.history)}`);
      }

      const restarted = await pm2("restart", "satori-miner");
      assert.equal(restarted.code, 0, restarted.text);
      await waitFor(async () => (await status(request.id)).state === "done", {
        timeoutMs: 240_000,
        intervalMs: 1_000,
        what: `the task done after the restart:\n${(await minerLog()).slice(-3000)}`,
      });
      const logs = await pm2("logs", "satori-miner", "--nostream", "--lines", "400");
      assert.equal(logs.code, 0, logs.text);
      assert.match(logs.text, /satori-miner/);
      assert.match(logs.text, /Queued task pm2-text/);
      assert.doesNotMatch(logs.text, new RegExp(net.hfToken));
      await using store = await Store.open(storePath(net.config.miner.data_dir));
      const done = await store.getTask(request.id);
      assert.equal(done?.state, "done");
      const runs = done!.history.filter((h) => h.state === "training").length;
      assert.ok(runs >= 2, `trained in ${runs} runs: before the stop and after the restart`);
    } finally {
      await pm2("kill");
    }
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  },
});
