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
    name: "status server (axon with the status server on, scraped each second, vs off; /metrics render time)",
    run: () => benchStatus(),
  },
];

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
