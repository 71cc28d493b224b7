/**
 * GpuActor: owns one device and the Web Worker that runs trainers on it (one run at a time). Takes
 * `train` / `cancel` from the queue and reports `spawned`, each trainer event and exactly one `ended`
 * per job through the job's reporter. When the worker dies it kills the run's process group, reports
 * the run ended and crashes, so the supervisor restarts it clean and the queue retries the task.
 */
import { outputDir, workDir } from "../../core/paths.ts";
import * as Comlink from "comlink";
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import type {
  GpuAdoption,
  GpuCancelResult,
  GpuMsg,
  GpuReport,
  GpuReporter,
  TrainJob,
  TrainStart,
} from "../protocol.ts";
import { type ActorRef, type Clock, spawn } from "../runtime/actor.ts";
import { startWorkerActor, type WorkerActor } from "../runtime/worker.ts";
import { type Device, deviceKey } from "../../core/device.ts";
import type { GpuWorkerApi, WorkerNotice, WorkerRun } from "./gpu_worker.ts";
import type { TrainerOutcome } from "../../core/training.ts";
import { signalGroup } from "./trainer_process.ts";

const log = getLogger(["satori", "gpu"]);

export type GpuDeps = {
  device: Device;
  /** `miner.data_dir`; runs work in `<dataDir>/work/<task-id>`. */
  dataDir: string;
  /** `training.python` and the folder holding the `trainer` package. */
  python: string;
  trainerRoot: string;
  /** `miner.task_time_limit_s` in ms, and how long SIGTERM may take before SIGKILL. */
  timeLimitMs: number;
  graceMs?: number;
  /** Extra environment for the trainer (e.g. HF_HOME, OMP_NUM_THREADS). */
  env?: Record<string, string>;
  clock?: Clock;
  /** The worker module; tests may swap it. */
  workerUrl?: URL;
};

type Run = {
  job: TrainJob;
  report: GpuReporter;
  pid: number | null;
  /** The worker's answer; null when the worker died first. */
  outcome: Promise<TrainerOutcome | null>;
  settled: boolean;
};
type State = {
  deps: GpuDeps;
  worker: WorkerActor<GpuWorkerApi>;
  run: Run | null;
  unreported: GpuReport | null;
};
type Private =
  | { type: "notice"; taskId: string; notice: WorkerNotice }
  | { type: "runEnded"; taskId: string; outcome: TrainerOutcome }
  | { type: "workerDied"; error: unknown };

const WORKER_URL = new URL("./gpu_worker.ts", import.meta.url);
const DEFAULT_GRACE_MS = 30_000;

export function startGpuActor(deps: GpuDeps): ActorRef<GpuMsg> {
  const name = `gpu:${deviceKey(deps.device)}`;
  return spawn<GpuMsg | Private, State>({
    name,
    capacity: 1_024, // progress events arrive in bursts; a full mailbox would drop one
    clock: deps.clock,
    stopTimeoutMs: (deps.graceMs ?? DEFAULT_GRACE_MS) + 5_000,
    init: ({ self }) => {
      const worker = startWorkerActor<GpuWorkerApi>(deps.workerUrl ?? WORKER_URL, name, {
        clock: deps.clock,
      });
      worker.done.catch((error) => self.offer({ type: "workerDied", error }));
      return { deps, worker, run: null, unreported: null };
    },
    handle: (state, msg, { self }) => handle(state, msg, self),
    onStop: stopRun,
  });
}

async function handle(state: State, msg: GpuMsg | Private, self: ActorRef<GpuMsg | Private>): Promise<void> {
  switch (msg.type) {
    case "train":
      return msg.reply(startRun(state, msg.job, msg.report, self));
    case "cancel":
      return msg.reply(await cancel(state, msg.taskId));
    case "adopt":
      return msg.reply(adoptReports(state, msg.report));
    case "notice":
      return onNotice(state, msg.taskId, msg.notice);
    case "runEnded":
      return endRun(state, msg.taskId, msg.outcome);
    case "workerDied":
      return onWorkerDied(state, msg.error);
    default:
      assertNever(msg);
  }
}

function startRun(
  state: State,
  job: TrainJob,
  report: GpuReporter,
  self: ActorRef<GpuMsg | Private>,
): TrainStart {
  const { deps } = state;
  if (state.run) {
    const message = `Cannot train "${job.taskId}" on ${
      deviceKey(deps.device)
    }: busy with "${state.run.job.taskId}"`;
    return { ok: false, reason: "busy", message };
  }
  const run: WorkerRun = {
    taskId: job.taskId,
    spec: job.spec,
    python: deps.python,
    trainerRoot: deps.trainerRoot,
    workDir: workDir(deps.dataDir, job.taskId),
    outDir: outputDir(deps.dataDir, job.taskId),
    datasetDir: job.datasetDir,
    manifestFile: job.manifestFile,
    resume: job.resume,
    env: { ...deps.env, CUDA_VISIBLE_DEVICES: cudaVisible(job.devices) },
    nprocs: Math.max(1, job.devices.filter((d) => d.kind === "cuda").length),
    timeLimitMs: deps.timeLimitMs,
    graceMs: deps.graceMs ?? DEFAULT_GRACE_MS,
  };
  const notify = Comlink.proxy((notice: WorkerNotice) =>
    void self.offer({ type: "notice", taskId: job.taskId, notice })
  );
  // The call outlives the time limit by the grace period plus a margin: the worker enforces the limit.
  const timeoutMs = run.timeLimitMs + run.graceMs + 60_000;
  const outcome = state.worker.call("train", [run, notify], { timeoutMs }).then(
    (outcome) => (self.offer({ type: "runEnded", taskId: job.taskId, outcome }), outcome),
    (error: Error) => (self.offer({ type: "workerDied", error }), null),
  );
  state.run = { job, report, pid: null, outcome, settled: false };
  log.info("Training task {taskId} on {device}", { taskId: job.taskId, device: deviceKey(deps.device) });
  return { ok: true };
}

/** CUDA_VISIBLE_DEVICES for a run: the job's cards, or none at all on the cpu device. */
export function cudaVisible(devices: Device[]): string {
  return devices.filter((d) => d.kind === "cuda").map((d) => String(d.index)).join(",");
}

async function cancel(state: State, taskId: string): Promise<GpuCancelResult> {
  if (state.run?.job.taskId !== taskId) {
    return { ok: false, reason: "not_running", message: `Cannot cancel "${taskId}": it is not running here` };
  }
  return await state.worker.call("cancel", [taskId]);
}

function adoptReports(state: State, report: GpuReporter): GpuAdoption {
  if (state.run) state.run.report = report;
  const running = state.run ? [{ taskId: state.run.job.taskId, devices: state.run.job.devices }] : [];
  const adoption = { running, unreported: state.unreported ? [state.unreported] : [] };
  state.unreported = null;
  return adoption;
}

function onNotice(state: State, taskId: string, notice: WorkerNotice): void {
  const run = state.run;
  if (run?.job.taskId !== taskId) return;
  if (notice.kind === "diagnostic") return void log.debug("{taskId}: {line}", { taskId, line: notice.line });
  if (notice.kind === "spawned") run.pid = notice.pid;
  run.report(
    notice.kind === "spawned"
      ? { kind: "spawned", taskId, pid: notice.pid }
      : { kind: "event", taskId, event: notice.event },
  );
}

function endRun(state: State, taskId: string, outcome: TrainerOutcome): void {
  const run = state.run;
  if (run?.job.taskId !== taskId || run.settled) return;
  run.settled = true;
  state.run = null;
  const ended: GpuReport = { kind: "ended", taskId, outcome };
  if (!run.report(ended)) state.unreported = ended;
}

/** The worker is gone: nothing will reap its trainer, so kill the group here, report, and crash. */
function onWorkerDied(state: State, error: unknown): never {
  const reason = error instanceof Error
    ? (error.cause instanceof Error ? error.cause.message : error.message)
    : String(error);
  const run = state.run;
  if (run) {
    if (run.pid !== null) signalGroup(run.pid, "SIGKILL");
    endRun(state, run.job.taskId, { ok: false, code: "crashed", message: `GPU worker crashed: ${reason}` });
  }
  state.worker.kill();
  throw new Error(`GPU worker for ${deviceKey(state.deps.device)} died: ${reason}`, { cause: error });
}

/** Graceful stop: the trainer gets SIGTERM (it checkpoints), the run ends as cancelled, then the worker goes. */
async function stopRun(state: State): Promise<void> {
  const run = state.run;
  if (run) {
    await state.worker.call("cancel", [run.job.taskId]).catch(() => {});
    const stopped: TrainerOutcome = {
      ok: false,
      code: "cancelled",
      message: "Training was stopped with the miner",
    };
    endRun(state, run.job.taskId, (await run.outcome) ?? stopped);
  }
  await state.worker.stop();
}
