/**
 * `deno task bench`: every benchmark, each reporting figures as ratios against a baseline measured
 * in the same run (never absolute thresholds; timings on shared machines only compare side by side).
 */
import { benchAxon } from "./axon.ts";
import { benchAxonBtauth } from "./axon_btauth.ts";
import { benchQueue } from "./queue.ts";
import { benchStatus } from "./status.ts";

type Bench = { name: string; run: () => Promise<void> };

const benches: Bench[] = [
  {
    name: "trainer overhead (our text trainer vs a bare torch+peft loop)",
    run: async () => {
      const status = await new Deno.Command(".venv/bin/python", {
        args: ["bench/trainer_overhead.py"],
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
      if (!status.success) throw new Error(`bench/trainer_overhead.py exited with code ${status.code}`);
    },
  },
  { name: "queue (enqueue → trainer started latency, enqueue+dispatch throughput)", run: () => benchQueue() },
  { name: "axon (signed requests: ours vs the bittensor SDK's Axon)", run: () => benchAxon() },
  {
    name: "axon btauth/1 (task API vs our synapse route vs FastAPI + bittensor 11's http_auth.verify)",
    run: () => benchAxonBtauth(),
  },
  {
    name: "ray (enqueue → trainer started on Ray vs local; N tiny tasks on 1 vs 2 Ray nodes)",
    run: () => benchRayCluster(),
  },
  {
    name: "status server (axon with the status server on, scraped each second, vs off; /metrics render time)",
    run: () => benchStatus(),
  },
];

/**
 * bench/ray.ts inside a two-node cluster of its own (its own network namespace and folder, so it never
 * meets the cluster the Ray tests use), started and stopped by scripts/ray_cluster.sh. Its imports are
 * cached first: nothing in the namespace reaches a registry.
 */
async function benchRayCluster(): Promise<void> {
  const exec = async (cmd: string, args: string[], env: Record<string, string> = {}) => {
    const child = new Deno.Command(cmd, { args, env, stdout: "inherit", stderr: "inherit" }).spawn();
    const status = await child.status;
    if (!status.success) throw new Error(`${cmd} ${args.join(" ")} exited with code ${status.code}`);
  };
  await exec(Deno.execPath(), ["cache", "bench/ray.ts"]);
  await exec("scripts/ray_cluster.sh", ["run", Deno.execPath(), "run", "-A", "bench/ray.ts"], {
    RAY_TEST_NETNS: "satori-ray-bench",
    RAY_TEST_DIR: "/tmp/ray-bench",
  });
}

const only = Deno.args[0];
let failed = 0;
for (const b of benches.filter((b) => !only || b.name.startsWith(only))) {
  console.log(`\n== ${b.name}`);
  try {
    await b.run();
  } catch (e) {
    failed++;
    console.error(`bench "${b.name}" failed: ${(e as Error).message}`);
  }
}
Deno.exit(failed ? 1 : 0);
