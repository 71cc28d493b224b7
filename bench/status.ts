/**
 * bench/status: what the status server costs the axon, and what a scrape costs.
 * 1. Axon throughput and p99 with the status server off, then on (the axon's request hook feeding its
 *    metrics, /metrics scraped every second and a dashboard's SSE stream open), in the same run and
 *    the same server process shape: rounds alternate off/on so drift on a shared machine falls on both.
 * 2. /metrics render time for a miner with 100 queued tasks, 8 GPUs and 8 running tasks: the view and
 *    the exposition in process, and a GET /metrics over the socket.
 *
 *   deno run -A bench/status.ts [concurrency=16] [requests=12000] [rounds=5]
 */
import { startAxonActor } from "../actors/axon/axon_actor.ts";
import { axonStats, statusAddress } from "../actors/protocol.ts";
import { SYNAPSES } from "../actors/axon/synapses.ts";
import { Telemetry } from "../actors/status/telemetry.ts";
import { serverReady } from "../tests/axon_sdk_processes.ts";
import { MINER_PHRASE, walletFrom } from "../tests/axon_fixtures.ts";
import { fakeMiner, startFakeStatus, viewOf } from "../tests/status_fixtures.ts";
import { benchMiner, load, type Result, signRequests } from "./axon.ts";

type Mode = "off" | "on";

/** Our axon (and, when `on`, a status server fed by its hook) in this process, until stdin closes. */
async function serve(mode: Mode): Promise<void> {
  const { wallet, miner } = await benchMiner();
  const status = mode === "on" ? fakeMiner({ queued: 100, running: 8, gpus: 8 }) : null;
  const telemetry = status?.telemetry ?? new Telemetry({ synapses: Object.keys(SYNAPSES) });
  const statusActor = status ? startFakeStatus(status) : null;
  const axon = startAxonActor(
    {
      ip: "127.0.0.1",
      port: 0,
      maxBodyBytes: 1 << 20,
      minStakeTao: 1_000,
      rateLimit: { burst: 1e12, perSecond: 1e12 },
    },
    {
      wallet,
      lookup: (h) => miner.lookup(h),
      acceptTask: (r, v) => miner.acceptTask(r, v),
      taskStatus: (id) => miner.taskStatus(id),
      capacity: () => miner.capacity(),
      onReply: status ? telemetry.onAxonReply : undefined,
    },
  );
  const statusPort = statusActor ? (await statusAddress(statusActor))!.port : 0;
  console.log(JSON.stringify({ port: (await axonStats(axon)).address.port, statusPort }));
  for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
  await axon.stop();
  await statusActor?.stop();
}

async function startServer(mode: Mode) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--serve", mode],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const { ready, stop } = await serverReady<{ port: number; statusPort: number }>(
    child,
    () => Promise.resolve("bench server exited before serving"),
  );
  return { ...ready, [Symbol.asyncDispose]: stop };
}

/** Scrapes /metrics every second and holds one SSE stream open, as Prometheus and a dashboard would. */
function watch(statusPort: number) {
  const base = `http://127.0.0.1:${statusPort}`;
  const scrapes: number[] = [];
  const timer = setInterval(async () => {
    const t0 = performance.now();
    await (await fetch(`${base}/metrics`)).text();
    scrapes.push(performance.now() - t0);
  }, 1_000);
  const events = new AbortController();
  const feed = fetch(`${base}/events`, { signal: events.signal })
    .then(async (res) => {
      for await (const _ of res.body!) { /* a dashboard reading each view */ }
    })
    .catch(() => {});
  return {
    scrapes,
    stop: async () => {
      clearInterval(timer);
      events.abort();
      await feed;
    },
  };
}

async function round(mode: Mode, hotkey: string, concurrency: number, total: number) {
  await using server = await startServer(mode);
  const target = { ip: "127.0.0.1", port: server.port, hotkey };
  await load("warmup", await signRequests(target, concurrency, 20));
  const watcher = mode === "on" ? watch(server.statusPort) : null;
  const result = await load(mode, await signRequests(target, concurrency, Math.ceil(total / concurrency)));
  await watcher?.stop();
  return { result, scrapes: watcher?.scrapes ?? [] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))];

/** Render time of the view and exposition for 100 queued tasks, 8 GPUs, 8 runs (in process, then HTTP). */
async function renderTimes(iterations = 500) {
  const miner = fakeMiner({ queued: 100, running: 8, gpus: 8 });
  const inProcess: number[] = [];
  let bytes = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    const text = await miner.telemetry.render(viewOf(miner));
    inProcess.push(performance.now() - t0);
    bytes = text.length;
  }
  await using status = startFakeStatus(miner);
  const { url } = (await statusAddress(status))!;
  const overHttp: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    await (await fetch(`${url}metrics`)).text();
    overHttp.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20)); // spread over the view's 1 s cache: samples and hits
  }
  return { inProcess, overHttp, bytes };
}

export async function benchStatus(concurrency = 16, total = 12_000, rounds = 5): Promise<void> {
  const hotkey = (await walletFrom(MINER_PHRASE)).hotkey.ss58;
  const results: Record<Mode, Result[]> = { off: [], on: [] };
  const scrapes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const mode of ["off", "on"] as const) {
      const r = await round(mode, hotkey, concurrency, total);
      results[mode].push(r.result);
      scrapes.push(...r.scrapes);
    }
  }
  const summary = (mode: Mode) => ({
    rps: median(results[mode].map((r) => r.rps)),
    p99: median(results[mode].map((r) => r.p99)),
    errors: results[mode].reduce((n, r) => n + r.errors, 0),
  });
  const off = summary("off");
  const on = summary("on");
  console.log(
    `signed TaskStatus requests, concurrency ${concurrency}, ${total} per round, median of ${rounds} rounds`,
  );
  for (const [name, r] of [["status off", off], ["status on", on]] as const) {
    console.log(
      `${name.padEnd(11)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${
        r.p99.toFixed(2).padStart(7)
      } ms  non-200 ${r.errors}`,
    );
  }
  console.log(
    `ratio (on/off): throughput ${(on.rps / off.rps).toFixed(3)}x, p99 ${(on.p99 / off.p99).toFixed(3)}x ` +
      `(goal: within 2 %); ${scrapes.length} scrapes during the load, median ${
        median(scrapes).toFixed(1)
      } ms`,
  );
  const render = await renderTimes();
  console.log(
    `/metrics for 100 queued tasks, 8 GPUs, 8 runs (${(render.bytes / 1024).toFixed(1)} KiB): ` +
      `view + render median ${median(render.inProcess).toFixed(2)} ms, p99 ${
        quantile(render.inProcess, 0.99).toFixed(2)
      } ms; ` +
      `GET /metrics median ${median(render.overHttp).toFixed(2)} ms, p99 ${
        quantile(render.overHttp, 0.99).toFixed(2)
      } ms`,
  );
}

if (import.meta.main) {
  const [first, second, third] = Deno.args;
  if (first === "--serve") await serve(second as Mode);
  else await benchStatus(Number(first ?? 16), Number(second ?? 12_000), Number(third ?? 5));
}
