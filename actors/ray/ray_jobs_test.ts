import assert from "node:assert/strict";
import { deviceKey } from "../../core/device.ts";
import type { RayJob, RayNode } from "./ray_client.ts";
import { clusterDevices, entrypoint, JobLog, jobOutcome, shellQuote, submissionId } from "./ray_jobs.ts";

const node = (ip: string, over: Partial<RayNode> = {}): RayNode => ({
  nodeId: `id-${ip}`,
  ip,
  alive: true,
  isHead: false,
  gpus: 2,
  gpuMemoryMb: [],
  resources: {},
  ...over,
});

const job = (over: Partial<RayJob> = {}): RayJob => ({
  submissionId: "satori-t-run1",
  status: "SUCCEEDED",
  message: null,
  errorType: null,
  driverExitCode: 0,
  driverNodeId: "id-10.0.0.2",
  metadata: {},
  entrypoint: "",
  ...over,
});

const line = (event: Record<string, unknown>) => JSON.stringify({ time: 1, ...event }) + "\n";
const STARTED = line({
  type: "started",
  task_id: "t",
  kind: "text",
  device: "cpu",
  precision: "fp32",
  total_steps: 2,
  start_step: 0,
  train_samples: 4,
  eval_samples: 1,
  trainable_params: 8,
});
const DONE = line({
  type: "done",
  artifacts: [{ path: "adapter_model.safetensors", sha256: "a".repeat(64), bytes: 3 }],
  metrics: {},
  quality: {
    passed: true,
    metric: "eval_loss",
    base: 2,
    adapter: 1,
    threshold: 2,
    detail: "ok",
    samples: [],
  },
});

Deno.test("submissionId() is the task id and the run number, the same every time", () => {
  assert.equal(submissionId("task-7", 1), "satori-task-7-run1");
  assert.equal(submissionId("task-7", 2), submissionId("task-7", 2));
  assert.notEqual(submissionId("task-7", 2), submissionId("task-7", 1));
});

Deno.test("clusterDevices() gives each card of each live node, its host the node's address", () => {
  const devices = clusterDevices([
    node("10.0.0.10", { gpus: 1, gpuMemoryMb: [24_576] }),
    node("10.0.0.2"),
    node("10.0.0.3", { alive: false }),
    node("10.0.0.4", { gpus: 0 }),
  ], 81_920);
  assert.deepEqual(devices.map(deviceKey), ["10.0.0.2/cuda:0", "10.0.0.2/cuda:1", "10.0.0.10/cuda:0"]);
  assert.deepEqual(devices.map((d) => d.kind === "cuda" && d.memoryTotalMb), [81_920, 81_920, 24_576]);
});

Deno.test("entrypoint() quotes every word, so a path or URL cannot add a shell command", () => {
  const cmd = entrypoint({
    python: "/opt/venv/bin/python",
    fetchUrl: "http://10.0.0.1:8003/v1/abc.def/",
    putUrl: "http://10.0.0.1:8003/v1/ghi.jkl/",
    workDir: "/var/tmp/it's; rm -rf /",
    name: "task-7",
    resume: true,
    nprocs: 2,
  });
  assert.equal(
    cmd,
    "exec '/opt/venv/bin/python' '-m' 'trainer' 'remote' '--fetch' 'http://10.0.0.1:8003/v1/abc.def/' " +
      "'--put' 'http://10.0.0.1:8003/v1/ghi.jkl/' '--work' '/var/tmp/it'\\''s; rm -rf /' '--name' 'task-7' " +
      "'--nprocs' '2' '--resume'",
  );
  const echoed = new Deno.Command("sh", { args: ["-c", `printf '%s\\n' ${shellQuote("a'b $(x) `y`")}`] })
    .outputSync();
  assert.equal(new TextDecoder().decode(echoed.stdout), "a'b $(x) `y`\n");
});

Deno.test("JobLog reads events across chunks that split lines, and skips what a replayed tail repeats", () => {
  const log = new JobLog();
  const text =
    "Running entrypoint for job satori-t-run1: python -m trainer remote --fetch http://x/v1/tok/\n" +
    "2026 trainer.remote WARNING slow fetch\n" + STARTED + DONE;
  const cut = text.indexOf("started") + 3;
  const first = log.push(text.slice(0, cut), 0);
  const second = log.push(text.slice(cut), cut);
  assert.deepEqual([...first, ...second].map((e) => e.type), ["started", "done"]);
  // A tail that reconnects sends the whole log again: nothing is reported twice.
  assert.deepEqual(log.push(text, 0), []);
  assert.ok(log.end.done);
  assert.deepEqual(
    log.end.stderrTail,
    ["2026 trainer.remote WARNING slow fetch"],
    "Ray's preamble is left out",
  );
});

Deno.test("jobOutcome() is success only with done and exit 0, as for a local trainer", () => {
  const log = new JobLog();
  log.push(STARTED + DONE);
  assert.equal(jobOutcome(job(), log, null).ok, true);
  const failed = jobOutcome(job({ status: "FAILED", driverExitCode: 3 }), log, null);
  assert.deepEqual(failed.ok ? null : failed.code, "crashed");
});

Deno.test("jobOutcome() calls a job whose node or supervisor died a crash, naming Ray's reason", () => {
  const died = job({
    status: "FAILED",
    driverExitCode: null,
    errorType: "JOB_SUPERVISOR_ACTOR_DIED",
    message: "Job supervisor actor died",
  });
  const outcome = jobOutcome(died, new JobLog(), null);
  assert.equal(outcome.ok ? null : outcome.code, "crashed");
  assert.match(outcome.ok ? "" : outcome.message, /JOB_SUPERVISOR_ACTOR_DIED/);
});

Deno.test("jobOutcome() of a stopped job: the trainer's cancelled, a time-out, or never started", () => {
  const cancelled = new JobLog();
  cancelled.push(STARTED + line({ type: "error", code: "cancelled", message: "cancelled at step 3" }));
  const stopped = job({ status: "STOPPED", driverExitCode: null });
  const byCancel = jobOutcome(stopped, cancelled, "cancel");
  assert.equal(byCancel.ok ? null : byCancel.code, "cancelled");
  const timedOut = jobOutcome(stopped, new JobLog(), "timeout");
  assert.equal(timedOut.ok ? null : timedOut.code, "timeout");
  const notStarted = jobOutcome(job({ status: "STOPPED", driverNodeId: null }), new JobLog(), "not_started");
  assert.equal(notStarted.ok ? null : notStarted.code, "cancelled");
  const outside = jobOutcome(stopped, new JobLog(), null);
  assert.match(outside.ok ? "" : outside.message, /stopped outside the miner/);
});
