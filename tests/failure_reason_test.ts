/**
 * What a validator learns when training fails: a trainer whose stderr names files on this machine
 * fails the task with a fixed phrase (TaskStatus shows no path and no stderr), while the miner's log
 * keeps the whole story. A real GpuActor runs a stand-in trainer script; no Python.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { CPU_DEVICE } from "../core/device.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import { taskStatusReply } from "../actors/axon/synapse_handlers.ts";
import { enqueue } from "../actors/protocol.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { Store } from "../core/store.ts";
import { transition } from "../core/task.ts";
import { textTask } from "./fixtures.ts";
import { waitFor } from "./helpers.ts";

const LOCAL = "/home/miner/satori/trainer/text.py";

/** A trainer that dies the way Python does: a traceback naming local files on stderr, exit 1. */
async function crashingTrainer(dir: string): Promise<string> {
  const script = `${dir}/python`;
  await Deno.writeTextFile(
    script,
    [
      "#!/usr/bin/env bash",
      "echo 'Traceback (most recent call last):' >&2",
      `echo '  File "${LOCAL}", line 42, in load_base' >&2`,
      'echo "OSError: cannot open $PWD/cache/models--x/snapshots/0123456789abcdef0123456789abcdef01234567" >&2',
      "exit 1",
    ].join("\n") + "\n",
  );
  await Deno.chmod(script, 0o755);
  return script;
}

Deno.test("QueueActor fails a crashed trainer with a reason free of its stderr and local paths, and logs them", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r) => void records.push(r) },
    loggers: [
      { category: ["satori"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  const dataDir = await Deno.makeTempDir({ prefix: "failure-reason-" });
  const store = await Store.open();
  const gpu = startGpuActor({
    device: CPU_DEVICE,
    dataDir,
    python: await crashingTrainer(dataDir),
    trainerRoot: dataDir,
    timeLimitMs: 60_000,
    graceMs: 1_000,
  });
  const queue = startQueueActor({
    store,
    devices: [CPU_DEVICE],
    gpu: () => gpu,
    maxQueueSize: 10,
    maxAttempts: 1,
    dataDir,
  });
  try {
    const t = textTask("t-crash");
    await enqueue(
      queue,
      transition(transition(t, { type: "submitDataset" }, 1), { type: "datasetValidated" }, 1),
    );
    const failed = async () => (await store.getTask("t-crash"))?.state === "failed";
    await waitFor(failed, { timeoutMs: 10_000, what: "the task to fail" });
    const task = (await store.getTask("t-crash"))!;
    const reply = taskStatusReply("t-crash", task, { hotkey: task.validator_hotkey, facts: null });
    assert.equal(reply.reason, "Training failed after 1 attempt (crashed)");
    const failure = records.find((r) => r.category.join(".") === "satori.queue" && r.level === "error");
    assert.match(
      String(failure?.properties.reason),
      /^Training failed after 1 attempt \(crashed\): .*text\.py/,
    );
    assert.ok(String(failure?.properties.reason).includes(LOCAL), "the log keeps the trainer's stderr");
  } finally {
    await queue.stop();
    await gpu.stop();
    store.close();
    await reset();
    await Deno.remove(dataDir, { recursive: true });
  }
});
