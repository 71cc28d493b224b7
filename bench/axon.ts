/**
 * bench/axon: signed-request throughput and p50/p99 latency of our axon against the Python SDK's own
 * `bittensor.Axon` serving the same synapse (TaskStatus, whose `task_id` is hashed and signed), both on
 * this machine, each in its own process, driven by the same load generator at the same concurrency.
 * Requests are signed before the clock starts (one dendrite per connection, nonces in order), so the
 * generator measures the servers, not sr25519. Prints the ratios; asserts nothing.
 *
 *   deno run -A bench/axon.ts [concurrency=16] [requests=3000]
 */
import { type AxonTarget, createDendrite } from "../local/dendrite.ts";
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats } from "../actors/protocol.ts";
import {
  FakeMiner,
  MINER_PHRASE,
  taskJson,
  VALIDATOR_FACTS,
  VALIDATOR_PHRASE,
  walletFrom,
} from "../tests/axon_fixtures.ts";
import { newTask, TaskRequest } from "../core/task.ts";
import { serverReady, startSdkAxon } from "../tests/axon_sdk_processes.ts";

export type Result = {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
};

/** A request ready to send; `method` defaults to POST (the synapses). */
export type Ready = { url: string; headers: Record<string, string>; body?: string; method?: string };

/** Tasks t-0 … t-(BENCH_TASKS-1) of the bench validator, so status reads find one (TaskStatus, GET /v1/tasks). */
export const BENCH_TASKS = 4_096;

/** The miner's wallet and a fake miner that knows the bench validator and holds its BENCH_TASKS tasks. */
export async function benchMiner(): Promise<
  { wallet: Awaited<ReturnType<typeof walletFrom>>; miner: FakeMiner }
> {
  const wallet = await walletFrom(MINER_PHRASE);
  const validator = await walletFrom(VALIDATOR_PHRASE);
  const miner = new FakeMiner();
  miner.facts.set(validator.hotkey.ss58, VALIDATOR_FACTS);
  for (let i = 0; i < BENCH_TASKS; i++) {
    miner.tasks.set(
      `t-${i}`,
      newTask(TaskRequest.parse(taskJson(`t-${i}`)), validator.hotkey.ss58, Date.now()),
    );
  }
  return { wallet, miner };
}

/** Starts our axon in this process and waits for stdin to close (the bench runs it as a child). */
async function serveOurs(): Promise<void> {
  const { wallet, miner } = await benchMiner();
  const axon = startAxonActor(
    {
      ip: "127.0.0.1",
      port: 0,
      maxBodyBytes: 1 << 20,
      minStakeTao: 1_000,
      rateLimit: { burst: 1e12, perSecond: 1e12 }, // one hotkey sends everything here
    },
    {
      wallet,
      lookup: (h) => miner.lookup(h),
      acceptTask: (r, v) => miner.acceptTask(r, v),
      taskStatus: (id) => miner.taskStatus(id),
      capacity: () => miner.capacity(),
    },
  );
  console.log(JSON.stringify({ port: (await axonStats(axon)).address.port }));
  for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
  await axon.stop();
}

export async function startOurs(): Promise<{ port: number } & AsyncDisposable> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { ready, stop } = await serverReady<{ port: number }>(
    child,
    () => Promise.resolve("bench axon server exited before serving"),
  );
  return { port: ready.port, [Symbol.asyncDispose]: stop };
}

/** `perWorker` signed TaskStatus requests for each of `concurrency` dendrites, nonces increasing. */
export async function signRequests(target: AxonTarget, concurrency: number, perWorker: number) {
  const wallet = await walletFrom(VALIDATOR_PHRASE);
  return Array.from({ length: concurrency }, () => {
    const d = createDendrite({ wallet });
    return Array.from(
      { length: perWorker },
      (_, i) => d.prepare(target, "TaskStatus", { task_id: `t-${i % BENCH_TASKS}` }),
    );
  });
}

export async function load(name: string, batches: Ready[][]): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(batches.map(async (batch) => {
    for (const req of batch) {
      const start = performance.now();
      const res = await fetch(req.url, {
        method: req.method ?? "POST",
        headers: req.headers,
        body: req.body,
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - start);
      if (res.status !== 200) errors++;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    name,
    rps: latencies.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    errors,
    requests: latencies.length,
  };
}

async function measure(name: string, port: number, hotkey: string, concurrency: number, total: number) {
  const target = { ip: "127.0.0.1", port, hotkey };
  await load(`${name} warmup`, await signRequests(target, concurrency, 20));
  return load(name, await signRequests(target, concurrency, Math.ceil(total / concurrency)));
}

export async function benchAxon(concurrency = 16, total = 3_000): Promise<void> {
  const miner = await walletFrom(MINER_PHRASE);
  const validator = await walletFrom(VALIDATOR_PHRASE);
  const hotkey = miner.hotkey.ss58;
  let ours: Result;
  let sdk: Result;
  {
    await using server = await startOurs();
    ours = await measure("ours (Deno)", server.port, hotkey, concurrency, total);
  }
  {
    await using server = await startSdkAxon(MINER_PHRASE, [validator.hotkey.ss58]);
    sdk = await measure("bittensor 10.5 Axon", server.port, hotkey, concurrency, total);
  }
  console.log(`signed TaskStatus requests, concurrency ${concurrency}, same generator, 127.0.0.1`);
  for (const r of [ours, sdk]) {
    console.log(
      `${r.name.padEnd(20)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  ` +
        `p99 ${r.p99.toFixed(2).padStart(7)} ms  non-200 ${r.errors}/${r.requests}`,
    );
  }
  console.log(
    `ratio: throughput ${(ours.rps / sdk.rps).toFixed(1)}x, p50 ${(sdk.p50 / ours.p50).toFixed(1)}x lower, ` +
      `p99 ${(sdk.p99 / ours.p99).toFixed(1)}x lower (ours vs SDK)`,
  );
}

if (import.meta.main) {
  if (Deno.args[0] === "--serve") await serveOurs();
  else await benchAxon(Number(Deno.args[0] ?? 16), Number(Deno.args[1] ?? 3_000));
}
