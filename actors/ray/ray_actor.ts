/**
 * RayActor: the Ray backend, with the local GpuActors' contract (GpuMsg: train, cancel, adopt; the
 * same reports: events, then exactly one `ended` per job) for every GPU of a Ray cluster the miner
 * owns. The queue stays the single source of truth: it sees each card of each live node as a device
 * (`devices`, published on every poll), so it never submits more than the cluster can start, and
 * each job is pinned to the node its cards are on. A run is one Ray job (submission id: task id and
 * run number); its log is read through the same decoder as a local trainer's stdout. The node pulls
 * its dataset and pushes its adapter through the job files server, which the miner's process owns, so
 * the URLs of running jobs outlive a restart of this actor.
 *
 * On start it checks the token, ships the trainer package and reconciles every `training` task: a job
 * Ray still runs is followed again, a finished one reports its outcome, and one Ray never heard of
 * (the head restarted) is left to the queue, which gives the task its next run.
 */
import { getLogger } from "@logtape/logtape";
import { assertNever } from "../../core/errors.ts";
import type { Device } from "../../core/device.ts";
import { type Task, trainingRuns } from "../../core/task.ts";
import type { GpuAdoption, GpuMsg, GpuReporter } from "../protocol.ts";
import { type ActorRef, ask, type Clock, realClock, spawn } from "../runtime/actor.ts";
import { finish, follow, isEnded, onLogs, sendStop, settle, startTail, stopRun } from "./ray_follow.ts";
import { clusterDevices, submissionId } from "./ray_jobs.ts";
import type { Msg, RayDeps, Run, State } from "./ray_state.ts";
import { train } from "./ray_submit.ts";

export type { RayDeps } from "./ray_state.ts";

const log = getLogger(["satori", "ray"]);

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
    nodesReadMs: -Infinity,
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
    case "logs": {
      const ending = onLogs(state, msg.taskId, msg.sid, msg.text, msg.from);
      if (ending) return await tick(state); // its last event: the job is about to end
      return;
    }
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
  state.nodesReadMs = state.clock.now();
  state.devices = clusterDevices(state.nodes, state.deps.gpuMemoryMb);
  state.deps.publish(state.devices);
}

/** Polls the nodes and every run's job; settles what ended, stops what overstayed. */
async function tick(state: State): Promise<void> {
  const { deps, clock } = state;
  clock.clearTimeout(state.timer); // a run's last event may call a tick early: one timer at a time
  try {
    // Everything at the normal pace; between, only the jobs that are changing (the quick polls).
    const full = clock.now() - state.nodesReadMs >= deps.pollMs;
    if (full) await refreshNodes(state);
    for (const run of [...state.runs.values()]) {
      if (!full && !changing(run)) continue;
      const job = await deps.client.job(run.sid);
      const now = clock.now();
      if (job === null) {
        // The head restarted and forgot it: a crash, retried by the queue as the next run.
        finish(state, run, { ok: false, code: "crashed", message: `Ray lost job ${run.sid}` });
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
        finish(state, run, { ok: false, code: "crashed", message });
        continue;
      }
      if (run.stopping !== null && !run.stopSent) await sendStop(state, run);
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
    const soon = [...state.runs.values()].some(changing);
    state.timer = clock.setTimeout(
      () => state.self.offer({ type: "tick" }),
      soon ? QUICK_POLL_MS : deps.pollMs,
    );
  }
}

/**
 * While a job starts, ends or stops, its state is read every QUICK_POLL_MS: its log is followed as soon
 * as it runs, and its cards go back to the queue as soon as it ends (the next task waits on that).
 */
const QUICK_POLL_MS = 250;

function changing(run: Run): boolean {
  return !run.started || run.stopping !== null || run.log.end.done !== null || run.log.end.error !== null;
}

function adopt(state: State, report: GpuReporter): GpuAdoption {
  for (const run of state.runs.values()) run.report = report;
  // A job that ended while no queue listened is still the queue's running task until its report lands.
  const running = [
    ...[...state.runs.values()].map((r) => ({ taskId: r.taskId, devices: r.devices })),
    ...state.unreported.map((m) => ({ taskId: m.report.taskId, devices: m.devices })),
  ];
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
    const sid = submissionId(id, trainingRuns(task));
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
