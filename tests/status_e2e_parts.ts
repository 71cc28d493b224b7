/**
 * The processes tests/status_e2e_test.ts drives beside the local network: the miner (`main.ts start`,
 * its output kept), Debian's Prometheus scraping the status server, and the trainer, held with SIGSTOP
 * and run in slices so a test sees it move on a fast or a loaded machine alike.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { freePort } from "../local/chain_harness.ts";
import { waitFor } from "./helpers.ts";

const REPO = new URL("..", import.meta.url).pathname;
/** How long the held trainer runs between two looks. */
const SLICE_MS = 250;
const dec = new TextDecoder();

export type Miner = ReturnType<typeof startMiner>;

export function startMiner(configFile: string, hfToken: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}main.ts`, "start"],
    cwd: REPO,
    env: {
      MINER_CONFIG: configFile,
      HF_TOKEN: hfToken,
      HF_HUB_OFFLINE: "1",
      NO_COLOR: "1",
      PATH: `${REPO}tests/fakebin:${Deno.env.get("PATH")}`,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const collect = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) chunks.push(dec.decode(c));
  };
  const streams = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill("SIGTERM");
    const { code } = await child.status;
    await streams;
    assert.equal(code, 0, `miner exit ${code}:\n${chunks.join("").slice(-3000)}`);
  };
  return {
    pid: child.pid,
    said: (text: string) => chunks.join("").includes(text),
    output: () => chunks.join("").slice(-3000),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Debian's Prometheus on 127.0.0.1 scraping the status server every second, its data in `runDir`. */
export async function startPrometheus(runDir: string, statusPort: number, token: string) {
  const port = freePort();
  const config = `${runDir}/prometheus.yml`;
  await Deno.writeTextFile(
    config,
    stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      scrape_configs: [{
        job_name: "satori",
        scrape_interval: "1s",
        scrape_timeout: "900ms",
        authorization: { type: "Bearer", credentials: token },
        static_configs: [{ targets: [`127.0.0.1:${statusPort}`] }],
      }],
    }),
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${config}`,
      `--storage.tsdb.path=${runDir}/prometheus-data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const api = `http://127.0.0.1:${port}/api/v1`;
  const started = Date.now() / 1000;
  await waitFor(
    () => fetch(`http://127.0.0.1:${port}/-/ready`).then((r) => (r.body?.cancel(), r.ok), () => false),
    {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: "Prometheus to be ready",
    },
  );
  const query = async (path: string) => {
    const body = await (await fetch(`${api}/${path}`)).json();
    assert.equal(body.status, "success", JSON.stringify(body));
    return body.data.result as {
      metric: Record<string, string>;
      value?: [number, string];
      values?: [number, string][];
    }[];
  };
  return {
    /** The instant value of a one-series query, or null. */
    value: async (q: string) => {
      const [first] = await query(`query?query=${encodeURIComponent(q)}`);
      return first?.value ? Number(first.value[1]) : null;
    },
    /** Every step Prometheus scraped of the task, oldest first. */
    steps: async (taskId: string) => {
      const q = encodeURIComponent(`satori_task_step{task_id="${taskId}"}`);
      const [series] = await query(`query_range?query=${q}&start=${started}&end=${Date.now() / 1000}&step=1`);
      return [...new Set((series?.values ?? []).map(([, v]) => Number(v)))];
    },
    [Symbol.asyncDispose]: async () => {
      child.kill("SIGTERM");
      await child.output();
    },
  };
}

/**
 * The trainer of `taskId` (the miner's child, leader of its own process group), stopped as soon as the
 * miner logs its first progress (the model is loaded, steps begin). `runUntil` lets it run in slices
 * until `seen` holds; `release` lets it finish.
 */
export async function holdTrainer(miner: { pid: number; said: (text: string) => boolean }, taskId: string) {
  let pid = 0;
  await waitFor(async () => {
    pid = await childWith(miner.pid, taskId) ?? 0;
    return pid > 0;
  }, { timeoutMs: 240_000, intervalMs: 50, what: `the trainer of ${taskId} to start` });
  await waitFor(() => miner.said(`Task "${taskId}" `), {
    timeoutMs: 240_000,
    intervalMs: 5,
    what: `the first progress of ${taskId}`,
  });
  const group = (sig: Deno.Signal) => {
    try {
      Deno.kill(-pid, sig);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new Error(`The trainer of ${taskId} ended before the test saw it move: raise STEPS`);
    }
  };
  group("SIGSTOP");
  let held = true;
  return {
    async runUntil<T>(seen: () => Promise<T>): Promise<T> {
      const deadline = Date.now() + 240_000;
      for (;;) {
        group("SIGCONT");
        await new Promise((r) => setTimeout(r, SLICE_MS));
        group("SIGSTOP");
        try {
          return await seen(); // a page update takes up to a second (the SSE period)
        } catch (e) {
          if (Date.now() > deadline) throw e;
        }
      }
    },
    release() {
      if (held) group("SIGCONT");
      held = false;
    },
    [Symbol.asyncDispose]: () => {
      if (held) Deno.kill(-pid, "SIGCONT"); // the test failed while holding it: let the miner stop it
      held = false;
      return Promise.resolve();
    },
  };
}

/** The pid of `parent`'s child whose command line names `needle`, or null. */
async function childWith(parent: number, needle: string): Promise<number | null> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid !== parent) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (cmdline.includes(needle)) return Number(entry.name);
  }
  return null;
}
