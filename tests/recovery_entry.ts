/**
 * A minimal miner for the crash-recovery test: store + QueueActor + one cpu GpuActor running the
 * real trainer. With --enqueue it first queues two tasks. It prints every GPU report and each trained
 * task as a JSON line on stdout, and stops cleanly on SIGTERM. The test SIGKILLs it mid-training.
 * Usage: deno run -A tests/recovery_entry.ts DATA_DIR MODEL DATASET [--enqueue]
 */
import { CPU_DEVICE } from "../core/device.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import { acceptLocalDataset } from "./local_dataset.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { enqueue } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import { newTask, TaskRequest } from "../core/task.ts";
import { PYTHON, ROOT, tinyTraining, TRAINER_ENV } from "./queue_tiny_text.ts";

const [dataDir, model, dataset, flag] = Deno.args;
const print = (line: unknown) => console.log(JSON.stringify(line));

const store = await Store.open(`${dataDir}/kv.sqlite3`);
const gpu = startGpuActor({
  device: CPU_DEVICE,
  dataDir,
  python: PYTHON,
  trainerRoot: ROOT,
  timeLimitMs: 120_000,
  graceMs: 5_000,
  env: TRAINER_ENV,
});
const queue = startQueueActor({
  store,
  devices: [CPU_DEVICE],
  gpu: () => gpu,
  maxQueueSize: 10,
  maxAttempts: 3,
  dataDir,
  onReport: (report) => print({ report }),
  onTrained: ({ task }) => print({ trained: task.request.id }),
});

if (flag === "--enqueue") {
  for (const [id, priority, steps] of [["t-resume", 1, 8], ["t-wait", 0, 4]] as const) {
    const request = TaskRequest.parse({
      id,
      priority,
      type: "text",
      dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
      training: tinyTraining(model, steps),
    });
    const task = await acceptLocalDataset(
      store,
      newTask(request, "5Local", Date.now()),
      dataset,
      dataDir,
      Date.now(),
    );
    print({ enqueued: await enqueue(queue, task) });
  }
}

Deno.addSignalListener("SIGTERM", async () => {
  await gpu.stop();
  await queue.stop();
  store.close();
  print({ stopped: true });
  Deno.exit(0);
});
print({ ready: true });
