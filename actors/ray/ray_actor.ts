/**
 * RayActor: the Ray backend, with the local GpuActors' contract (GpuMsg: train, cancel, adopt; the
 * same reports: events, then exactly one `ended` per job) for every GPU of a Ray cluster the miner
 * owns. The queue stays the single source of truth: it sees each card of each live node as a device
 * (`devices`, published on every poll), so it never submits more than the cluster can start, and
 * each job is pinned to the node its cards are on. A run is one Ray job (submission id: task id and
 * run number); its log is read through the same decoder as a local trainer's stdout. The node pulls
 * its dataset and pushes its adapter through the job files server this actor owns.
 *
 * On start it checks the token, ships the trainer package and reconciles every `training` task: a job
 * Ray still runs is followed again, a finished one reports its outcome, and one Ray never heard of
 * (the head restarted) is left to the queue, which gives the task its next run.
 */
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import type { Device } from "../../core/device.ts";
import { outputDir, workDir } from "../../core/paths.ts";
import { hashFile } from "../../core/manifest.ts";
import type { Store } from "../../core/store.ts";
import type { Task } from "../../core/task.ts";
import type { TrainerOutcome } from "../../core/training.ts";
import type { GpuAdoption, GpuMsg, GpuReport, GpuReporter, TrainJob, TrainStart } from "../protocol.ts";
import { type ActorRef, ask, type Clock, realClock, type Reply, spawn } from "../runtime/actor.ts";
import type { JobFilesServer } from "./job_files_server.ts";
import type { RayClient, RayJob, RayNode } from "./ray_client.ts";
import { clusterDevices, entrypoint, JobLog, jobOutcome, type Stopping, submissionId } from "./ray_jobs.ts";

const log = getLogger(["satori", "ray"]);

export type RayDeps = {
  client: RayClient;
  store: Store;
  dataDir: string;
  /** The trainer package (trainer_package.ts), uploaded once per content hash. */
  trainerPackage: { name: string; uri: string; bytes: Uint8Array };
  files: JobFilesServer;
  /** `cluster.ray.python`, `work_dir`, `stop_wait_s`, `gpu_memory_mb`. */
  python: string;
  nodeWorkDir: string;
  stopWaitS: number;
  gpuMemoryMb: number;
  pollMs: number;
  startTimeoutMs: number;
  /** `miner.task_time_limit_s` in ms: a job still running then is stopped as timed out. */
  timeLimitMs: number;
  /** Environment for the trainer on the node: never a secret (Ray shows it to anyone with the token). */
  env?: Record<string, string>;
  /** Told the cluster's devices after every poll. */
  publish: (devices: Device[]) => void;
  clock?: Clock;
};

type Run = {
  taskId: string;
  sid: string;
  devices: Device[];
  report: GpuReporter | null;
  log: JobLog;
  submittedMs: number;
  started: boolean;
  stopping: Stopping;
  tail: AbortController;
  tailing: boolean;
};

/** A run that ended while no queue listened, with the cards it held. */
type Missed = { report: GpuReport; devices: Device[] };

type State = {
  deps: RayDeps;
  clock: Clock;
  self: ActorRef<Msg>;
  nodes: RayNode[];
  devices: Device[];
  runs: Map<string, Run>;
  unreported: Missed[];
  timer: unknown;
};

type Private =
  | { type: "ready"; reply: Reply<Device[]> }
  | { type: "tick" }
  | { type: "logs"; taskId: string; sid: string; text: string; from: number }
  | { type: "tailEnded"; taskId: string; sid: string };
type Msg = GpuMsg | Private;

/** Starts the actor and waits until it has reconciled with the cluster (so the queue can adopt). */
export async function startRayActor(deps: RayDeps): Promise<ActorRef<GpuMsg>> {
  const ref = spawn<Msg, State>({
    name: "ray",
    capacity: 4_096, // log chunks of every running job
    clock: deps.clock,
    stopTimeoutMs: 10_000,
    init: ({ self, clock }) => init(deps, self, deps.clock ?? clock ?? realClock),
    handle,
    onStop: (state) => {
      state.clock.clearTimeout(state.timer);
      for (const run of state.runs.values()) run.tail.abort(); // jobs live on: a restart re-attaches
    },
  });
  await ask(ref, (reply) => ({ type: "ready", reply }), { timeoutMs: 120_000 }).catch((e: Error) => {
    // The start failed in init (a wrong token, an unreachable head): its own error says why, not the ask's.
    throw e.cause instanceof Error ? e.cause : e;
  });
  return ref as ActorRef<GpuMsg>;
}

async function init(deps: RayDeps, self: ActorRef<Msg>, clock: Clock): Promise<State> {
  const { client } = deps;
  const version = await client.version(); // a wrong token or address stops the miner's start here
  if (await client.ensurePackage(deps.trainerPackage.name, deps.trainerPackage.bytes)) {
    log.info("Uploaded the trainer package {name} to Ray", { name: deps.trainerPackage.name });
  }
  const state: State = {
    deps,
    clock,
    self,
    nodes: [],
    devices: [],
    runs: new Map(),
    unreported: [],
    timer: 0,
  };
  await refreshNodes(state);
  log.info("Ray {version} at {address}: {nodes} nodes, {gpus} GPUs", {
    version: version.rayVersion,
    address: client.address,
    nodes: state.nodes.filter((n) => n.alive).length,
    gpus: state.devices.length,
  });
  await reconcile(state);
  state.timer = clock.setTimeout(() => self.offer({ type: "tick" }), deps.pollMs);
  return state;
}

async function handle(state: State, msg: Msg): Promise<void> {
  switch (msg.type) {
    case "ready":
      return msg.reply(state.devices);
    case "train":
      return msg.reply(await train(state, msg.job, msg.report));
    case "cancel":
      return msg.reply(await stopRun(state, msg.taskId, "cancel"));
    case "adopt":
      return msg.reply(adopt(state, msg.report));
    case "tick":
      return await tick(state);
    case "logs":
      return onLogs(state, msg.taskId, msg.sid, msg.text, msg.from);
    case "tailEnded": {
      const run = state.runs.get(msg.taskId);
      if (run?.sid === msg.sid) run.tailing = false;
      return;
    }
    default:
      assertNever(msg);
  }
}

async function refreshNodes(state: State): Promise<void> {
  state.nodes = await state.deps.client.nodes();
  state.devices = clusterDevices(state.nodes, state.deps.gpuMemoryMb);
  state.deps.publish(state.devices);
}

async function train(state: State, job: TrainJob, report: GpuReporter): Promise<TrainStart> {
  const { deps } = state;
  const host = job.devices[0].kind === "cuda" ? job.devices[0].host : undefined;
  if (host === undefined || job.manifestFile === null) {
    const why = host === undefined ? "its devices are not on a Ray node" : "it has no validated manifest";
    return { ok: false, reason: "busy", message: `Cannot train "${job.taskId}" on Ray: ${why}` };
  }
  const sid = submissionId(job.taskId, job.run);
  const known = state.runs.get(job.taskId);
  if (known?.sid === sid) { // asked again for a run it follows (a lost reply): the same run
    known.report = report;
    return { ok: true };
  }
  await stopEarlierRuns(state, job);
  const dir = workDir(deps.dataDir, job.taskId);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/task.json`, JSON.stringify(job.spec)); // served to the node
  const now = state.clock.now();
  const claims = { taskId: job.taskId, submissionId: sid };
  // The dataset is read as the job starts; the adapter is written back when training ends.
  const readUntil = now + deps.startTimeoutMs + 10 * 60_000;
  const writeUntil = readUntil + deps.timeLimitMs + deps.stopWaitS * 1000 + 60 * 60_000;
  const fetchUrl = await deps.files.urlFor({ ...claims, scope: "read", expiresMs: readUntil });
  const putUrl = await deps.files.urlFor({ ...claims, scope: "write", expiresMs: writeUntil });
  let submitted;
  try {
    submitted = await deps.client.submit({
      submissionId: sid,
      entrypoint: entrypoint({
        python: deps.python,
        fetchUrl,
        putUrl,
        workDir: deps.nodeWorkDir,
        name: job.taskId,
        resume: job.resume,
        nprocs: job.devices.length,
      }),
      numGpus: job.devices.length,
      // A sliver of the node's own resource pins the job to the node whose cards the queue chose.
      resources: { [`node:${host}`]: 0.001 },
      runtimeEnv: {
        working_dir: deps.trainerPackage.uri,
        env_vars: {
          ...deps.env,
          PYTHONUNBUFFERED: "1",
          // Ray's default (3 s) kills a stopped trainer before it can save its checkpoint.
          RAY_JOB_STOP_WAIT_TIME_S: String(deps.stopWaitS),
        },
      },
      metadata: { satori_task: job.taskId, satori_run: String(job.run) },
    });
  } catch (e) {
    return {
      ok: false,
      reason: "busy",
      message: `Cannot submit "${job.taskId}" to Ray: ${(e as Error).message}`,
    };
  }
  if (!submitted.submitted) log.info("Ray already had job {sid}: following it", { sid });
  const run = follow(state, job.taskId, sid, job.devices, report, now);
  log.info("Training task {taskId} on Ray node {host} as job {sid}", { taskId: job.taskId, host, sid });
  if (isEnded(submitted.job)) await settle(state, run, submitted.job);
  return { ok: true };
}

/**
 * At most one job per task: a run the queue gave up on (its RayActor restarted under it, say) may
 * still be going at Ray, and is stopped before the next one starts.
 */
async function stopEarlierRuns(state: State, job: TrainJob): Promise<void> {
  for (let run = 1; run < job.run; run++) {
    const sid = submissionId(job.taskId, run);
    const earlier = await state.deps.client.job(sid);
    if (earlier && !isEnded(earlier)) {
      log.warn("Stopping Ray job {sid}: task {taskId} starts run {run}", {
        sid,
        taskId: job.taskId,
        run: job.run,
      });
      await state.deps.client.stop(sid);
    }
  }
}

function isEnded(job: RayJob): boolean {
  return job.status === "SUCCEEDED" || job.status === "FAILED" || job.status === "STOPPED";
}

/** Registers a run and starts reading its log; events come back to the actor as messages. */
function follow(
  state: State,
  taskId: string,
  sid: string,
  devices: Device[],
  report: GpuReporter | null,
  submittedMs: number,
): Run {
  const run: Run = {
    taskId,
    sid,
    devices,
    report,
    log: new JobLog(),
    submittedMs,
    started: false,
    stopping: null,
    tail: new AbortController(),
    tailing: false,
  };
  state.runs.set(taskId, run);
  startTail(state, run);
  return run;
}

function startTail(state: State, run: Run): void {
  run.tailing = true;
  const { self } = state;
  const { taskId, sid, tail } = run;
  void (async () => {
    let at = 0; // the tail replays the log from its start each time it connects
    try {
      for await (const text of state.deps.client.tail(sid, tail.signal)) {
        self.offer({ type: "logs", taskId, sid, text, from: at });
        at += text.length;
      }
    } catch (e) {
      if (!tail.signal.aborted) {
        log.debug("Log tail of {sid} broke: {message}", { sid, message: (e as Error).message });
      }
    }
    self.offer({ type: "tailEnded", taskId, sid });
  })();
}

function onLogs(state: State, taskId: string, sid: string, text: string, from: number): void {
  const run = state.runs.get(taskId);
  if (run?.sid !== sid) return;
  for (const event of run.log.push(text, from)) send(state, run, { kind: "event", taskId, event });
}

function send(state: State, run: Run, report: GpuReport): void {
  const delivered = run.report?.(report) ?? false;
  if (!delivered && report.kind === "ended") state.unreported.push({ report, devices: run.devices });
}

/** Polls the nodes and every run's job; settles what ended, stops what overstayed. */
async function tick(state: State): Promise<void> {
  const { deps, clock } = state;
  try {
    await refreshNodes(state);
    for (const run of [...state.runs.values()]) {
      const job = await deps.client.job(run.sid);
      const now = clock.now();
      if (job === null) {
        // The head restarted and forgot it: a crash, retried by the queue as the next run.
        await finish(state, run, { ok: false, code: "crashed", message: `Ray lost job ${run.sid}` });
        continue;
      }
      if (isEnded(job)) {
        await settle(state, run, job);
        continue;
      }
      const node = state.nodes.find((n) => n.nodeId === job.driverNodeId);
      if (job.driverNodeId !== null && !node?.alive) {
        // Ray notices the job's supervisor died only minutes later; the node's death settles it now.
        log.warn("Ray node {ip} running {sid} died", { ip: node?.ip ?? job.driverNodeId, sid: run.sid });
        await deps.client.stop(run.sid).catch(() => false);
        const message = `Ray node ${node?.ip ?? job.driverNodeId} died under job ${run.sid}`;
        await finish(state, run, { ok: false, code: "crashed", message });
        continue;
      }
      if (job.status === "RUNNING") run.started = true;
      if (!run.tailing && job.status === "RUNNING") startTail(state, run);
      if (!run.started && run.stopping === null && now - run.submittedMs > deps.startTimeoutMs) {
        log.warn("Ray has not started {sid} after {s} s: stopping it; the task waits for another node", {
          sid: run.sid,
          s: Math.round(deps.startTimeoutMs / 1000),
        });
        await stopRun(state, run.taskId, "not_started");
      } else if (run.started && run.stopping === null && now - run.submittedMs > deps.timeLimitMs) {
        await stopRun(state, run.taskId, "timeout");
      }
    }
  } catch (e) {
    // The head is unreachable for a moment: runs keep going there; the next poll tries again.
    log.warn("Cannot reach Ray at {address}: {message}", {
      address: deps.client.address,
      message: (e as Error).message,
    });
  } finally {
    state.timer = clock.setTimeout(() => state.self.offer({ type: "tick" }), deps.pollMs);
  }
}

async function stopRun(
  state: State,
  taskId: string,
  why: Exclude<Stopping, null>,
): Promise<{ ok: true } | { ok: false; reason: "not_running"; message: string }> {
  const run = state.runs.get(taskId);
  if (!run) {
    return { ok: false, reason: "not_running", message: `Cannot stop "${taskId}": no Ray job runs it` };
  }
  run.stopping ??= why;
  await state.deps.client.stop(run.sid);
  return { ok: true };
}

/** A job ended: read the rest of its log, check what came back, report the outcome once. */
async function settle(state: State, run: Run, job: RayJob): Promise<void> {
  const rest = await state.deps.client.logs(run.sid);
  for (const event of run.log.push(rest, 0)) send(state, run, { kind: "event", taskId: run.taskId, event });
  for (const event of run.log.close()) send(state, run, { kind: "event", taskId: run.taskId, event });
  let outcome = jobOutcome(job, run.log, run.stopping);
  if (outcome.ok) outcome = await checkArtifacts(state, run, outcome);
  await finish(state, run, outcome);
}

/** The node's adapter reached this miner byte for byte, or the run crashed. */
async function checkArtifacts(
  state: State,
  run: Run,
  outcome: Extract<TrainerOutcome, { ok: true }>,
): Promise<TrainerOutcome> {
  const out = outputDir(state.deps.dataDir, run.taskId);
  for (const a of outcome.done.artifacts) {
    const got = await hashFile(`${out}/${a.path}`).catch(() => null);
    if (got?.sha256 !== a.sha256 || got.bytes !== a.bytes) {
      const what = got === null ? "never arrived" : "arrived with another hash";
      return { ok: false, code: "crashed", message: `Artifact ${a.path} of job ${run.sid} ${what}` };
    }
  }
  return outcome;
}

function finish(state: State, run: Run, outcome: TrainerOutcome): Promise<void> {
  run.tail.abort();
  state.runs.delete(run.taskId);
  if (!outcome.ok) log.info("Ray job {sid} ended: {message}", { sid: run.sid, message: outcome.message });
  send(state, run, { kind: "ended", taskId: run.taskId, outcome });
  return Promise.resolve();
}

function adopt(state: State, report: GpuReporter): GpuAdoption {
  for (const run of state.runs.values()) run.report = report;
  // A job that ended while no queue listened is still the queue's running task until its report lands.
  const running = [
    ...state.runs.values(),
    ...state.unreported.map((m) => ({ ...m, taskId: m.report.taskId })),
  ]
    .map((r) => ({ taskId: r.taskId, devices: r.devices }));
  const adoption = { running, unreported: state.unreported.map((m) => m.report) };
  state.unreported = [];
  return adoption;
}

/**
 * Every task the store has in `training` ran on Ray as job `submissionId(id, runs)`: follow the ones
 * Ray still has. A finished one is settled now; its `ended` waits for the queue in `unreported`.
 */
async function reconcile(state: State): Promise<void> {
  const training: Task[] = [];
  for await (const task of state.deps.store.tasks()) if (task.state === "training") training.push(task);
  const taken = new Set<string>();
  for (const task of training) {
    const id = task.request.id;
    const sid = submissionId(id, task.history.filter((h) => h.state === "training").length);
    const job = await state.deps.client.job(sid);
    if (job === null) {
      log.info("Ray has no job {sid}: the queue gives task {taskId} its next run", { sid, taskId: id });
      continue;
    }
    const devices = cardsOf(state, job.driverNodeId, task.request.gpus, taken);
    const run = follow(state, id, sid, devices, null, state.clock.now());
    run.started = job.status !== "PENDING";
    log.info("Re-attached to Ray job {sid} ({status})", { sid, status: job.status });
    if (isEnded(job)) await settle(state, run, job);
  }
}

/** The cards a re-attached job holds: `n` of its node's, not yet given to another re-attached job. */
function cardsOf(state: State, nodeId: string | null, n: number, taken: Set<string>): Device[] {
  const ip = state.nodes.find((node) => node.nodeId === nodeId)?.ip;
  const free = state.devices.filter((d) => d.kind === "cuda" && d.host === ip && !taken.has(d.uuid));
  const cards = free.slice(0, n);
  for (const d of cards) if (d.kind === "cuda") taken.add(d.uuid);
  return cards;
}
