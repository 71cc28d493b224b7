/**
 * The Ray backend when things die: the miner SIGKILLed while its job runs at Ray (the job lives on; the
 * restarted miner re-attaches and finishes it, one result, no second job), and a node's raylet killed
 * under a task (Ray fails the job; the queue retries it on the other node; the orphaned trainer exits).
 * Run inside the cluster's namespace, after the other Ray tests (it kills node b, then starts it again):
 *   scripts/ray_cluster.sh exec deno test -A tests/ray/ray_recovery_raytest.ts
 */
import assert from "node:assert/strict";
import { submissionId } from "../../actors/ray/ray_jobs.ts";
import { Store } from "../../core/store.ts";
import { storePath } from "../../core/paths.ts";
import { killRaylet, NODE_IP, rayAddress, rayToken, startNode } from "./cluster.ts";
import { jobsLike, startRayMiner } from "./ray_harness.ts";

const RUN = `r${Date.now().toString(36)}`;
const ENTRY = new URL("./ray_miner_entry.ts", import.meta.url).pathname;

type Line = { ready?: true; state?: { id: string; state: string } };

/** Starts the miner process; `until` resolves when a printed line satisfies it. */
function spawnMiner(args: unknown) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ENTRY, JSON.stringify(args)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: Line[] = [];
  const waiters: { test: (l: Line) => boolean; resolve: () => void }[] = [];
  void (async () => {
    let buffer = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (buffer + text).split("\n");
      buffer = parts.pop() ?? "";
      for (const part of parts.filter(Boolean)) {
        const line = JSON.parse(part) as Line;
        lines.push(line);
        for (const w of [...waiters]) if (w.test(line)) w.resolve();
      }
    }
  })();
  const until = (test: (l: Line) => boolean, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      if (lines.some(test)) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`miner did not print the line in ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.push({ test, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return { child, lines, until };
}

Deno.test("miner SIGKILLed while its Ray job runs: the restart re-attaches, and the task finishes with one job and one result", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ray-crash-" });
  const nodeWorkDir = await Deno.makeTempDir({ prefix: "ray-crash-node-" });
  const id = `${RUN}-kill`;
  const filesPort = freePort();
  const first = spawnMiner({ dataDir, nodeWorkDir, filesPort, submit: { id, maxSteps: 400 } });
  await first.until((l) => l.state?.id === id && l.state.state === "training", 90_000);
  // Let the trainer get going at Ray, then kill the miner outright.
  const sid = submissionId(id, 1);
  const deadline = Date.now() + 60_000;
  while ((await jobsLike(sid))[0]?.status !== "RUNNING" && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  first.child.kill("SIGKILL");
  await first.child.status;
  assert.equal((await jobsLike(sid))[0]?.status, "RUNNING", "the job outlives the miner");

  const second = spawnMiner({ dataDir, nodeWorkDir, filesPort });
  try {
    await second.until((l) => l.state?.id === id && ["uploading", "failed"].includes(l.state.state), 180_000);
  } finally {
    second.child.kill("SIGKILL");
    await second.child.status;
  }
  await using store = await Store.open(storePath(dataDir));
  const task = await store.getTask(id);
  assert.equal(task?.state, "uploading", task?.state === "failed" ? task.reason ?? "" : "");
  assert.equal(
    task.history.filter((h) => h.state === "training").length,
    1,
    `one run: re-attached, not run again: ${JSON.stringify(task.history.map((h) => h.state))}`,
  );
  assert.equal(task.interruptions, 0);
  assert.deepEqual((await jobsLike(`satori-${id}-`)).map((j) => j.submission_id), [sid]);
});

Deno.test("a job Ray no longer knows (its head restarted) is trained again as the task's next run, its attempt given back", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ray-forgot-" });
  const nodeWorkDir = await Deno.makeTempDir({ prefix: "ray-forgot-node-" });
  const id = `${RUN}-forgot`;
  const sid = submissionId(id, 1);
  {
    await using miner = await startRayMiner({ dataDir, nodeWorkDir });
    await miner.submit(id, { maxSteps: 20_000, checkpointEvery: 0 });
    await waitFor(async () => (await miner.client.job(sid))?.status === "RUNNING", 60_000);
  } // the miner stops; its job goes on at Ray
  const headers = { Authorization: `Bearer ${rayToken()}` };
  await fetch(`${rayAddress()}/api/jobs/${sid}/stop`, { method: "POST", headers }).then((r) =>
    r.body?.cancel()
  );
  await waitFor(async () => (await jobsLike(sid))[0]?.status === "STOPPED", 60_000);
  const deleted = await fetch(`${rayAddress()}/api/jobs/${sid}`, { method: "DELETE", headers });
  await deleted.body?.cancel();
  assert.equal(deleted.status, 200);
  assert.deepEqual(await jobsLike(sid), [], "Ray has forgotten the job, as after a head restart");

  await using again = await startRayMiner({ dataDir, nodeWorkDir });
  await waitFor(async () => (await again.client.job(submissionId(id, 2))) !== null, 60_000);
  const task = await again.store.getTask(id);
  assert.equal(task?.interruptions, 1);
  assert.equal(task?.attempts, 1, "the lost run used no attempt");
  assert.equal(task?.history.filter((h) => h.state === "training").length, 2);
  await again.client.stop(submissionId(id, 2));
});

Deno.test("raylet of the node running a task killed: the task is retried on the other node and finishes; the orphaned trainer exits", async () => {
  await using miner = await startRayMiner();
  const id = `${RUN}-node`;
  // Only node b free: a one-card task lands there.
  const holder = `${RUN}-holder`;
  await miner.submit(holder, { maxSteps: 20_000, checkpointEvery: 0 });
  await miner.waitState(holder, ["training"], 60_000);
  await miner.submit(id, { maxSteps: 200, checkpointEvery: 0 });
  await miner.waitState(id, ["training"], 60_000);
  const sid = submissionId(id, 1);
  const job = await miner.client.job(sid);
  const nodes = await miner.client.nodes();
  const ipOf = (nodeId: string | null) => nodes.find((n) => n.nodeId === nodeId)?.ip;
  let victim = ipOf(job?.driverNodeId ?? null);
  const deadline = Date.now() + 60_000;
  while (!victim && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    victim = ipOf((await miner.client.job(sid))?.driverNodeId ?? null);
  }
  assert.equal(victim, NODE_IP.b, "the task runs on node b");
  // Free node a for the retry, then kill b's raylet under the running trainer.
  await miner.client.stop(submissionId(holder, 1));
  await waitFor(() => trainerPids(id).length > 0, 60_000);
  await killRaylet("b");
  try {
    const task = await miner.waitState(id, ["uploading", "failed"], 240_000);
    assert.equal(task.state, "uploading", task.state === "failed" ? task.reason ?? "" : "");
    assert.equal(task.attempts, 2, "the node's death used an attempt, as a local trainer crash does");
    const retry = await miner.client.job(submissionId(id, 2));
    assert.equal(ipOf(retry?.driverNodeId ?? null), NODE_IP.a, "the retry ran on node a");
    await waitFor(() => trainerPids(id).length === 0, 90_000);
  } finally {
    await startNode("b");
  }
});

/** Trainer processes (`python -m trainer run|remote … --name <id>` or its task folder) still alive. */
function trainerPids(id: string): number[] {
  const out = new Deno.Command("pgrep", { args: ["-f", `trainer (run|remote) .*${id}`] }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number);
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not true after ${timeoutMs} ms`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
