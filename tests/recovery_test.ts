/**
 * Crash recovery with the real trainer: the miner is SIGKILLed after the first checkpoint, started
 * again, and the task resumes from that checkpoint and finishes; the queue holds the same tasks.
 */
import assert from "node:assert/strict";
import { runsWith } from "../actors/gpu/leftover.ts";
import type { GpuReport } from "../actors/protocol.ts";
import { Store } from "../core/store.ts";
import type { Task } from "../core/task.ts";
import { tinyText } from "./queue_tiny_text.ts";

const ENTRY = new URL("./recovery_entry.ts", import.meta.url).pathname;

type Line = { report?: GpuReport; trained?: string; ready?: boolean; stopped?: boolean };

/** Starts the entry script and returns a reader that resolves on the first line matching `until`. */
function startMiner(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ENTRY, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: Line[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  async function until(pred: (l: Line) => boolean, what: string): Promise<Line> {
    const seen = lines.find(pred);
    if (seen) return seen;
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Miner exited before ${what}`);
      buffer += value;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      for (const part of parts.filter(Boolean)) {
        const line = JSON.parse(part) as Line;
        lines.push(line);
        if (pred(line)) return line;
      }
    }
  }
  const drain = async () => {
    await until(() => false, "the end").catch(() => {});
  };
  return { child, lines, until, drain };
}

const event = (type: string, pred: (e: Record<string, unknown>) => boolean = () => true) => (l: Line) =>
  l.report?.kind === "event" && l.report.event.type === type &&
  pred(l.report.event as Record<string, unknown>);

async function snapshot(path: string): Promise<{ queued: string[]; tasks: Map<string, Task> }> {
  await using store = await Store.open(path);
  const tasks = new Map<string, Task>();
  for await (const t of store.tasks()) tasks.set(t.request.id, t);
  return { queued: await store.queuedIds(), tasks };
}

Deno.test("A SIGKILLed miner resumes the training task from its checkpoint and keeps the queue", async () => {
  const { model, dataset } = await tinyText();
  const dataDir = await Deno.makeTempDir({ prefix: "recovery-" });
  const kv = `${dataDir}/kv.sqlite3`;

  const first = startMiner([dataDir, model, dataset, "--enqueue"]);
  const spawned = await first.until((l) => l.report?.kind === "spawned", "the trainer to start");
  await first.until(event("checkpoint"), "the first checkpoint");
  first.child.kill("SIGKILL");
  await first.child.status;
  await first.drain();
  const before = await snapshot(kv);
  assert.deepEqual(before.queued, ["t-wait"]);
  assert.equal(before.tasks.get("t-resume")?.state, "training");

  const second = startMiner([dataDir, model, dataset]);
  const started = await second.until(event("started"), "the resumed trainer to start");
  const startStep = (started.report as Extract<GpuReport, { kind: "event" }>).event;
  assert.ok(startStep.type === "started" && startStep.start_step >= 2, "it resumed from the checkpoint");
  const pid = (spawned.report as { pid: number }).pid;
  assert.equal(await runsWith(pid, `${dataDir}/work/t-resume`), false, "the orphaned trainer is gone");
  await second.until((l) => l.trained === "t-resume", "the task to finish");
  second.child.kill("SIGTERM");
  await second.until((l) => l.stopped === true, "a clean stop");
  assert.equal((await second.child.status).code, 0);

  const after = await snapshot(kv);
  assert.equal(after.tasks.get("t-resume")?.state, "uploading");
  assert.deepEqual([...after.tasks.keys()], [...before.tasks.keys()]);
  for (const [id, t] of before.tasks) assert.deepEqual(after.tasks.get(id)?.request, t.request);
  assert.deepEqual(after.queued, before.queued, "the waiting task is still queued, and nothing else");
  const spawns = second.lines.filter((l) => l.report?.kind === "spawned" && l.report.taskId === "t-resume");
  assert.equal(spawns.length, 1, "it ran once after the restart");
});
