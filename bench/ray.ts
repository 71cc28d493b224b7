/**
 * Ray backend benchmarks (issue 16), printed, never asserted. The real trainer on the tiny Llama
 * (tests/queue_tiny_text.ts) and the real queue both ways; ratios against a baseline measured in the
 * same run, since absolute timings on a shared machine say little:
 *  1. enqueue → trainer started (its first `started` event reaching the queue's onReport), on Ray
 *     against the local GpuActor on the CPU device, the same tiny task: the difference is what Ray adds
 *     (job submission, runtime env, the dataset fetched from the job files server, the log tail). K runs
 *     per side, alternating, after one warm-up each (the first run imports torch cold); medians.
 *  2. wall time of N tiny tasks on one node against two nodes of the same cluster (one logical GPU
 *     each): the one-node miner's queue sees only node a's card (`onlyHosts`).
 * Runs inside a cluster's namespace, e.g. in a cluster of its own as bench/main.ts does:
 *   RAY_TEST_NETNS=satori-ray-bench RAY_TEST_DIR=/tmp/ray-bench scripts/ray_cluster.sh run \
 *     deno run -A bench/ray.ts [--k 5] [--n 8] [--steps 60]
 */
import { parseArgs } from "node:util";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import { enqueue, type GpuReport } from "../actors/protocol.ts";
import { admissionPolicy } from "../actors/queue/policy.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import { CPU_DEVICE } from "../core/device.ts";
import { manifestPath, storePath } from "../core/paths.ts";
import { Store } from "../core/store.ts";
import { PYTHON, ROOT, tinyText, tinyTraining, TRAINER_ENV } from "../tests/queue_tiny_text.ts";
import { NODE_IP, rayAddress, rayToken } from "../tests/ray/cluster.ts";
import { type RayMiner, startRayMiner, validatedTinyTask } from "../tests/ray/ray_harness.ts";

/** What the bench needs of a miner: queue one tiny task, calling `onEnqueue` just before the enqueue. */
type Submit = (id: string, maxSteps: number, onEnqueue: () => void) => Promise<void>;

/** Checkpoints rarely: the tasks are short and the figures are about dispatch, not checkpointing. */
const CHECKPOINT_EVERY = 20;

/** When a task was enqueued, and when its first `started` and its `ended` reached the queue (performance.now()). */
type Timing = { enqueued: number; started: number; ended: number };

/** Timings of the tasks it queued, fed by the queue's onReport; every wait ends early when `lost` rejects. */
class Tracker {
  constructor(readonly lost: Promise<never>) {}

  #runs = new Map<
    string,
    { enqueued: number; started?: number; ended: (r: GpuReport & { kind: "ended" }) => void }
  >();

  onReport = (r: GpuReport): void => {
    const run = this.#runs.get(r.taskId);
    if (r.kind === "event" && r.event.type === "started" && run) run.started ??= performance.now();
    if (r.kind === "ended" && run) run.ended(r);
  };

  /** Queues `id` through `submit`; `done` settles when it has ended (rejects when it failed). */
  async queue(submit: Submit, id: string, maxSteps: number): Promise<{ done: Promise<Timing> }> {
    const ended = Promise.withResolvers<GpuReport & { kind: "ended" }>();
    const run = { enqueued: 0, started: undefined as number | undefined, ended: ended.resolve };
    this.#runs.set(id, run);
    await submit(id, maxSteps, () => (run.enqueued = performance.now()));
    const end = Promise.race([ended.promise, this.lost]);
    const done = withTimeout(end, 600_000, `task ${id} to end`).then((r) => {
      const at = performance.now();
      if (!r.outcome.ok) throw new Error(`task ${id} failed: ${r.outcome.code}: ${r.outcome.message}`);
      if (run.started === undefined) throw new Error(`task ${id} ended without a "started" event`);
      const [s, e] = [run.started - run.enqueued, at - run.enqueued].map((x) => (x / 1000).toFixed(2));
      console.error(`    ${id}: started after ${s} s, ended after ${e} s`);
      return { enqueued: run.enqueued, started: run.started, ended: at };
    });
    done.catch(() => {}); // whoever awaits `done` sees the failure; it must not crash us before they do
    return { done };
  }

  /** Queues `id` and waits for it to end. */
  async run(submit: Submit, id: string, maxSteps: number): Promise<Timing> {
    return await (await this.queue(submit, id, maxSteps)).done;
  }
}

/**
 * Rejects once the cluster's Jobs API has not answered for 15 s, so a cluster gone under the bench fails
 * it at once rather than after every task's timeout (`ray stop` kills each Ray process on the machine,
 * whichever cluster it belongs to).
 */
function watchCluster(): { lost: Promise<never>; [Symbol.dispose](): void } {
  const { promise: lost, reject } = Promise.withResolvers<never>();
  lost.catch(() => {});
  let answered = Date.now();
  const timer = setInterval(async () => {
    const ok = await fetch(`${rayAddress()}/api/version`, {
      headers: { Authorization: `Bearer ${rayToken()}` },
      signal: AbortSignal.timeout(5_000),
    }).then(async (r) => (await r.body?.cancel(), r.ok), () => false);
    if (ok) answered = Date.now();
    else if (Date.now() - answered > 15_000) reject(new Error("the Ray cluster stopped answering for 15 s"));
  }, 2_000);
  return { lost, [Symbol.dispose]: () => clearInterval(timer) };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The local side: the real QueueActor and a real GpuActor on the CPU device, as `local` mode runs. */
async function startLocalMiner(onReport: (r: GpuReport) => void) {
  const tiny = await tinyText();
  const dataDir = await Deno.makeTempDir({ prefix: "bench-ray-local-" });
  const store = await Store.open(storePath(dataDir));
  const gpu = startGpuActor({
    device: CPU_DEVICE,
    dataDir,
    python: PYTHON,
    trainerRoot: ROOT,
    timeLimitMs: 600_000,
    env: TRAINER_ENV,
  });
  const queue = startQueueActor({
    store,
    devices: [CPU_DEVICE],
    gpu: () => gpu,
    maxQueueSize: 20,
    maxAttempts: 1,
    dataDir,
    policy: admissionPolicy({ allowedBaseModels: [tiny.model] }),
    manifestFile: (t) => manifestPath(dataDir, t.request.id),
    onReport,
    progressWriteMs: 0,
  });
  // The same preparation as the Ray side's: a copied dataset with a real manifest.
  const submit: Submit = async (id, maxSteps, onEnqueue) => {
    const task = await validatedTinyTask(store, dataDir, tiny.model, tiny.dataset, id, {
      maxSteps,
      checkpointEvery: CHECKPOINT_EVERY,
    });
    onEnqueue();
    const queued = await enqueue(queue, task);
    if (!queued.ok) throw new Error(`Cannot queue ${id}: ${queued.message}`);
  };
  return {
    submit,
    [Symbol.asyncDispose]: async () => {
      await queue[Symbol.asyncDispose]();
      await gpu[Symbol.asyncDispose]();
      store.close();
    },
  };
}

const raySubmit = (miner: RayMiner): Submit => async (id, maxSteps, onEnqueue) => {
  await miner.submit(id, { maxSteps, checkpointEvery: CHECKPOINT_EVERY, onEnqueue });
};

/** Waits until the miner's queue sees `n` cards (the RayActor publishes them on its first poll). */
async function cards(miner: RayMiner, n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (miner.devices().length < n) {
    if (Date.now() > deadline) throw new Error(`the queue sees ${miner.devices().length} cards, not ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** N tasks queued one after another (all before the first run ends); ms from the first enqueue to the last end. */
async function wall(tracker: Tracker, submit: Submit, ids: string[], maxSteps: number): Promise<number> {
  const queued = [];
  for (const id of ids) queued.push(await tracker.queue(submit, id, maxSteps));
  const runs = await Promise.all(queued.map((q) => q.done));
  return Math.max(...runs.map((r) => r.ended)) - Math.min(...runs.map((r) => r.enqueued));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const row = (name: string, ...cells: string[]) =>
  console.log(`  ${name.padEnd(40)}${cells.map((c) => c.padStart(12)).join("")}`);

/**
 * The machine's own ceiling for the two-node figure: two bare trainers (`python -m trainer run`, no
 * miner, no Ray) at once against one after the other, with the same task. Both "nodes" of the test
 * cluster share this box's cores, so two Ray nodes can go no faster than this.
 */
async function ceiling(steps: number): Promise<{ sequential: number; parallel: number }> {
  const tiny = await tinyText();
  const dir = await Deno.makeTempDir({ prefix: "ray-bench-ceiling-" });
  const task = `${dir}/task.json`;
  const training = tinyTraining(tiny.model, steps);
  training.hyperparameters.checkpoint_every = CHECKPOINT_EVERY;
  await Deno.writeTextFile(task, JSON.stringify({ ...training, task_id: "ceiling", type: "text" }));
  const trainOnce = async (n: number) => {
    const out = await new Deno.Command(PYTHON, {
      args: ["-m", "trainer", "run", "--task", task, "--dataset", tiny.dataset, "--out", `${dir}/out-${n}`],
      cwd: ROOT,
      env: TRAINER_ENV,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`bare trainer failed: ${new TextDecoder().decode(out.stderr).slice(-300)}`);
    }
  };
  await trainOnce(0); // warm the page cache, as the Ray runs were warmed
  let t = performance.now();
  await trainOnce(1);
  await trainOnce(2);
  const sequential = performance.now() - t;
  t = performance.now();
  await Promise.all([trainOnce(3), trainOnce(4)]);
  const parallel = performance.now() - t;
  await Deno.remove(dir, { recursive: true });
  return { sequential, parallel };
}

export async function benchRay(opts: { k: number; n: number; steps: number }): Promise<void> {
  const run = `b${Date.now().toString(36)}`;
  using cluster = watchCluster();
  const tracker = new Tracker(cluster.lost);
  const started = performance.now();
  console.log(
    `Ray backend: real trainer on the tiny Llama, two-node cluster (one logical GPU per node); ` +
      `${opts.k} runs per side after 1 warm-up each, then ${opts.n} tasks × ${opts.steps} steps on 1 vs 2 nodes`,
  );
  const local: number[] = [];
  const ray: number[] = [];
  {
    await using localMiner = await startLocalMiner(tracker.onReport);
    await using oneNode = await startRayMiner({ onReport: tracker.onReport, onlyHosts: [NODE_IP.a] });
    await cards(oneNode, 1);
    const sides = { local: localMiner.submit, ray: raySubmit(oneNode) };
    await tracker.run(sides.local, `${run}-warm-local`, 2);
    await tracker.run(sides.ray, `${run}-warm-ray`, 2);
    for (let i = 0; i < opts.k; i++) {
      // Alternating, and swapping which goes first, so drift on a shared machine falls on both.
      const order = i % 2 ? (["ray", "local"] as const) : (["local", "ray"] as const);
      for (const side of order) {
        const r = await tracker.run(sides[side], `${run}-lat-${side}-${i}`, 2);
        (side === "local" ? local : ray).push(r.started - r.enqueued);
      }
    }
    console.log(`  runs (ms)  local: ${local.map((x) => x.toFixed(0)).join(" ")}`);
    console.log(`             ray:   ${ray.map((x) => x.toFixed(0)).join(" ")}`);
    const [l, r] = [median(local), median(ray)];
    row(`enqueue → "started" (median of ${opts.k})`, "local", "Ray", "Ray/local");
    row("", sec(l), sec(r), `×${(r / l).toFixed(2)}`);
    row("  Ray's overhead (median difference)", "", `+${sec(r - l)}`);

    const ids = (tag: string) => Array.from({ length: opts.n }, (_, i) => `${run}-${tag}-${i}`);
    const one = await wall(tracker, raySubmit(oneNode), ids("one"), opts.steps);
    await using twoNodes = await startRayMiner({ onReport: tracker.onReport });
    await cards(twoNodes, 2);
    // Warms node b (its runtime env and trainer package), which the one-node runs never touched.
    await wall(tracker, raySubmit(twoNodes), [`${run}-warm-a`, `${run}-warm-b`], 2);
    const two = await wall(tracker, raySubmit(twoNodes), ids("two"), opts.steps);
    row(`${opts.n} tasks × ${opts.steps} steps, wall time`, "1 node", "2 nodes", "2/1 speed");
    row("", sec(one), sec(two), `×${(one / two).toFixed(2)}`);
    row(
      "  throughput (tasks/min; goal ≥ ×1.8)",
      (opts.n / (one / 60_000)).toFixed(2),
      (opts.n / (two / 60_000)).toFixed(2),
    );
  }
  const bare = await ceiling(opts.steps);
  row(`2 bare trainers × ${opts.steps} steps (no Ray)`, "in turn", "at once", "ceiling");
  row("", sec(bare.sequential), sec(bare.parallel), `×${(bare.sequential / bare.parallel).toFixed(2)}`);
  console.log(`  bench wall time ${sec(performance.now() - started)}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      k: { type: "string", default: "5" },
      n: { type: "string", default: "8" },
      steps: { type: "string", default: "60" },
    },
  });
  const int = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got "${v}"`);
    return n;
  };
  await benchRay({ k: int("k", values.k), n: int("n", values.n), steps: int("steps", values.steps) });
  // The harness' actors and files server are stopped above; anything left (a log tail) must not hold us.
  Deno.exit(0);
}
