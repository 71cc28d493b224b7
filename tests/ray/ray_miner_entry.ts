/**
 * A miner for the Ray crash test (ray_recovery_raytest.ts): the harness's queue and RayActor on DATA_DIR,
 * so the test can SIGKILL it while a job runs at Ray and start it again on the same store. With
 * `submit` it queues that task first. It prints JSON lines: `ready`, and each change of a task's state.
 * Usage: scripts/ray_cluster.sh exec deno run -A tests/ray/ray_miner_entry.ts '{"dataDir":…,"nodeWorkDir":…}'
 */
import { configure, getTextFormatter } from "@logtape/logtape";
import { startRayMiner } from "./ray_harness.ts";

type Args = {
  dataDir: string;
  nodeWorkDir: string;
  filesPort: number;
  submit?: { id: string; maxSteps: number };
};
const args = JSON.parse(Deno.args[0]) as Args;
const print = (line: unknown) => console.log(JSON.stringify(line));

const format = getTextFormatter();
// The miner's log on stderr, for whoever reads the test's output.
await configure({
  sinks: { console: (record) => console.error(format(record).trimEnd()) },
  loggers: [
    { category: ["satori"], lowestLevel: "info", sinks: ["console"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
  ],
});
const miner = await startRayMiner({
  dataDir: args.dataDir,
  nodeWorkDir: args.nodeWorkDir,
  filesPort: args.filesPort,
});
print({ ready: true });
if (args.submit) await miner.submit(args.submit.id, { maxSteps: args.submit.maxSteps, checkpointEvery: 0 });
const last = new Map<string, string>();
while (true) {
  for await (const task of miner.store.tasks()) {
    if (last.get(task.request.id) === task.state) continue;
    last.set(task.request.id, task.state);
    print({ state: { id: task.request.id, state: task.state } });
  }
  await new Promise((r) => setTimeout(r, 100));
}
