/** The real trainer on the cpu device, end to end: QueueActor → GpuActor (Web Worker) → trained. */
import assert from "node:assert/strict";
import { CPU_DEVICE } from "../core/device.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import type { GpuReport } from "../actors/protocol.ts";
import { acceptLocalDataset } from "./local_dataset.ts";
import { startQueueActor, type Trained } from "../actors/queue/queue_actor.ts";
import { enqueue } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { newTask, TaskRequest } from "../core/task.ts";
import { waitFor } from "./helpers.ts";
import { PYTHON, ROOT, tinyText, tinyTraining, TRAINER_ENV } from "./queue_tiny_text.ts";

Deno.test("QueueActor trains a text task with the real trainer on the cpu device, reporting progress", async () => {
  const { model, dataset } = await tinyText();
  const dataDir = await Deno.makeTempDir({ prefix: "queue-e2e-" });
  await using store = await Store.open(`${dataDir}/kv.sqlite3`);
  await using gpu = startGpuActor({
    device: CPU_DEVICE,
    dataDir,
    python: PYTHON,
    trainerRoot: ROOT,
    timeLimitMs: 120_000,
    graceMs: 5_000,
    env: TRAINER_ENV,
  });
  const reports: GpuReport[] = [];
  const trained: Trained[] = [];
  await using queue = startQueueActor({
    store,
    devices: [CPU_DEVICE],
    gpu: () => gpu,
    maxQueueSize: 10,
    maxAttempts: 1,
    dataDir,
    onReport: (r) => reports.push(r),
    onTrained: (t) => trained.push(t),
  });
  const request = TaskRequest.parse({
    id: "e2e-text",
    type: "text",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training: tinyTraining(model),
  });
  const task = await acceptLocalDataset(
    store,
    newTask(request, "5Local", Date.now()),
    dataset,
    dataDir,
    Date.now(),
  );
  const accepted = await enqueue(queue, task);
  assert.ok(accepted.ok, JSON.stringify(accepted));
  await waitFor(async () => trained.length === 1 || (await store.getTask("e2e-text"))?.state === "failed", {
    timeoutMs: 120_000,
    intervalMs: 100,
    what: "the task to train",
  });
  const after = await store.getTask("e2e-text");
  assert.equal(after?.state, "uploading", after?.reason ?? "");
  assert.deepEqual(after?.progress && { step: after.progress.step, total: after.progress.total }, {
    step: 6,
    total: 6,
  });
  const progress = reports.filter((r) => r.kind === "event" && r.event.type === "progress");
  assert.ok(progress.length >= 1, "progress events reached the queue");
  assert.ok(reports.some((r) => r.kind === "spawned"));
  assert.ok(trained[0].done.artifacts.some((a) => a.path === "adapter_model.safetensors"));
  assert.ok(await Deno.stat(`${trained[0].outDir}/adapter_model.safetensors`));
  // What the upload needs after a crash is in the record itself, written with the move to uploading.
  assert.deepEqual(after?.trained, { done: trained[0].done, out_dir: trained[0].outDir });
  assert.equal(after?.trained?.done.quality.passed, true);
});
