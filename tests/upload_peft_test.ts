/**
 * The real trainer's text adapter, uploaded by the UploadActor to the local Hub and downloaded back with
 * the real client, loads with peft and equals what the trainer wrote. Needs the trainer venv (`deno task
 * setup`); skipped without it. CPU only, a tiny Llama built from a config; under a minute.
 */
import assert from "node:assert/strict";
import { TrainerEvent } from "../core/training.ts";
import { newTask, TaskRequest } from "../core/task.ts";
import type { DoneEvent } from "../core/training.ts";
import { downloadSnapshot } from "./hub_download.ts";
import { startUploadActor } from "../actors/upload/upload_actor.ts";
import { upload } from "../actors/protocol.ts";
import { startHubServer } from "../local/hub_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PYTHON = `${ROOT}.venv/bin/python`;
const HAS_PEFT = (() => {
  try {
    return new Deno.Command(PYTHON, {
      args: ["-c", "import peft, transformers"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const ENV = {
  PYTHONPATH: ROOT,
  HF_HUB_OFFLINE: "1",
  TRANSFORMERS_OFFLINE: "1",
  OMP_NUM_THREADS: "2",
  TOKENIZERS_PARALLELISM: "false",
  TRAINER_LOG_LEVEL: "WARNING",
};

async function python(args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, { args, cwd: ROOT, env: ENV, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(
    out.success,
    `python ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr).slice(-3000)}`,
  );
  return text;
}

Deno.test({
  name: "upload() of a real trainer's text adapter downloads back and loads with peft",
  ignore: !HAS_PEFT,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "upload-peft-" });
    try {
      const prepared = JSON.parse(await python(["tests/upload_peft_check.py", "prepare", tmp]));
      const out = `${tmp}/out`;
      const args = ["-m", "trainer", "run", "--task", `${tmp}/task.json`, "--dataset", prepared.dataset];
      const events = (await python([...args, "--out", out])).split("\n").filter((l) => l.trim())
        .map((l) => TrainerEvent.parse(JSON.parse(l)));
      const done = events.find((e): e is DoneEvent => e.type === "done");
      assert.ok(done, "the trainer finished with a done event");

      const { task_id: _, type: __, base_model, ...training } = prepared.task;
      const request = TaskRequest.parse({
        id: "peft-1",
        type: "text",
        dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
        training: { base_model, ...training },
      });
      await using srv = await startHubServer();
      const deps = { hubUrl: srv.url, token: srv.hub.token, username: null, private: true };
      await using actor = startUploadActor(deps);
      const res = await upload(actor, { task: newTask(request, "v", 1), done, outDir: out });
      assert.ok(res.ok, JSON.stringify(res));

      const back = `${tmp}/back`;
      const params = {
        hubUrl: srv.url,
        repo: res.repoId,
        revision: res.commitSha,
        accessToken: srv.hub.token,
      };
      const paths = await downloadSnapshot(params, back);
      assert.ok(paths.includes("adapter_model.safetensors") && paths.includes("adapter_config.json"));
      const check = JSON.parse(
        await python(["tests/upload_peft_check.py", "load", prepared.model, back, out]),
      );
      assert.deepEqual({ same: check.same, changed: check.changed }, { same: true, changed: true });
      assert.ok(check.tensors > 0);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
