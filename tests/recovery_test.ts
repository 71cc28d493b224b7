/**
 * Crash recovery. With the real trainer: the miner is SIGKILLed after the first checkpoint, started
 * again, and the task resumes from that checkpoint and finishes; the queue holds the same tasks.
 * Across the whole pipeline (tests/pipeline_crash_entry.ts, the fake trainer): the miner is SIGKILLed
 * at each step of a task's path, started again on the same data dir, and the task ends `done` with
 * exactly one result at the task center, which, with the Hub, lives in this process.
 */
import assert from "node:assert/strict";
import { runsWith } from "../actors/gpu/leftover.ts";
import type { AcceptResult, GpuReport } from "../actors/protocol.ts";
import { outputDir, storePath, workDir } from "../core/paths.ts";
import { Store } from "../core/store.ts";
import type { Task, TaskState } from "../core/task.ts";
import { LocalHub } from "../local/hub_server.ts";
import { TaskCenterServer } from "../local/task_center_server.ts";
import { spawnEntry } from "./entry_process.ts";
import { waitFor } from "./helpers.ts";
import type { CrashEntryArgs } from "./pipeline_crash_entry.ts";
import type { ChildId } from "./pipeline_harness.ts";
import { tinyText } from "./queue_tiny_text.ts";
import { testSigner } from "./task_center_fixtures.ts";

const ENTRY = new URL("./recovery_entry.ts", import.meta.url).pathname;
const CRASH_ENTRY = new URL("./pipeline_crash_entry.ts", import.meta.url).pathname;

type Line = { report?: GpuReport; trained?: string; ready?: boolean; stopped?: boolean };

function startMiner(args: string[]) {
  return spawnEntry<Line>(ENTRY, args);
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

type CrashLine = {
  ready?: boolean;
  accepted?: AcceptResult;
  held?: ChildId;
  report?: GpuReport;
  state?: { id: string; state: TaskState };
  stopped?: boolean;
};
type CrashMiner = ReturnType<typeof spawnEntry<CrashLine>>;

/**
 * What a SIGKILLed miner leaves running: the local task center, and a local Hub behind a gate that
 * answers 503 to all but the token check while `refusing`. Both on 127.0.0.1.
 */
async function startServers() {
  const signer = await testSigner();
  const taskCenter = await TaskCenterServer.start({ knownHotkeys: [signer.hotkey.ss58] });
  const hubDir = await Deno.makeTempDir({ prefix: "local-hub-" });
  const hub = new LocalHub(hubDir);
  const gate = { refusing: false, refused: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    if (!gate.refusing || new URL(req.url).pathname === "/api/whoami-v2") return hub.handle(req);
    gate.refused++;
    return Response.json({ error: "Injected 503" }, { status: 503 });
  });
  return {
    taskCenter,
    hub,
    gate,
    hubAccess: { url: `http://127.0.0.1:${server.addr.port}`, token: hub.token },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await taskCenter[Symbol.asyncDispose]();
      await Deno.remove(hubDir, { recursive: true });
    },
  };
}
type Servers = Awaited<ReturnType<typeof startServers>>;

/** A step of the task's path, how the test holds the task there, and how it lets it go on. */
type KillPoint = {
  name: string;
  id: string;
  /** What the store says when the miner dies. */
  state: TaskState;
  baseModel?: string;
  /** An actor the first miner stops and holds down once it accepted the task. */
  hold?: ChildId;
  /** Before the first miner starts. */
  arrange?: (s: Servers, id: string) => void;
  /** Resolves once the task waits at this step. */
  reached: (m: CrashMiner, s: Servers, id: string) => Promise<unknown>;
  /** Before the restart. */
  release?: (s: Servers, id: string) => void;
  /** Checks of this step's own, given the first miner's lines: once it is dead, and once the task is done. */
  killed?: (first: CrashLine[], dataDir: string, id: string) => Promise<void>;
  done?: (first: CrashLine[], dataDir: string, id: string, s: Servers) => Promise<void>;
};

const WAIT = { timeoutMs: 20_000, intervalMs: 20 };
const stateIs = (id: string, state: TaskState) => (l: CrashLine) =>
  l.state?.id === id && l.state.state === state;
const at = (m: CrashMiner, id: string, state: TaskState) =>
  m.until(stateIs(id, state), `"${id}" ${state}`, 30_000);
const refuse = (s: Servers, route: "dataset" | "result", afterHandling = false) =>
  s.taskCenter.faults.push({ route, status: 503, times: 1_000_000, afterHandling });
const refused = (s: Servers, method: string, path: RegExp) =>
  s.taskCenter.log.some((l) => l.method === method && path.test(l.path) && l.status === 503);
const validation = (status: "pending" | "validated") => (s: Servers, id: string) =>
  void s.taskCenter.scripts.set(id, { status });
const clearFaults = (s: Servers) => void s.taskCenter.faults.splice(0);

/** Validation is pending until the first miner holds `hold` down; then it lands, and the task stops at `state`. */
const heldAfterValidation = (state: TaskState) => async (m: CrashMiner, s: Servers, id: string) => {
  await m.until((l) => l.held !== undefined, "the actor to be held down", 30_000);
  validation("validated")(s, id);
  await at(m, id, state);
};

const KILL_POINTS: KillPoint[] = [
  {
    name: "after admit, the dataset not yet submitted",
    id: "kill-admitted",
    state: "received",
    arrange: (s) => refuse(s, "dataset"),
    reached: async (m, s, id) => {
      await at(m, id, "received");
      await waitFor(() => refused(s, "PUT", /\/dataset$/), { ...WAIT, what: "a refused dataset" });
    },
    release: clearFaults,
  },
  {
    name: "after admit, the dataset submitted and its validation pending",
    id: "kill-submitted",
    state: "dataset_submitted",
    arrange: validation("pending"),
    reached: async (m, s, id) => {
      await at(m, id, "dataset_submitted");
      await waitFor(() => s.taskCenter.requestsTo(`${id}/dataset/validation`) > 0, {
        ...WAIT,
        what: "a validation poll",
      });
    },
    release: validation("validated"),
  },
  {
    name: "after validation, before the queue took the task",
    id: "kill-validated",
    state: "dataset_validated",
    hold: "queue",
    arrange: validation("pending"),
    reached: heldAfterValidation("dataset_validated"),
  },
  {
    name: "after validation, the task queued and no GPU free",
    id: "kill-queued",
    state: "queued",
    hold: "gpus",
    arrange: validation("pending"),
    reached: heldAfterValidation("queued"),
  },
  {
    name: "during training, after a checkpoint",
    id: "kill-training",
    state: "training",
    baseModel: "fake:slow",
    reached: (m, _s, id) =>
      m.until(
        (l) => l.report?.kind === "event" && l.report.taskId === id && l.report.event.type === "checkpoint",
        "the trainer's checkpoint",
        30_000,
      ),
    killed: async (first, dataDir, id) => {
      assert.equal(
        await runsWith(trainerPid(first, id), workDir(dataDir, id)),
        true,
        "the trainer outlived it",
      );
    },
    done: async (first, dataDir, id) => {
      assert.equal(await runsWith(trainerPid(first, id), workDir(dataDir, id)), false, "the orphan is gone");
      const runs = (await Deno.readTextFile(`${outputDir(dataDir, id)}/invocations`)).trim().split("\n");
      assert.deepEqual(runs.map((r) => r.split(" ")[0]), ["resume=0", "resume=1"], "resumed once");
    },
  },
  {
    name: "after training, before the upload",
    id: "kill-uploading",
    state: "uploading",
    arrange: (s) => void (s.gate.refusing = true),
    reached: async (m, s, id) => {
      await at(m, id, "uploading");
      await waitFor(() => s.gate.refused > 0, { ...WAIT, what: "a refused upload" });
    },
    release: (s) => void (s.gate.refusing = false),
  },
  {
    name: "after the upload, before the result",
    id: "kill-submitting",
    state: "submitting",
    arrange: (s) => refuse(s, "result"),
    reached: async (m, s, id) => {
      await at(m, id, "submitting");
      await waitFor(() => refused(s, "POST", /\/result$/), { ...WAIT, what: "a refused result" });
    },
    release: clearFaults,
  },
  {
    name: "after the result was recorded, its acknowledgement lost",
    id: "kill-unacked",
    state: "submitting",
    arrange: (s) => refuse(s, "result", true),
    reached: async (m, s, id) => {
      await at(m, id, "submitting");
      await waitFor(() => s.taskCenter.recordedFor(id) === 1, { ...WAIT, what: "the recorded result" });
    },
    release: clearFaults,
    done: (_first, _dataDir, id, s) => {
      const answers = s.taskCenter.log.filter((l) => l.method === "POST" && l.path.includes(`/${id}/`));
      assert.equal(answers.at(-1)?.status, 200, "the resend got the duplicate's acknowledgement");
      return Promise.resolve();
    },
  },
];

function trainerPid(lines: CrashLine[], id: string): number {
  const spawned = lines.find((l) => l.report?.kind === "spawned" && l.report.taskId === id)?.report;
  assert.ok(spawned?.kind === "spawned", "the trainer was spawned");
  return spawned.pid;
}

async function readTask(dataDir: string, id: string): Promise<Task | null> {
  await using store = await Store.open(storePath(dataDir));
  return await store.getTask(id);
}

/** One kill point, on a fresh data dir; the servers are left as they were. */
async function killAndRestart(s: Servers, point: KillPoint): Promise<void> {
  const { id } = point;
  const dataDir = await Deno.makeTempDir({ prefix: `${id}-` });
  const args = (more: Partial<CrashEntryArgs>) => {
    const base: CrashEntryArgs = { dataDir, taskCenterUrl: s.taskCenter.url, hub: s.hubAccess };
    return [JSON.stringify({ ...base, ...more })];
  };
  point.arrange?.(s, id);
  try {
    await crashThenFinish(s, point, dataDir, args);
  } finally {
    clearFaults(s); // a failed step leaves no fault behind for the next one
    s.gate.refusing = false;
  }
  await Deno.remove(dataDir, { recursive: true });
}

/** A miner takes the task and dies at the step; a second miner on the same data dir ends it. */
async function crashThenFinish(
  s: Servers,
  point: KillPoint,
  dataDir: string,
  args: (more: Partial<CrashEntryArgs>) => string[],
): Promise<void> {
  const { id } = point;
  let firstLines: CrashLine[];
  {
    await using first = spawnEntry<CrashLine>(
      CRASH_ENTRY,
      args({ accept: { id, baseModel: point.baseModel }, hold: point.hold }),
    );
    firstLines = first.lines;
    const { accepted } = await first.until((l) => l.accepted !== undefined, "the accept", 30_000);
    assert.ok(accepted?.ok, JSON.stringify(accepted));
    await point.reached(first, s, id);
    first.child.kill("SIGKILL");
    assert.equal((await first.child.status).signal, "SIGKILL");
  }
  assert.equal((await readTask(dataDir, id))?.state, point.state, "the store held the task at its step");
  await point.killed?.(firstLines, dataDir, id);
  point.release?.(s, id);
  {
    await using second = spawnEntry<CrashLine>(CRASH_ENTRY, args({}));
    await at(second, id, "done");
    second.child.kill("SIGTERM");
    await second.until((l) => l.stopped === true, "a clean stop", 30_000);
    assert.equal((await second.child.status).code, 0);
  }
  const task = await readTask(dataDir, id);
  assert.equal(task?.state, "done");
  assert.equal(s.taskCenter.recordedFor(id), 1, "exactly one result reached the task center");
  assert.equal(task.result?.commit_sha, s.taskCenter.recorded.find((r) => r.task_id === id)?.commit_sha);
  assert.equal(s.hub.commits(task.result!.repo_id).length, 2, "the repo's creation and one upload");
  await point.done?.(firstLines, dataDir, id, s);
}

Deno.test("A miner SIGKILLed at each step of a task's path ends it done with one result after a restart", async (t) => {
  await using s = await startServers();
  for (const point of KILL_POINTS) {
    await t.step(`SIGKILL ${point.name}`, () => killAndRestart(s, point));
  }
  const ids = s.taskCenter.recorded.map((r) => r.task_id);
  assert.deepEqual(ids.toSorted(), KILL_POINTS.map((p) => p.id).toSorted(), "one result per task");
});
