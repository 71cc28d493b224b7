/**
 * The supervisor spec: the one file that draws the actor tree, and `runMiner`, which runs it until a
 * stop is requested or a supervisor escalates. Children start in order (the chain first, the axon
 * last: the door opens when everything behind it is up) and stop in reverse.
 */
import { getLogger } from "@logtape/logtape";
import type { MinerConfig } from "../core/config.ts";
import { type Device, deviceKey } from "../core/device.ts";
import type { ModelCacheSnapshot } from "../core/model_cache.ts";
import { manifestPath, modelUsePath, rayKeyPath, storePath } from "../core/paths.ts";
import { Store } from "../core/store.ts";
import { claimPidFile } from "../core/status.ts";
import type { Task } from "../core/task.ts";
import { loadWallet, passwordEnvName, type Wallet } from "../core/wallet.ts";
import { axonOptions, type CapacitySnapshot, startAxonActor } from "./axon/axon_actor.ts";
import { startCacheActor } from "./cache/cache_actor.ts";
import { startChainActor } from "./chain/chain_actor.ts";
import { configuredModels } from "./doctor/probes.ts";
import { preflightOrThrow } from "./doctor/doctor.ts";
import { discoverDevices } from "./gpu/devices.ts";
import { startGpuActor } from "./gpu/gpu_actor.ts";
import { startPipelineActor } from "./pipeline/pipeline_actor.ts";
import { SYNAPSES } from "./axon/synapses.ts";
import { startStatusActor } from "./status/status_actor.ts";
import { statusDepsOf } from "./status/sources.ts";
import { tallyStore } from "./status/tally.ts";
import { Telemetry } from "./status/telemetry.ts";
import {
  type AcceptResult,
  acceptTask,
  type AxonMsg,
  type ChainMsg,
  type GpuMsg,
  lookupHotkey,
  type PipelineMsg,
  type QueueMsg,
  queueSnapshot,
  reportTo,
  running,
  type TaskCenterMsg,
  type UploadMsg,
  withdrawTask,
} from "./protocol.ts";
import { downloadEstimateS } from "./queue/placement.ts";
import { admissionPolicyOf } from "./queue/policy.ts";
import { startQueueActor } from "./queue/queue_actor.ts";
import { type JobFilesServer, startJobFilesServer } from "./ray/job_files_server.ts";
import { loadOrCreateKey } from "./ray/job_tokens.ts";
import { startRayActor } from "./ray/ray_actor.ts";
import { rayClient } from "./ray/ray_client.ts";
import { trainerPackage } from "./ray/trainer_package.ts";
import type { ActorRef } from "./runtime/actor.ts";
import { type ChildSpec, startSupervisor, type Supervisor } from "./runtime/supervisor.ts";
import { startTaskCenterActor } from "./task_center/task_center_actor.ts";
import { startUploadActor, uploadDepsFrom } from "./upload/upload_actor.ts";

const log = getLogger(["satori", "tree"]);

/** The repo root: where the `trainer` package lives. */
const TRAINER_ROOT = new URL("..", import.meta.url).pathname;
const GPU_GRACE_MS = 30_000;

/** `telemetry`: what the hooks feed and the status server reads; `store` reports its writes to it. */
export type MinerParts = {
  cfg: MinerConfig;
  store: Store;
  wallet: Wallet;
  /** This machine's devices; with `cluster.backend: ray` the cluster's come from the RayActor. */
  devices: Device[];
  telemetry: Telemetry;
  /** With `cluster.backend: ray`: the server nodes fetch datasets from and send adapters to. */
  rayFiles?: JobFilesServer;
};

export type RunOptions = {
  stopRequested: Promise<unknown>;
  stopDeadlineMs: number;
  /** Called once the whole tree is up (local mode sends its task then). */
  onStarted?: (sup: Supervisor, parts: MinerParts) => void | Promise<void>;
  /** Extra environment for trainers (local mode: offline HF). */
  trainerEnv?: Record<string, string>;
  /** Told when a task reaches an end state, for `local` and tests. */
  onSettled?: (task: Task) => void;
};

/** Runs the miner until `stopRequested` resolves (exit 0) or a supervisor gives up (exit 1). */
export async function runMiner(cfg: MinerConfig, opts: RunOptions): Promise<number> {
  await using _pid = await claimPidFile(cfg);
  await using opened = await Store.open(storePath(cfg.miner.data_dir));
  const telemetry = new Telemetry({ synapses: Object.keys(SYNAPSES) });
  // Tasks by state are counted from each write as it lands: the status server never scans the store.
  const store = await tallyStore(opened, telemetry.tasks);
  const { wallet, warnings } = await loadWallet({
    root: cfg.wallet.path,
    name: cfg.wallet.name,
    hotkey: cfg.wallet.hotkey,
    env: Deno.env.toObject(),
    // A password-protected hotkey is decrypted here, once: BT_PW_…, then this file, then a prompt.
    passwordFile: cfg.wallet.password_file,
    terminal: { stdin: Deno.stdin, output: Deno.stderr },
  });
  // Trainers inherit this process's environment and have no use for the hotkey's password.
  Deno.env.delete(passwordEnvName(wallet.path));
  await preflightOrThrow(cfg); // doctor's free checks: the port, the trainer's Python, writable folders
  for (const w of warnings) log.warn(w);
  // With Ray, training runs on the cluster's cards (the RayActor reports them), none of this box's.
  const ray = cfg.cluster.backend === "ray";
  const { devices, note } = ray
    ? { devices: [], note: null }
    : await discoverDevices(cfg.runtime.visibleDevices?.join(","), cfg.miner.devices);
  if (note) log.warn(note);
  log.info("Miner {hotkey} on netuid {netuid}: {devices}", {
    hotkey: wallet.hotkey.ss58,
    netuid: cfg.bittensor.netuid,
    devices: ray ? `the Ray cluster at ${cfg.cluster.ray.address}` : devices.map((d) => d.name).join(", "),
  });

  // The files server lives as long as the process, so a restarted RayActor's jobs keep their URLs.
  await using rayFiles = cfg.cluster.backend === "ray" ? await startRayFiles(cfg) : undefined;
  const parts: MinerParts = { cfg, store, wallet, devices, telemetry, rayFiles };
  let sup: Supervisor;
  try {
    sup = await startSupervisor(minerSpec(parts, () => sup, opts));
  } catch (e) {
    log.error("{error}", { error: (e as Error).message });
    return 1;
  }
  await opts.onStarted?.(sup, parts);

  const ended = await Promise.race([
    sup.done.then(() => ({ kind: "stopped" as const }), (error) => ({ kind: "escalated" as const, error })),
    opts.stopRequested.then(() => ({ kind: "stop" as const })),
  ]);
  if (ended.kind === "escalated") {
    log.fatal("{error}", { error: (ended.error as Error).message });
    return 1;
  }
  if (ended.kind === "stop") {
    log.info("Stopping: children stop in reverse order");
    const deadline = new Promise<"late">((r) => setTimeout(() => r("late"), opts.stopDeadlineMs));
    if (await Promise.race([sup.stop(), deadline]) === "late") {
      log.error("Stop took longer than {ms} ms; exiting anyway", { ms: opts.stopDeadlineMs });
      return 1;
    }
  }
  log.info("Stopped");
  return 0;
}

/** The job files server on `cluster.ray.files`, signing with the key kept in the data dir. */
export async function startRayFiles(cfg: MinerConfig): Promise<JobFilesServer> {
  const { files } = cfg.cluster.ray;
  return await startJobFilesServer({
    dataDir: cfg.miner.data_dir,
    key: await loadOrCreateKey(rayKeyPath(cfg.miner.data_dir)),
    hostname: files.listen,
    port: files.port,
    publicUrl: files.url ?? undefined,
    maxFileBytes: files.max_file_bytes,
  });
}

async function capacity(
  queue: ActorRef<QueueMsg>,
  devices: readonly Device[],
  max: number,
): Promise<CapacitySnapshot> {
  const snap = await queueSnapshot(queue);
  const gpus = devices.filter((d) => d.kind === "cuda");
  return {
    totalGpus: gpus.length,
    freeGpus: gpus.length === 0 ? 0 : snap.idle.length,
    vramMb: gpus.map((d) => (d.kind === "cuda" ? d.memoryTotalMb : 0)),
    queueLength: snap.admitted,
    queueMax: max,
  };
}

/** The tree, as data. `sup` is read lazily: children look each other up when a message needs sending. */
export function minerSpec(
  parts: MinerParts,
  sup: () => Supervisor,
  opts: Pick<RunOptions, "trainerEnv" | "onSettled"> = {},
) {
  const { cfg, store, wallet, telemetry } = parts;
  const ray = cfg.cluster.backend === "ray";
  // With Ray, the cluster's cards as the RayActor last saw them (one writer: its poll).
  let rayDevices: Device[] = [];
  const devices = () => (ray ? rayDevices : parts.devices);
  // Every trainer reads base models from the one cache the CacheActor fills.
  const trainerEnv = { HF_HUB_CACHE: cfg.training.cache_dir, ...opts.trainerEnv };
  // The CacheActor's latest snapshot: one writer, read by the queue's admission for download times.
  let models: ModelCacheSnapshot["models"] = [];
  const child = <M>(id: string) => () => sup()?.child<ActorRef<M>>(id);
  const chain = child<ChainMsg>("chain");
  const pipeline = child<PipelineMsg>("pipeline");
  let gpus: Supervisor | undefined;
  const gpuChildren: ChildSpec[] = (ray ? [] : parts.devices).map((device) => ({
    id: `gpu:${deviceKey(device)}`,
    shutdownMs: GPU_GRACE_MS + 10_000,
    start: () =>
      startGpuActor({
        device,
        dataDir: cfg.miner.data_dir,
        python: cfg.training.python,
        trainerRoot: TRAINER_ROOT,
        timeLimitMs: cfg.miner.task_time_limit_s * 1000,
        graceMs: GPU_GRACE_MS,
        env: trainerEnv,
      }),
  }));
  const restarts = () => ({ ...sup()?.restarts().byChild, ...gpus?.restarts().byChild });
  const refused = (r: AcceptResult) => {
    if (!r.ok) telemetry.onRefusal(r.reason);
    return r;
  };
  const children: ChildSpec[] = [
    // First up, last down: the operator sees the miner start and stop.
    ...(cfg.status.enabled
      ? [{
        id: "status",
        shutdownMs: 3_000,
        start: () =>
          // With Ray, the page shows the cluster's cards, each with the task it runs.
          startStatusActor(
            statusDepsOf(cfg, { hotkey: wallet.hotkey.ss58, devices, telemetry }, {
              queue: child<QueueMsg>("queue"),
              chain,
              axon: child<AxonMsg>("axon"),
              restarts,
            }),
          ),
      }]
      : []),
    { id: "chain", shutdownMs: 5_000, start: () => startChainActor({ config: cfg, signer: wallet }) },
    // Before the queue: its recovery adopts the jobs the RayActor found running.
    ...(ray ? [rayChild(parts, trainerEnv, (d) => (rayDevices = d))] : []),
    {
      id: "queue",
      start: () =>
        startQueueActor({
          store,
          devices,
          gpu: (d) => (ray ? child<GpuMsg>("ray")() : gpus?.child<ActorRef<GpuMsg>>(`gpu:${deviceKey(d)}`)),
          maxQueueSize: cfg.miner.max_queue_size,
          maxAttempts: cfg.miner.max_attempts,
          policy: {
            ...admissionPolicyOf(cfg),
            downloadS: (m) => downloadEstimateS(m, models.find((c) => c.model === m)),
          },
          maxInterruptions: cfg.miner.max_interruptions,
          dataDir: cfg.miner.data_dir,
          manifestFile: (t) => manifestPath(cfg.miner.data_dir, t.request.id),
          onTrained: ({ task }) => void reportTo(pipeline(), { kind: "trained", task }),
          onReport: telemetry.onGpuReport,
        }),
    },
    ...(ray ? [] : [{
      id: "gpus",
      shutdownMs: GPU_GRACE_MS + 15_000,
      // Intensities multiply: a flapping GPU gets a small budget before the whole miner hears of it.
      start: async () =>
        gpus = await startSupervisor({
          name: "gpus",
          strategy: "one_for_one",
          intensity: 3,
          periodMs: 60_000,
          backoff: { minMs: 1_000, maxMs: 30_000, jitter: 0.2 },
          children: gpuChildren,
        }),
    }]),
    {
      id: "cache",
      shutdownMs: 10_000,
      start: () =>
        startCacheActor({
          python: cfg.training.python,
          trainerRoot: TRAINER_ROOT,
          cacheDir: cfg.training.cache_dir,
          hubUrl: cfg.huggingface.hub_url,
          token: cfg.huggingface.token ?? undefined,
          env: { ...Deno.env.toObject(), ...opts.trainerEnv },
          budgetBytes: cfg.training.cache_max_gb * 1e9,
          models: configuredModels(cfg),
          store,
          usageFile: modelUsePath(cfg.miner.data_dir),
          publish: (snap) => (models = snap.models),
        }),
    },
    {
      id: "upload",
      shutdownMs: 30_000,
      start: () => startUploadActor({ ...uploadDepsFrom(cfg), onRetry: telemetry.onUploadRetry }),
    },
    {
      id: "taskCenter",
      shutdownMs: 5_000,
      start: () =>
        startTaskCenterActor({
          store,
          signer: wallet,
          taskCenter: cfg.task_center,
          dataDir: cfg.miner.data_dir,
          hubUrl: cfg.huggingface.hub_url,
          hfToken: cfg.huggingface.token ?? undefined,
          dataset: cfg.dataset,
          report: (r) => void reportTo(pipeline(), r),
          onRetry: telemetry.onTaskCenterRetry,
        }),
    },
    {
      // After the actors it asks, before the door: it resumes unfinished tasks as it starts.
      id: "pipeline",
      shutdownMs: 5_000,
      start: () =>
        startPipelineActor({
          store,
          queue: child<QueueMsg>("queue"),
          taskCenter: child<TaskCenterMsg>("taskCenter"),
          upload: child<UploadMsg>("upload"),
          onSettled: opts.onSettled,
        }),
    },
    ...(cfg.axon.enabled
      ? [
        {
          id: "axon",
          shutdownMs: 2_000,
          start: () =>
            startAxonActor(axonOptions(cfg), {
              wallet,
              lookup: (hotkey: string) => lookupHotkey(running(chain(), "chain actor"), hotkey),
              acceptTask: (request, sender) =>
                acceptTask(running(pipeline(), "task pipeline"), request, sender).then(refused),
              cancelTask: (id: string) => withdrawTask(running(pipeline(), "task pipeline"), id),
              taskStatus: (id: string) => store.getTask(id),
              onReply: telemetry.onAxonReply,
              capacity: () =>
                capacity(
                  running(child<QueueMsg>("queue")(), "queue actor"),
                  devices(),
                  cfg.miner.max_queue_size,
                ),
            }),
        } satisfies ChildSpec,
      ]
      : []),
  ];
  return {
    name: "miner",
    strategy: "one_for_one" as const,
    intensity: 5,
    periodMs: 60_000, // a burst of 5, then at most one restart per 12 s
    backoff: { minMs: 200, maxMs: 10_000, jitter: 0.2 },
    children,
  };
}

/** The Ray backend in place of the GPU actors (cluster.backend: ray). */
function rayChild(
  parts: MinerParts,
  trainerEnv: Record<string, string>,
  publish: (devices: Device[]) => void,
): ChildSpec {
  const { cfg, store, rayFiles } = parts;
  const r = cfg.cluster.ray;
  if (!rayFiles || r.token === null) {
    throw new Error("cluster.backend is ray but its files server or token is missing");
  }
  // The node has its own model cache; what the local trainers share here means nothing there.
  const { HF_HUB_CACHE: _, ...env } = trainerEnv;
  return {
    id: "ray",
    shutdownMs: 15_000,
    start: async () =>
      await startRayActor({
        client: rayClient({ address: r.address, token: r.token! }),
        store,
        dataDir: cfg.miner.data_dir,
        trainerPackage: await trainerPackage(TRAINER_ROOT),
        files: rayFiles,
        python: r.python,
        nodeWorkDir: r.work_dir,
        stopWaitS: r.stop_wait_s,
        gpuMemoryMb: r.gpu_memory_mb,
        pollMs: r.poll_interval_s * 1000,
        startTimeoutMs: r.start_timeout_s * 1000,
        timeLimitMs: cfg.miner.task_time_limit_s * 1000,
        env,
        publish,
      }),
  };
}
