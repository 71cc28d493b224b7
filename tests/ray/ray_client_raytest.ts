/**
 * The Ray client against the real two-node cluster (tests/ray/cluster.ts). The cluster outlives a run and
 * is shared, so every submission id is unique to this run and every wait has a deadline.
 *   scripts/ray_cluster.sh exec deno test -A tests/ray/ray_client_raytest.ts
 */
import assert from "node:assert/strict";
import {
  type RayClient,
  rayClient,
  RayError,
  type RayJob,
  type SubmitRequest,
} from "../../actors/ray/ray_client.ts";
import { trainerPackage } from "../../actors/ray/trainer_package.ts";
import { waitFor } from "../helpers.ts";
import { NODE_IP, rayAddress, rayToken } from "./cluster.ts";

const run = `test-${Date.now()}-${crypto.randomUUID().slice(0, 8)}`;
const token = rayToken();
const client = rayClient({ address: rayAddress(), token });
const WRONG_TOKEN = "wrong-token-0123456789abcdef";
const ENDED = new Set(["STOPPED", "SUCCEEDED", "FAILED"]);

function request(id: string, entrypoint: string, over: Partial<SubmitRequest> = {}): SubmitRequest {
  return {
    submissionId: `${run}-${id}`,
    entrypoint,
    numGpus: 1,
    resources: {},
    runtimeEnv: { working_dir: "", env_vars: {} },
    metadata: { test: "ray_client_test" },
    ...over,
  };
}

/** Polls the job until `done` holds for it; a shared cluster may queue it a while. */
async function waitJob(c: RayClient, id: string, done: (j: RayJob) => boolean, timeoutMs = 60_000) {
  let last: RayJob | null = null;
  await waitFor(async () => (last = await c.job(id)) !== null && done(last), {
    timeoutMs,
    intervalMs: 250,
    what: `Ray job "${id}"`,
  });
  return last! as RayJob;
}

/** The alive node at `ip`: another suite may restart node b, which then comes back under a new id. */
async function aliveNode(ip: string) {
  let id = "";
  await waitFor(async () => {
    id = (await client.nodes()).find((n) => n.alive && n.ip === ip)?.nodeId ?? "";
    return id !== "";
  }, { timeoutMs: 60_000, intervalMs: 500, what: `an alive Ray node at ${ip}` });
  return id;
}

/** A port nothing listens on (Deno refuses to fetch from port 1 at all, so that one tells nothing). */
function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

async function rejection(p: () => Promise<unknown>): Promise<RayError> {
  try {
    await p();
  } catch (e) {
    assert.ok(e instanceof RayError, `expected a RayError, got ${e}`);
    return e;
  }
  assert.fail("expected a RayError");
}

function assertNoToken(e: Error) {
  for (const text of [e.message, String(e.cause ?? ""), e.stack ?? ""]) {
    assert.ok(!text.includes(token), `the token leaked into: ${e.message}`);
    assert.ok(!text.includes(WRONG_TOKEN), `the wrong token leaked into: ${e.message}`);
  }
}

Deno.test("version() answers the cluster's Ray version with the right token", async () => {
  assert.deepEqual(await client.version(), { rayVersion: "2.60.0" });
});

Deno.test("version() throws a RayError naming the address when the token is wrong", async () => {
  const e = await rejection(() => rayClient({ address: rayAddress(), token: WRONG_TOKEN }).version());
  assert.ok(e.status === 401 || e.status === 403, `status ${e.status}`);
  assert.match(e.message, /refused the token \(HTTP 40[13]\): check cluster\.ray\.token or RAY_AUTH_TOKEN/);
  assert.ok(e.message.includes(rayAddress()) && e.message.includes("GET /api/version"), e.message);
  assertNoToken(e);
});

Deno.test("version() throws a RayError with status null when nothing listens at the address", async () => {
  const address = `http://127.0.0.1:${freePort()}`;
  const e = await rejection(() => rayClient({ address, token }).version());
  assert.equal(e.status, null);
  assert.ok(e.message.includes(`GET /api/version): Ray at ${address} is unreachable: `), e.message);
  assert.match(e.message, /refused/i);
  assertNoToken(e);
});

Deno.test("version() throws a RayError with status null when the address never answers", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // accepts nothing: a hung server
  const address = `http://127.0.0.1:${listener.addr.port}`;
  const e = await rejection(() => rayClient({ address, token, timeoutMs: 300 }).version());
  assert.equal(e.status, null);
  assert.ok(e.message.includes(`${address} did not answer within 300 ms`), e.message);
  assertNoToken(e);
});

Deno.test("RayClient errors never carry the token, whichever call fails", async () => {
  const wrong = rayClient({ address: rayAddress(), token: WRONG_TOKEN });
  const gone = rayClient({ address: `http://127.0.0.1:${freePort()}`, token });
  const errors = [
    await rejection(() => wrong.job("x")),
    await rejection(() => wrong.submit(request("wrong-token", "true"))),
    await rejection(() => wrong.ensurePackage("_ray_pkg_0.zip", new Uint8Array())),
    await rejection(async () => {
      for await (const _ of wrong.tail("x")) break;
    }),
    await rejection(() => gone.nodes()),
    await rejection(() => client.logs(`${run}-nope`)),
  ];
  errors.forEach(assertNoToken);
  for (
    const over of [{ metadata: { t: token } }, { runtimeEnv: { working_dir: "", env_vars: { T: token } } }]
  ) {
    await assert.rejects(
      () => client.submit(request("leak", "true", over)),
      (e) =>
        e instanceof TypeError && e.message.includes("contain the Ray token") && !e.message.includes(token),
    );
  }
  assert.equal(await client.job(`${run}-leak`), null);
});

Deno.test("nodes() lists both alive nodes with their GPUs, ips and node resources", async () => {
  await aliveNode(NODE_IP.b);
  const alive = (await client.nodes()).filter((n) => n.alive);
  assert.deepEqual(alive.map((n) => n.ip).sort(), [NODE_IP.a, NODE_IP.b]);
  for (const n of alive) {
    assert.equal(n.gpus, Number(Deno.env.get("RAY_TEST_GPUS") ?? 1)); // scripts/ray_cluster.sh --num-gpus
    assert.equal(n.resources[`node:${n.ip}`], 1);
    assert.equal(n.isHead, n.ip === NODE_IP.a);
    assert.deepEqual(n.gpuMemoryMb, []); // logical GPUs: no device for the agent to report
    assert.match(n.nodeId, /^[0-9a-f]{56}$/);
  }
  assert.notEqual(alive[0].nodeId, alive[1].nodeId);
});

Deno.test("submit() runs a job on the node its resources pin, and a resubmission reads it back", async () => {
  const nodeB = await aliveNode(NODE_IP.b);
  const req = request("hello", "echo hello; sleep 1", { resources: { [`node:${NODE_IP.b}`]: 0.001 } });
  const first = await client.submit(req);
  assert.equal(first.submitted, true);
  assert.equal(first.job.submissionId, req.submissionId);
  assert.equal(first.job.entrypoint, req.entrypoint);
  assert.deepEqual(first.job.metadata, req.metadata);
  const done = await waitJob(client, req.submissionId, (j) => ENDED.has(j.status));
  assert.equal(done.status, "SUCCEEDED", done.message ?? "");
  assert.equal(done.driverExitCode, 0);
  assert.equal(done.errorType, null);
  assert.equal(done.driverNodeId, nodeB);
  assert.match(await client.logs(req.submissionId), /^hello$/m);

  const again = await client.submit({ ...req, entrypoint: "echo second" });
  assert.equal(again.submitted, false);
  assert.equal(again.job.entrypoint, req.entrypoint);
  assert.equal(again.job.status, "SUCCEEDED");
  const res = await fetch(`${rayAddress()}/api/jobs/`, { headers: { Authorization: `Bearer ${token}` } });
  const jobs = (await res.json()) as { submission_id: string | null }[];
  assert.equal(jobs.filter((j) => j.submission_id === req.submissionId).length, 1);
});

Deno.test("tail() yields the job's lines in order and ends after the job ends", async () => {
  const lines = [1, 2, 3, 4, 5, 6].map((i) => `line-${i}`);
  const req = request("tail", `for l in ${lines.join(" ")}; do echo $l; sleep 0.3; done`);
  await client.submit(req);
  let text = "";
  const deadline = AbortSignal.timeout(60_000);
  for await (const chunk of client.tail(req.submissionId, deadline)) text += chunk;
  assert.ok(!deadline.aborted, "tail() did not end within 60 s of the job");
  assert.deepEqual(text.split("\n").filter((l) => l.startsWith("line-")), lines);
  assert.ok(text.includes(`Running entrypoint for job ${req.submissionId}`));
  assert.ok(ENDED.has((await client.job(req.submissionId))!.status));
});

Deno.test("tail() stops when its signal aborts, and throws a RayError for an unknown job", async () => {
  const req = request("tail-abort", "echo started; sleep 30");
  await client.submit(req);
  const abort = new AbortController();
  let text = "";
  for await (const chunk of client.tail(req.submissionId, abort.signal)) {
    text += chunk;
    if (text.includes("started")) abort.abort();
  }
  assert.ok(text.includes("started"));
  assert.equal(await client.stop(req.submissionId), true);
  const e = await rejection(async () => {
    for await (const _ of client.tail(`${run}-nope`)) break;
  });
  assert.equal(e.status, 404);
  assert.ok(e.message.includes(`WebSocket /api/jobs/${run}-nope/logs/tail`), e.message);
});

Deno.test("stop() ends a running job within seconds and is false once it has ended", async () => {
  const req = request("stop", "sleep 60");
  await client.submit(req);
  await waitJob(client, req.submissionId, (j) => j.status !== "PENDING");
  const t0 = Date.now();
  assert.equal(await client.stop(req.submissionId), true);
  const stopped = await waitJob(client, req.submissionId, (j) => ENDED.has(j.status), 15_000);
  assert.equal(stopped.status, "STOPPED");
  assert.ok(Date.now() - t0 < 10_000, `stopped after ${Date.now() - t0} ms`);
  assert.equal(await client.stop(req.submissionId), false);
});

Deno.test("job() is null and stop() false for an unknown submission id", async () => {
  assert.equal(await client.job(`nope-${run}`), null);
  assert.equal(await client.stop(`nope-${run}`), false);
  assert.equal(await client.job(`${run}/odd id?#`), null); // path characters stay inside the id
});

Deno.test("ensurePackage() uploads a trainer package once, and a job runs in it as its cwd", async () => {
  // A copy of the trainer with a file unique to this run, so the first call uploads even though the
  // cluster keeps packages from earlier runs.
  const root = await Deno.makeTempDir({ prefix: "ray-pkg-" });
  try {
    const repo = new URL("../..", import.meta.url).pathname;
    const cp = await new Deno.Command("cp", { args: ["-r", `${repo}/trainer`, root] }).output();
    assert.ok(cp.success);
    await Deno.writeTextFile(`${root}/trainer/test_run.txt`, run);
    const pkg = await trainerPackage(root);
    assert.equal(await client.ensurePackage(pkg.name, pkg.bytes), true);
    assert.equal(await client.ensurePackage(pkg.name, pkg.bytes), false);

    const req = request(
      "package",
      `python3 -c "import trainer, pathlib; print(pathlib.Path('trainer/modes.json').exists())"; cat trainer/test_run.txt`,
      { numGpus: 0, runtimeEnv: { working_dir: pkg.uri, env_vars: {} } },
    );
    await client.submit(req);
    const done = await waitJob(client, req.submissionId, (j) => ENDED.has(j.status), 120_000);
    const log = await client.logs(req.submissionId);
    assert.equal(done.status, "SUCCEEDED", log);
    assert.match(log, /^True$/m);
    assert.ok(log.includes(run));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
