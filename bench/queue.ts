/**
 * Queue benchmarks (issue 5), printed, never asserted:
 *  1. enqueue → trainer process started: through QueueActor → GpuActor → Web Worker → spawn, measured
 *     to the `spawned` report (the process exists) and to its first stdout event. The fake trainer
 *     answers at once, so the first figure excludes Python imports and model load; one run of the real
 *     trainer on the tiny model shows what those add.
 *  2. enqueue and dispatch throughput with 10 000 tasks already queued in an on-disk KV store, with
 *     group commit (the default) against the unbatched path (`batchMax: 1`, one commit per write) in
 *     the same run. Enqueues come from one caller awaiting each reply, then from 256 callers at once
 *     (the axon serving many validators): group commit can only batch what is waiting together.
 * Run alone: deno run -A bench/queue.ts [--throughput] (the flag skips the latency part)
 */
import { CPU_DEVICE, type Device } from "../core/device.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import type { GpuMsg, GpuReport } from "../actors/protocol.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { enqueue } from "../actors/protocol.ts";
import type { ActorRef } from "../actors/runtime/actor.ts";
import { Store } from "../core/store.ts";
import { type Task, transition } from "../core/task.ts";
import { textTask } from "../tests/fixtures.ts";
import { cudaDevice, doneOutcome, type FakeGpu, startFakeGpu } from "../tests/queue_fake_gpu.ts";
import { PYTHON, ROOT, tinyText, tinyTraining, TRAINER_ENV } from "../tests/queue_tiny_text.ts";

const FAKE_PYTHON = new URL("../tests/gpu_fake_python.sh", import.meta.url).pathname;
const PREFILL = 10_000;
const OPS = 2_000;
const CALLERS = 256;

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

/** Figures of one throughput run, in ops/s. */
type Throughput = { sequential: number; concurrent: number; dispatch: number; settle: number; total: number };

/** A store holding `PREFILL` queued tasks, written once and copied for each run. */
async function prefilled(onDisk: boolean): Promise<() => Promise<Store>> {
  const dir = await Deno.makeTempDir({ prefix: "bench-queue-" });
  const path = onDisk ? `${dir}/prefill.sqlite3` : undefined;
  const store = await Store.open(path);
  const t = performance.now();
  const tasks = Array.from(
    { length: PREFILL },
    (_, i) => transition(validated(`pre-${i}`, 1_000 + i), { type: "enqueue" }, 1_000 + i),
  );
  await store.createTasks(tasks);
  console.log(`  prefill: ${PREFILL} queued tasks written in ${ms(performance.now() - t)} (batched)`);
  if (!path) {
    store.close();
    return async () => {
      const s = await Store.open();
      await s.createTasks(tasks);
      return s;
    };
  }
  store.close();
  let n = 0;
  return async () => {
    const copy = `${dir}/run-${n++}.sqlite3`;
    await Deno.copyFile(path, copy);
    return await Store.open(copy);
  };
}

async function throughput(open: () => Promise<Store>, batchMax: number): Promise<Throughput> {
  const dataDir = await Deno.makeTempDir({ prefix: "bench-queue-" });
  await using store = await open();
  // As many idle fake devices as tasks to dispatch, so dispatch alone is measured (no run ends).
  const devices: Device[] = Array.from({ length: OPS }, (_, i) => cudaDevice(i));
  const fakes: FakeGpu[] = devices.map((d) => startFakeGpu(d));
  let gpusUp = false;
  await using queue = startQueueActor({
    store,
    devices,
    gpu: (d): ActorRef<GpuMsg> | undefined => (gpusUp ? fakes[d.index].ref : undefined),
    maxQueueSize: PREFILL + 2 * OPS + 10,
    maxAttempts: 1,
    dataDir,
    tickMs: 600_000,
    batchMax,
  });
  await enqueue(queue, validated("warm-up", 1)); // also waits for recovery to finish

  const rate = (n: number, t0: number) => n / ((performance.now() - t0) / 1_000);
  const one = Array.from({ length: OPS }, (_, i) => validated(`one-${i}`, 2_000_000 + i)); // not timed
  let t = performance.now();
  for (const task of one) await enqueue(queue, task);
  const sequential = rate(OPS, t);

  const many = Array.from({ length: OPS }, (_, i) => validated(`many-${i}`, 2_500_000 + i));
  t = performance.now();
  let next = 0;
  const caller = async () => {
    while (next < many.length) {
      const r = await enqueue(queue, many[next++], 60_000);
      if (!r.ok) throw new Error(r.message);
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, caller));
  const concurrentS = (performance.now() - t) / 1_000;

  gpusUp = true;
  const dispatched = () => fakes.reduce((n, f) => n + f.jobs.length, 0);
  t = performance.now();
  await enqueue(queue, validated("kick", 3_000_000), 300_000); // dispatch runs after an enqueue
  while (dispatched() < OPS) await new Promise((r) => setTimeout(r, 5));
  const dispatchS = (performance.now() - t) / 1_000;

  // A full cycle per device: the run ends at once and the task is settled (outbox + trained writes).
  const settled = () => fakes.filter((f) => f.running() === null).length;
  t = performance.now();
  for (const f of fakes) if (f.running()) f.finish(doneOutcome());
  while (settled() < OPS) await new Promise((r) => setTimeout(r, 5));
  await enqueue(queue, validated("sync", 4_000_000), 300_000); // every report before it has been handled
  const settle = rate(OPS, t);
  for (const f of fakes) await f.ref.stop();
  return {
    sequential,
    concurrent: OPS / concurrentS,
    dispatch: OPS / dispatchS,
    settle,
    total: (2 * OPS) / (concurrentS + dispatchS),
  };
}

/** Runs the unbatched path and group commit on copies of the same prefilled store; prints both. */
async function compareThroughput(onDisk: boolean): Promise<void> {
  const open = await prefilled(onDisk);
  const base = await throughput(open, 1);
  const group = await throughput(open, 100);
  const row = (name: string, k: keyof Throughput) =>
    console.log(
      `  ${name.padEnd(44)} ${base[k].toFixed(0).padStart(6)} ${group[k].toFixed(0).padStart(7)}   ×${
        (group[k] / base[k]).toFixed(2)
      }`,
    );
  console.log(`  ${"ops/s".padEnd(44)} ${"1/commit".padStart(6)} ${"grouped".padStart(7)}   ratio`);
  row(`enqueue, 1 caller, onto ${PREFILL} queued`, "sequential");
  row(`enqueue, ${CALLERS} callers`, "concurrent");
  row(`dispatch from a ${PREFILL + 2 * OPS}-deep queue`, "dispatch");
  row(`settle (finished runs + next dispatches)`, "settle");
  row(`enqueue (${CALLERS} callers) + dispatch (goal ≥ 2000)`, "total");
}

export async function benchQueue(opts: { latency?: boolean } = {}): Promise<void> {
  if (opts.latency ?? true) await benchLatency();
  const dir = await Deno.makeTempDir({ prefix: "bench-kv-" });
  console.log(`baseline: ${(await kvBaseline(dir)).toFixed(0)} sequential KV commits/s on this disk`);
  console.log(`throughput with ${PREFILL} tasks queued in KV on disk:`);
  await compareThroughput(true);
  console.log(`the same with KV in memory (the queue's own cost, without the disk):`);
  await compareThroughput(false);
}

async function benchLatency(): Promise<void> {
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
}

if (import.meta.main) await benchQueue({ latency: !Deno.args.includes("--throughput") });
