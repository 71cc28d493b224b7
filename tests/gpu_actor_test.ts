/** GpuActor + its Web Worker against the fake trainer (tests/gpu_fake_python.sh): no Python, no torch. */
import assert from "node:assert/strict";
import { CPU_DEVICE, type Device } from "../core/device.ts";
import { cudaVisible, startGpuActor } from "../actors/gpu/gpu_actor.ts";
import { cancelRun, train } from "../actors/protocol.ts";
import type { GpuReport, TrainJob } from "../actors/protocol.ts";
import { runsWith } from "../actors/gpu/leftover.ts";
import { TrainingSpec } from "../core/training.ts";
import { buildManifest } from "../actors/task_center/dataset/describe.ts";
import { waitFor } from "./helpers.ts";

const FAKE_PYTHON = new URL("./gpu_fake_python.sh", import.meta.url).pathname;

function job(taskId: string, model: string, devices: Device[] = [CPU_DEVICE]): TrainJob {
  const spec = TrainingSpec.parse({ task_id: taskId, type: "text", base_model: model });
  return { taskId, spec, datasetDir: "/nonexistent", manifestFile: null, resume: false, run: 1, devices };
}

async function gpuWithReports(over: { timeLimitMs?: number } = {}) {
  const dataDir = await Deno.makeTempDir({ prefix: "gpu-test-" });
  const gpu = startGpuActor({
    device: CPU_DEVICE,
    dataDir,
    python: FAKE_PYTHON,
    trainerRoot: Deno.cwd(),
    timeLimitMs: over.timeLimitMs ?? 60_000,
    graceMs: 2_000,
  });
  const reports: GpuReport[] = [];
  const reporter = (r: GpuReport) => (reports.push(r), true);
  const ended = (id: string) => reports.find((r) => r.kind === "ended" && r.taskId === id);
  return { gpu, dataDir, reports, reporter, ended };
}

Deno.test("GpuActor runs the trainer in its worker and reports spawned, events and ended in order", async () => {
  const { gpu, dataDir, reports, reporter, ended } = await gpuWithReports();
  await using _ = gpu;
  assert.deepEqual(await train(gpu, job("t-ok", "fake:ok"), reporter), { ok: true });
  await waitFor(() => !!ended("t-ok"), { timeoutMs: 10_000, what: "the run to end" });
  const kinds = reports.map((r) => (r.kind === "event" ? r.event.type : r.kind));
  assert.deepEqual(kinds, ["spawned", "started", "progress", "progress", "checkpoint", "done", "ended"]);
  assert.equal((ended("t-ok") as Extract<GpuReport, { kind: "ended" }>).outcome.ok, true);
  assert.equal(await Deno.readTextFile(`${dataDir}/work/t-ok/out/invocations`), "resume=0 cuda=\n");
  const written = JSON.parse(await Deno.readTextFile(`${dataDir}/work/t-ok/task.json`));
  assert.equal(written.task_id, "t-ok");
});

Deno.test("GpuActor refuses a second job while one runs", async () => {
  const { gpu, reporter, ended } = await gpuWithReports();
  await using _ = gpu;
  await train(gpu, job("t-1", "fake:hang"), reporter);
  const second = await train(gpu, job("t-2", "fake:ok"), reporter);
  assert.deepEqual(second, {
    ok: false,
    reason: "busy",
    message: 'Cannot train "t-2" on cpu: busy with "t-1"',
  });
  assert.deepEqual(await cancelRun(gpu, "t-1"), { ok: true });
  await waitFor(() => !!ended("t-1"), { timeoutMs: 10_000, what: "the cancelled run to end" });
});

Deno.test("cancelRun() sends SIGTERM and the run ends as cancelled", async () => {
  const { gpu, reports, reporter, ended } = await gpuWithReports();
  await using _ = gpu;
  await train(gpu, job("t-c", "fake:hang"), reporter);
  await waitFor(() => reports.some((r) => r.kind === "event" && r.event.type === "started"), {
    timeoutMs: 10_000,
    what: "the trainer to start",
  });
  assert.deepEqual(await cancelRun(gpu, "t-c"), { ok: true });
  await waitFor(() => !!ended("t-c"), { timeoutMs: 10_000, what: "the run to end" });
  const end = ended("t-c") as Extract<GpuReport, { kind: "ended" }>;
  assert.deepEqual(end.outcome, { ok: false, code: "cancelled", message: "Training was cancelled" });
  assert.equal((await cancelRun(gpu, "t-c")).ok, false);
});

Deno.test("GpuActor keeps the trainer's last stderr lines when it exits non-zero", async () => {
  const { gpu, reporter, ended } = await gpuWithReports();
  await using _ = gpu;
  await train(gpu, job("t-x", "fake:crash"), reporter);
  await waitFor(() => !!ended("t-x"), { timeoutMs: 10_000, what: "the run to end" });
  const { outcome } = ended("t-x") as Extract<GpuReport, { kind: "ended" }>;
  assert.ok(!outcome.ok);
  assert.equal(outcome.code, "crashed");
  assert.match(
    outcome.message,
    /exited with code 3 without a result; last stderr lines: Traceback: RuntimeError: boom/,
  );
});

Deno.test("GpuActor enforces the time limit", async () => {
  const { gpu, reporter, ended } = await gpuWithReports({ timeLimitMs: 300 });
  await using _ = gpu;
  await train(gpu, job("t-slow", "fake:hang"), reporter);
  await waitFor(() => !!ended("t-slow"), { timeoutMs: 10_000, what: "the time limit" });
  const { outcome } = ended("t-slow") as Extract<GpuReport, { kind: "ended" }>;
  assert.ok(!outcome.ok && outcome.code === "timeout");
});

Deno.test("GpuActor kills the trainer's process group, reports and crashes when its worker dies", async () => {
  const { gpu, dataDir, reports, reporter, ended } = await gpuWithReports();
  await train(gpu, job("t-w", "fake:hang"), reporter);
  await waitFor(() => reports.some((r) => r.kind === "event"), {
    timeoutMs: 10_000,
    what: "the trainer to start",
  });
  const pid = (reports.find((r) => r.kind === "spawned") as { pid: number }).pid;
  assert.ok(await runsWith(pid, `${dataDir}/work/t-w`));
  // The worker is the comlink side of the actor: terminating it is what a crash in it looks like.
  (gpu as unknown as { offer(m: unknown): void }).offer({ type: "workerDied", error: new Error("boom") });
  await assert.rejects(gpu.done, /GPU worker for cpu died: boom/);
  const { outcome } = ended("t-w") as Extract<GpuReport, { kind: "ended" }>;
  assert.deepEqual(outcome, { ok: false, code: "crashed", message: "GPU worker crashed: boom" });
  await waitFor(async () => !(await runsWith(pid, `${dataDir}/work/t-w`)), { what: "the trainer to die" });
});

Deno.test("cudaVisible() lists the job's cards and hides every card on the cpu device", () => {
  const card = (index: number): Device => ({
    kind: "cuda",
    index,
    uuid: `GPU-${index}`,
    name: "H100",
    memoryTotalMb: 81559,
    memoryUsedMb: 0,
    utilization: 0,
  });
  assert.equal(cudaVisible([card(2), card(5)]), "2,5");
  assert.equal(cudaVisible([CPU_DEVICE]), "");
});

Deno.test("GpuActor refuses to train a dataset changed since the task center validated it", async () => {
  const { gpu, dataDir, reports, reporter, ended } = await gpuWithReports();
  await using _ = gpu;
  const datasetDir = `${dataDir}/datasets/t-tampered`;
  await Deno.mkdir(datasetDir, { recursive: true });
  await Deno.writeTextFile(`${datasetDir}/train.jsonl`, '{"text": "validated"}\n');
  const manifestFile = `${dataDir}/datasets/t-tampered.manifest.json`;
  await Deno.writeTextFile(
    manifestFile,
    JSON.stringify(
      await buildManifest(datasetDir, "t-tampered", {
        kind: "url",
        url: "https://example.org/d",
        sha256: "0".repeat(64),
        max_bytes: 1e6,
      }, "plain"),
    ),
  );
  await Deno.writeTextFile(`${datasetDir}/train.jsonl`, '{"text": "swapped after validation"}\n');

  await train(gpu, { ...job("t-tampered", "fake:ok"), datasetDir, manifestFile }, reporter);
  await waitFor(() => !!ended("t-tampered"), { timeoutMs: 10_000, what: "the run to end" });
  const outcome = (ended("t-tampered") as Extract<GpuReport, { kind: "ended" }>).outcome;
  assert.ok(!outcome.ok && outcome.code === "dataset_invalid", JSON.stringify(outcome));
  assert.match(outcome.message, /train\.jsonl/);
  assert.ok(!reports.some((r) => r.kind === "spawned"), "no trainer may start on changed data");
});
