/**
 * Queue benchmarks (issue 5), printed, never asserted:
 *  1. enqueue → trainer process started: through QueueActor → GpuActor → Web Worker → spawn, measured
 *     to the `spawned` report (the process exists) and to its first stdout event. The fake trainer
 *     answers at once, so the first figure excludes Python imports and model load; one run of the real
 *     trainer on the tiny model shows what those add.
 *  2. enqueue and dispatch throughput with 10 000 tasks already queued in an on-disk KV store.
 * Run alone: deno run -A bench/queue.ts
 */
import { CPU_DEVICE, type Device } from "../actors/gpu/devices.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import type { GpuMsg, GpuReport } from "../actors/protocol.ts";
import { enqueue, startQueueActor } from "../actors/queue/queue_actor.ts";
import type { ActorRef } from "../actors/runtime/actor.ts";
import { Store } from "../core/store.ts";
import { type Task, transition } from "../core/task.ts";
import { textTask } from "../tests/fixtures.ts";
import { cudaDevice, doneOutcome, type FakeGpu, startFakeGpu } from "../tests/queue_fake_gpu.ts";
import { PYTHON, ROOT, tinyText, tinyTraining, TRAINER_ENV } from "../tests/queue_tiny_text.ts";

const FAKE_PYTHON = new URL("../tests/gpu_fake_python.sh", import.meta.url).pathname;
const PREFILL = 10_000;
const OPS = 2_000;

const validated = (id: string, at: number, over: Record<string, unknown> = {}): Task =>
  ["submitDataset", "datasetValidated"].reduce(
    (t, type) => transition(t, { type } as never, at),
    textTask(id, at, over),
  );

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const ms = (x: number) => `${x.toFixed(1)} ms`;

/** Enqueue → spawned and → first event, `runs` times, one task at a time on one cpu GpuActor. */
async function latency(python: string, training: Record<string, unknown>, runs: number, env = {}) {
  const dataDir = await Deno.makeTempDir({ prefix: "bench-queue-" });
  await using store = await Store.open(`${dataDir}/kv.sqlite3`);
  await using gpu = startGpuActor({
    device: CPU_DEVICE,
    dataDir,
    python,
    trainerRoot: ROOT,
    timeLimitMs: 600_000,
    env,
  });
  let onReport = (_r: GpuReport) => {};
  await using queue = startQueueActor({
    store,
    devices: [CPU_DEVICE],
    gpu: () => gpu,
    maxQueueSize: 10,
    maxAttempts: 1,
    dataDir,
    onReport: (r) => onReport(r),
  });
  const spawned: number[] = [];
  const first: number[] = [];
  for (let i = 0; i < runs; i++) {
    const id = `lat-${i}`;
    const ended = new Promise<void>((resolve) => {
      let t0 = 0;
      onReport = (r) => {
        if (r.taskId !== id) return;
        const dt = performance.now() - t0;
        if (r.kind === "spawned") spawned.push(dt);
        if (r.kind === "event" && first.length < spawned.length) first.push(dt);
        if (r.kind === "ended") resolve();
      };
      t0 = performance.now();
    });
    await enqueue(queue, validated(id, Date.now(), { training }));
    await ended;
  }
  return { spawned, first };
}

/** Sequential atomic commits on the same disk: the ceiling every durable queue operation shares. */
async function kvBaseline(dir: string): Promise<number> {
  const kv = await Deno.openKv(`${dir}/baseline.sqlite3`);
  const n = 2_000;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    await kv.atomic().check({ key: ["b", i], versionstamp: null }).set(["b", i], { i }).commit();
  }
  kv.close();
  return n / ((performance.now() - t) / 1_000);
}

async function throughput(onDisk: boolean) {
  const dataDir = await Deno.makeTempDir({ prefix: "bench-queue-" });
  await using store = await Store.open(onDisk ? `${dataDir}/kv.sqlite3` : undefined);
  let t = performance.now();
  for (let i = 0; i < PREFILL; i++) {
    await store.createTask(transition(validated(`pre-${i}`, 1_000 + i), { type: "enqueue" }, 1_000 + i));
  }
  console.log(`  prefill: ${PREFILL} queued tasks written in ${ms(performance.now() - t)}`);
  // As many idle fake devices as tasks to dispatch, so dispatch alone is measured (no run ends).
  const devices: Device[] = Array.from({ length: OPS }, (_, i) => cudaDevice(i));
  const fakes: FakeGpu[] = devices.map((d) => startFakeGpu(d));
  let gpusUp = false;
  t = performance.now();
  await using queue = startQueueActor({
    store,
    devices,
    gpu: (d): ActorRef<GpuMsg> | undefined => (gpusUp ? fakes[d.index].ref : undefined),
    maxQueueSize: PREFILL + OPS + 10,
    maxAttempts: 1,
    dataDir,
    tickMs: 600_000,
  });
  await enqueue(queue, validated("warm-up", 1)); // also waits for recovery to finish
  console.log(`  recovery: reloaded ${PREFILL} queued tasks in ${ms(performance.now() - t)}`);

  const fresh = Array.from({ length: OPS }, (_, i) => validated(`new-${i}`, 2_000_000 + i)); // not timed
  t = performance.now();
  for (const task of fresh) await enqueue(queue, task);
  const enqueueS = (performance.now() - t) / 1_000;
  console.log(`  enqueue:  ${OPS} tasks onto ${PREFILL} queued: ${(OPS / enqueueS).toFixed(0)} ops/s`);

  gpusUp = true;
  const dispatched = () => fakes.reduce((n, f) => n + f.jobs.length, 0);
  t = performance.now();
  await enqueue(queue, validated("kick", 3_000_000), 300_000); // dispatch runs after an enqueue
  while (dispatched() < OPS) await new Promise((r) => setTimeout(r, 5));
  const dispatchS = (performance.now() - t) / 1_000;
  console.log(
    `  dispatch: ${dispatched()} tasks from a ${PREFILL + OPS}-deep queue: ${
      (OPS / dispatchS).toFixed(0)
    } ops/s`,
  );

  // A full cycle per device: the run ends at once and the task is settled (outbox + trained writes).
  const settled = () => fakes.filter((f) => f.running() === null).length;
  t = performance.now();
  for (const f of fakes) if (f.running()) f.finish(doneOutcome());
  while (settled() < OPS) await new Promise((r) => setTimeout(r, 5));
  await enqueue(queue, validated("sync", 4_000_000), 300_000); // every report before it has been handled
  const settleS = (performance.now() - t) / 1_000;
  console.log(
    `  settle:   ${OPS} finished runs (+ the next dispatches): ${(OPS / settleS).toFixed(0)} ops/s`,
  );
  console.log(`  enqueue+dispatch: ${((2 * OPS) / (enqueueS + dispatchS)).toFixed(0)} ops/s (goal ≥ 2000)`);
  for (const f of fakes) await f.ref.stop();
}

export async function benchQueue(): Promise<void> {
  console.log("enqueue → trainer process started (fake trainer, 20 runs, median / p95):");
  const fake = await latency(FAKE_PYTHON, { base_model: "fake:ok" }, 20);
  console.log(
    `  to spawned:     ${ms(pct(fake.spawned, 0.5))} / ${ms(pct(fake.spawned, 0.95))} (goal ≤ 1 s)`,
  );
  console.log(`  to first event: ${ms(pct(fake.first, 0.5))} / ${ms(pct(fake.first, 0.95))}`);
  try {
    const { model } = await tinyText();
    const real = await latency(PYTHON, tinyTraining(model, 2), 1, TRAINER_ENV);
    console.log(
      `  real trainer (tiny model): spawned ${ms(real.spawned[0])}, ` +
        `"started" ${ms(real.first[0])} (includes torch import and model load)`,
    );
  } catch (e) {
    console.log(`  real trainer skipped: ${(e as Error).message.split("\n")[0]}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "bench-kv-" });
  console.log(`baseline: ${(await kvBaseline(dir)).toFixed(0)} sequential KV commits/s on this disk`);
  console.log(`throughput with ${PREFILL} tasks queued in KV on disk:`);
  await throughput(true);
  console.log(`the same with KV in memory (the queue's own cost, without the disk):`);
  await throughput(false);
}

if (import.meta.main) await benchQueue();
