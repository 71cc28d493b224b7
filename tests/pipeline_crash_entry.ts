/**
 * A miner for the pipeline crash test (tests/recovery_test.ts): the harness's task path
 * (tests/pipeline_harness.ts startPipelineMiner) on DATA_DIR, against a task center and a Hub the
 * test process serves, so they outlive the SIGKILL. With `accept` it takes that one task; with `hold`
 * it then stops that actor and holds its restart for ever, so the task waits at a chosen step.
 * It prints JSON lines: `ready`, `accepted`, `held`, every GPU report, each change of a task's stored
 * state (`{ state: { id, state } }`), and `stopped` after a clean stop on SIGTERM.
 * Usage: deno run -A tests/pipeline_crash_entry.ts '{"dataDir":…,"taskCenterUrl":…,"hub":{…}}'
 */
import type { Child } from "../actors/runtime/actor.ts";
import { type ChildId, pipelineRequest, startPipelineMiner } from "./pipeline_harness.ts";

export type CrashEntryArgs = {
  dataDir: string;
  taskCenterUrl: string;
  hub: { url: string; token: string };
  accept?: { id: string; baseModel?: string };
  hold?: ChildId;
};

const args = JSON.parse(Deno.args[0]) as CrashEntryArgs;
const print = (line: unknown) => console.log(JSON.stringify(line));

const held = new Set<ChildId>();
const miner = await startPipelineMiner({
  dataDir: args.dataDir,
  taskCenterUrl: args.taskCenterUrl,
  hub: args.hub,
  hold: (id, start) => held.has(id) ? new Promise<Child>(() => {}) : start(),
  onGpuReport: (report) => print({ report }),
});

let stopping = false;
Deno.addSignalListener("SIGTERM", async () => {
  stopping = true;
  await miner[Symbol.asyncDispose]();
  print({ stopped: true });
  Deno.exit(0);
});

/** Prints each task's state when it changes; polling the store is the one view every actor writes. */
async function watchStates(): Promise<void> {
  const last = new Map<string, string>();
  try {
    while (!stopping) {
      for await (const task of miner.store.tasks()) {
        const id = task.request.id;
        if (stopping || last.get(id) === task.state) continue;
        last.set(id, task.state);
        print({ state: { id, state: task.state } });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    if (!stopping) throw e; // the store closed under a read during the clean stop
  }
}

print({ ready: true });
const watching = watchStates();
if (args.accept) {
  print({ accepted: await miner.accept(pipelineRequest(args.accept.id, args.accept.baseModel)) });
}
if (args.hold) {
  held.add(args.hold);
  await miner.child<never>(args.hold)?.stop();
  print({ held: args.hold });
}
await watching;
