/**
 * The Ray backend against a real two-node cluster (one logical GPU per node): the real queue, the
 * RayActor, the job files server and the real trainer on the tiny Llama. Run inside the cluster's
 * namespace: scripts/ray_cluster.sh exec deno test -A tests/ray/ray_backend_raytest.ts
 */
import assert from "node:assert/strict";
import { getConfig } from "@logtape/logtape";
import { cancelTask, type GpuReport, train } from "../../actors/protocol.ts";
import { startRayActor } from "../../actors/ray/ray_actor.ts";
import { rayChecks } from "../../actors/doctor/doctor.ts";
import { parseConfig } from "../../core/config.ts";
import { rayClient } from "../../actors/ray/ray_client.ts";
import { submissionId } from "../../actors/ray/ray_jobs.ts";
import { trainerPackage } from "../../actors/ray/trainer_package.ts";
import { RayError, type RayJob } from "../../actors/ray/ray_client.ts";
import { ROOT } from "../queue_tiny_text.ts";
import { makeLocalWallet } from "../../local/wallets.ts";
import { Store } from "../../core/store.ts";
import { manifestPath, storePath } from "../../core/paths.ts";
import { NODE_IP, rayAddress, rayToken } from "./cluster.ts";
import { jobsLike, startRayMiner } from "./ray_harness.ts";

const RUN = `t${Date.now().toString(36)}`;

/** Every log record's rendered text while `fn` runs (the miner's logs must never carry the token). */
async function captureLogs<T>(fn: (lines: string[]) => Promise<T>): Promise<T> {
  const lines: string[] = [];
  const { configure, reset } = await import("@logtape/logtape");
  const before = getConfig();
  await configure({
    reset: true,
    sinks: {
      capture: (r) => lines.push(`${r.message.map(String).join("")} ${JSON.stringify(r.properties)}`),
    },
    loggers: [
      { category: ["satori"], lowestLevel: "debug", sinks: ["capture"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    return await fn(lines);
  } finally {
    await reset();
    if (before) await configure(before);
  }
}

Deno.test("Ray backend runs two tasks on two nodes at once, keeps the third in its own queue, and streams events into the records", async () => {
  await captureLogs(async (lines) => {
    await using miner = await startRayMiner();
    const token = rayToken();
    const ids = [`${RUN}-a`, `${RUN}-b`, `${RUN}-c`];
    for (const id of ids) await miner.submit(id, { maxSteps: 8 });
    // Both jobs running at Ray at the same moment, one per node, while the third task waits here.
    const sids = ids.slice(0, 2).map((id) => submissionId(id, 1));
    const nodes = await miner.client.nodes();
    const ipOf = (nodeId: string | null) => nodes.find((n) => n.nodeId === nodeId)?.ip;
    let both: (RayJob | null)[] = [];
    await waitFor(async () => {
      both = await Promise.all(sids.map((sid) => miner.client.job(sid)));
      return both.every((j) => j?.status === "RUNNING");
    });
    assert.deepEqual(both.map((j) => ipOf(j?.driverNodeId ?? null)).sort(), [NODE_IP.a, NODE_IP.b]);
    assert.equal((await miner.store.getTask(ids[2]))?.state, "queued");
    assert.deepEqual(await jobsLike(`satori-${ids[2]}`), [], "the third task is not PENDING at Ray");
    const done = await Promise.all(ids.map((id) => miner.waitState(id, ["uploading", "failed"], 180_000)));
    for (const t of done) {
      assert.equal(t.state, "uploading", `${t.request.id}: ${t.state === "failed" ? t.reason : ""}`);
      assert.deepEqual(t.progress && { step: t.progress.step, total: t.progress.total }, {
        step: 8,
        total: 8,
      });
      assert.ok(t.trained?.done.quality.passed);
    }
    // Events came through the job logs, in the trainer's order.
    const kinds = (id: string) =>
      miner.reports.filter((r): r is Extract<GpuReport, { kind: "event" }> =>
        r.kind === "event" && r.taskId === id
      )
        .map((r) => r.event.type);
    for (const id of ids) {
      const seen = kinds(id);
      assert.equal(seen[0], "started", id);
      assert.ok(seen.includes("progress") && seen.includes("checkpoint"), `${id}: ${seen.join(",")}`);
      assert.equal(seen.at(-1), "done", id);
    }
    // The adapter came back byte for byte to where the upload actor reads it.
    for (const t of done) {
      for (const a of t.trained!.done.artifacts) await Deno.stat(`${t.trained!.out_dir}/${a.path}`);
    }
    // The token is in no log line and in no job's details.
    assert.ok(lines.length > 10);
    assert.ok(!lines.some((l) => l.includes(token)), "a log line holds the Ray token");
    const details = await (await fetch(`${rayAddress()}/api/jobs/${submissionId(ids[0], 1)}`, {
      headers: { Authorization: `Bearer ${token}` },
    })).text();
    assert.ok(!details.includes(token), "the job's details hold the Ray token");
  });
});

Deno.test("Ray backend cancels a running task: the trainer checkpoints, the job ends STOPPED, the task is cancelled", async () => {
  await using miner = await startRayMiner();
  const id = `${RUN}-cancel`;
  await miner.submit(id, { maxSteps: 20_000, checkpointEvery: 0 });
  await waitFor(() =>
    miner.reports.some((r) => r.kind === "event" && r.taskId === id && r.event.type === "progress")
  );
  const cancelled = await cancelTask(miner.queue(), id);
  assert.ok(cancelled.ok);
  const task = await miner.waitState(id, ["failed"], 10_000);
  assert.equal(task.reason, "cancelled");
  const sid = submissionId(id, 1);
  await waitFor(async () => (await miner.client.job(sid))?.status === "STOPPED", 60_000);
  const log = await miner.client.logs(sid);
  assert.match(log, /"type": ?"checkpoint"/, "the trainer saved a checkpoint before it stopped");
  assert.match(log, /"code": ?"cancelled"/);
});

Deno.test("Ray backend asks again when the head does not take a stop: the cancelled job still ends STOPPED", async () => {
  let refused = 0;
  await using miner = await startRayMiner({
    wrapClient: (client) => ({
      ...client,
      stop: (sid: string) => {
        // The head is unreachable for the first stop, as in a network blip.
        if (refused++ === 0) {
          return Promise.reject(new RayError(`Ray at ${client.address} is unreachable`, null));
        }
        return client.stop(sid);
      },
    }),
  });
  const id = `${RUN}-blip`;
  await miner.submit(id, { maxSteps: 20_000, checkpointEvery: 0 });
  await waitFor(() =>
    miner.reports.some((r) => r.kind === "event" && r.taskId === id && r.event.type === "progress")
  );
  assert.ok((await cancelTask(miner.queue(), id)).ok);
  await waitFor(async () => (await miner.client.job(submissionId(id, 1)))?.status === "STOPPED", 60_000);
  assert.ok(refused >= 2, "the stop was sent again after the first was refused");
});

Deno.test("RayActor refuses a wrong token at start with the address named and the token nowhere", async () => {
  const wrong = "wrong-token-0123456789abcdef";
  const client = rayClient({ address: rayAddress(), token: wrong });
  const err = await startRayActor({
    client,
    store: null as never,
    dataDir: "/nonexistent",
    trainerPackage: await trainerPackage(ROOT),
    files: null as never,
    python: "python3",
    nodeWorkDir: "/tmp",
    stopWaitS: 10,
    gpuMemoryMb: 1,
    pollMs: 1_000,
    startTimeoutMs: 1_000,
    timeLimitMs: 1_000,
    publish: () => {},
  }).then(() => null, (e: Error) => e);
  assert.ok(err, "the actor must not start");
  const text = `${err.message} ${(err.cause as Error | undefined)?.message ?? ""}`;
  assert.ok(text.includes(rayAddress()), text);
  assert.match(text, /refused the token/);
  assert.ok(!text.includes(wrong) && !text.includes(rayToken()));
  assert.ok((err.cause ?? err) instanceof RayError || err instanceof Error);
});

Deno.test("RayActor given a run Ray already has (500 already exists) follows it instead of submitting it twice", async () => {
  await using miner = await startRayMiner();
  const id = `${RUN}-dup`;
  const task = await miner.submit(id, { maxSteps: 4 });
  await miner.waitState(id, ["training", "uploading"], 60_000);
  // A second actor, knowing nothing (its own empty store), is asked for the same run, as after a lost
  // reply: Ray answers 500 "already exists", and the job is read back and followed.
  const dataDir = await Deno.makeTempDir({ prefix: "ray-dup-" });
  await using store = await Store.open(storePath(dataDir));
  const reports: GpuReport[] = [];
  const second = await startRayActor({
    client: miner.client,
    store,
    dataDir: miner.dataDir,
    trainerPackage: await trainerPackage(ROOT),
    files: miner.files,
    python: "python3",
    nodeWorkDir: "/tmp",
    stopWaitS: 10,
    gpuMemoryMb: 81_920,
    pollMs: 500,
    startTimeoutMs: 60_000,
    timeLimitMs: 600_000,
    publish: () => {},
  });
  try {
    const again = await train(second, {
      taskId: id,
      spec: { ...task.request.training, type: "text", task_id: id } as never,
      datasetDir: "",
      manifestFile: manifestPath(miner.dataDir, id),
      resume: false,
      run: 1,
      devices: miner.devices().slice(0, 1),
    }, (r) => (reports.push(r), true));
    assert.deepEqual(again, { ok: true });
    await waitFor(() => reports.some((r) => r.kind === "ended"), 120_000);
    const ended = reports.find((r) => r.kind === "ended");
    assert.ok(ended?.kind === "ended" && ended.outcome.ok, JSON.stringify(ended));
    await miner.waitState(id, ["uploading"], 120_000);
    assert.equal((await jobsLike(`satori-${id}-`)).length, 1, "one job at Ray for the run");
  } finally {
    await second.stop();
  }
});

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not true after ${timeoutMs} ms`);
}

Deno.test("doctor's Ray checks pass against the cluster and name the address, not the token, when it is wrong", async () => {
  const cfg = parseConfig(
    `cluster:\n  backend: ray\n  ray:\n    address: ${rayAddress()}\n    files:\n      port: 38003\n`,
    "config.yml",
    { RAY_AUTH_TOKEN: rayToken() },
  );
  const good = await rayChecks(cfg, null);
  assert.equal(good[0].name, "ray cluster");
  assert.ok(good[0].ok, good[0].detail);
  assert.match(good[0].detail, /Ray 2\.60\.0 at .*: 2 nodes, 2 GPUs/);
  const wrong = "wrong-token-for-doctor-0123456789";
  const bad = await rayChecks(
    parseConfig(
      `cluster:\n  backend: ray\n  ray:\n    address: ${rayAddress()}\n`,
      "config.yml",
      { RAY_AUTH_TOKEN: wrong },
    ),
    null,
  );
  assert.equal(bad[0].ok, false);
  assert.ok(bad[0].detail.includes(rayAddress()) && !JSON.stringify(bad).includes(wrong), bad[0].detail);
});

Deno.test("main.ts start with a wrong Ray token exits 1 naming the address, and the token is nowhere in its output or log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ray-start-" });
  const wallet = await makeLocalWallet(`${dir}/wallets`, "miner");
  const wrong = "wrong-token-for-start-0123456789";
  await Deno.writeTextFile(
    `${dir}/config.yml`,
    [
      `wallet: { name: miner, path: ${dir}/wallets }`,
      `miner: { data_dir: ${dir}/data }`,
      `logging: { file: ${dir}/miner.log }`,
      `training: { python: ${ROOT}/.venv/bin/python, cache_dir: ${dir}/cache }`,
      "bittensor: { chain_endpoint: ws://127.0.0.1:9 }",
      "axon: { enabled: false }",
      "status: { enabled: false }",
      `cluster: { backend: ray, ray: { address: "${rayAddress()}", files: { port: 38004 } } }`,
    ].join("\n"),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}/main.ts`, "start", "--config", `${dir}/config.yml`],
    env: { RAY_AUTH_TOKEN: wrong },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const log = await Deno.readTextFile(`${dir}/miner.log`).catch(() => "");
  assert.equal(out.code, 1, text);
  assert.match(text + log, new RegExp(`Ray at ${rayAddress().replaceAll(".", "\\.")} refused the token`));
  assert.ok(!text.includes(wrong) && !log.includes(wrong), "the token reached the output or the log");
  assert.ok(wallet.ss58);
});
