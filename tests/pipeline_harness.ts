/**
 * A miner's task path without its chain and axon: the real QueueActor, GpuActor (running the fake
 * trainer, tests/gpu_fake_python.sh), UploadActor against the local Hub, TaskCenterActor against the
 * local task center, and the PipelineActor, under one real supervisor; Deno KV on disk. Tests take a
 * validator's part with `accept`, and may wrap a child's start (to hold an actor down) through `hold`.
 * `startHarness` starts its own task center and Hub; `startPipelineMiner` uses servers that live
 * elsewhere (tests/pipeline_crash_entry.ts, a miner the crash test SIGKILLs while its servers live on).
 */
import { CPU_DEVICE, deviceKey } from "../core/device.ts";
import { manifestPath, storePath } from "../core/paths.ts";
import { Store } from "../core/store.ts";
import { type Task, TaskRequest } from "../core/task.ts";
import { startGpuActor } from "../actors/gpu/gpu_actor.ts";
import { startPipelineActor } from "../actors/pipeline/pipeline_actor.ts";
import {
  type AcceptResult,
  acceptTask,
  type GpuMsg,
  type GpuReport,
  type PipelineMsg,
  type QueueMsg,
  reportTo,
  type TaskCenterMsg,
  type UploadMsg,
} from "../actors/protocol.ts";
import { admissionPolicy } from "../actors/queue/policy.ts";
import { startQueueActor } from "../actors/queue/queue_actor.ts";
import type { ActorRef, Child } from "../actors/runtime/actor.ts";
import { type ChildSpec, startSupervisor, type Supervisor } from "../actors/runtime/supervisor.ts";
import { startTaskCenterActor } from "../actors/task_center/task_center_actor.ts";
import { startUploadActor } from "../actors/upload/upload_actor.ts";
import { type HubServer, startHubServer } from "../local/hub_server.ts";
import { TaskCenterServer } from "../local/task_center_server.ts";
import { DATASET_HOST, datasetFetch, JSONL, sha256, testSigner } from "./task_center_fixtures.ts";

const FAKE_PYTHON = new URL("./gpu_fake_python.sh", import.meta.url).pathname;
const TASK_CENTER = {
  request_timeout_s: 5,
  poll_interval_s: 1,
  validation_timeout_s: 300,
  retry_max_delay_s: 2,
};
const FILES = new Map([["train.jsonl", new TextEncoder().encode(JSONL)]]);

export type ChildId = "queue" | "gpus" | "upload" | "taskCenter" | "pipeline";

/** The miner's half of the harness: its actors and store, and no servers. */
export type PipelineMiner = AsyncDisposable & {
  sup: Supervisor;
  store: Store;
  dataDir: string;
  settled: Task[];
  child<M>(id: ChildId): ActorRef<M> | undefined;
  accept(request: TaskRequest): Promise<AcceptResult>;
};

export type Harness = PipelineMiner & {
  taskCenter: TaskCenterServer;
  hub: HubServer;
};

export type Hold = (id: ChildId, start: () => Promise<Child>) => Promise<Child>;

export type MinerOptions = {
  dataDir?: string;
  hold?: Hold;
  /** The task center's origin; its known hotkeys must hold the signer's. */
  taskCenterUrl: string;
  hub: { url: string; token: string };
  /** The miner's hotkey seed (tests/task_center_fixtures.ts testSigner); "//Alice" unless set. */
  signerUri?: string;
  /** Every report of the GpuActor, as the queue receives it. */
  onGpuReport?: (report: GpuReport) => void;
};

/**
 * A text task the fake trainer turns into an uploadable adapter, its dataset at DATASET_HOST;
 * `baseModel` picks another fake:* mode of tests/gpu_fake_python.sh (fake:slow, for a kill mid-run).
 */
export function pipelineRequest(id: string, baseModel = "fake:adapter"): TaskRequest {
  return TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "url", url: `${DATASET_HOST}/train.jsonl`, sha256: sha256(FILES.get("train.jsonl")!) },
    training: { base_model: baseModel, hyperparameters: { max_steps: 2 } },
  });
}

/** The whole path with its own local task center and Hub, closed with it. */
export async function startHarness(
  opts: { dataDir?: string; hold?: Hold } = {},
): Promise<Harness> {
  const signer = await testSigner();
  const taskCenter = await TaskCenterServer.start({ knownHotkeys: [signer.hotkey.ss58] });
  const hub = await startHubServer();
  const servers = async () => {
    await taskCenter[Symbol.asyncDispose]();
    await hub.close();
  };
  const miner = await startPipelineMiner({
    ...opts,
    taskCenterUrl: taskCenter.url,
    hub: { url: hub.url, token: hub.hub.token },
  }).catch(async (e) => {
    await servers();
    throw e;
  });
  const close = async () => {
    await miner[Symbol.asyncDispose]();
    await servers();
  };
  return { ...miner, taskCenter, hub, [Symbol.asyncDispose]: close };
}

/** The miner's actors under one supervisor, against a task center and a Hub that outlive it. */
export async function startPipelineMiner(opts: MinerOptions): Promise<PipelineMiner> {
  const dataDir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "pipeline-" });
  const signer = await testSigner(opts.signerUri);
  const store = await Store.open(storePath(dataDir));
  const settled: Task[] = [];
  // Assigned once, but `child` reads it while the children start, before startSupervisor returns.
  // deno-lint-ignore prefer-const
  let sup: Supervisor | undefined;
  let gpus: Supervisor | undefined;
  const child = <M>(id: ChildId) => sup?.child<ActorRef<M>>(id);
  const pipeline = () => child<PipelineMsg>("pipeline");
  const starts: Record<ChildId, () => Promise<Child>> = {
    queue: () =>
      Promise.resolve(startQueueActor({
        store,
        devices: [CPU_DEVICE],
        gpu: (d) => gpus?.child<ActorRef<GpuMsg>>(`gpu:${deviceKey(d)}`),
        maxQueueSize: 10,
        maxAttempts: 3,
        dataDir,
        // The fake trainer's modes (pipelineRequest) and the axon fixtures' model, allowed as an
        // operator would list a model.
        policy: admissionPolicy({ allowedBaseModels: ["fake:adapter", "fake:slow", "tiny-llama"] }),
        manifestFile: (t) => manifestPath(dataDir, t.request.id),
        onReport: opts.onGpuReport,
        onTrained: ({ task }) => void reportTo(pipeline(), { kind: "trained", task }),
      })),
    gpus: async () =>
      gpus = await startSupervisor({
        name: "gpus",
        strategy: "one_for_one",
        intensity: 3,
        periodMs: 60_000,
        backoff: { minMs: 100, maxMs: 1_000, jitter: 0 },
        children: [{
          id: "gpu:cpu",
          shutdownMs: 10_000,
          start: () =>
            startGpuActor({
              device: CPU_DEVICE,
              dataDir,
              python: FAKE_PYTHON,
              trainerRoot: Deno.cwd(),
              timeLimitMs: 60_000,
              graceMs: 2_000,
            }),
        }],
      }),
    upload: () =>
      Promise.resolve(
        startUploadActor({ hubUrl: opts.hub.url, token: opts.hub.token, username: null, private: true }),
      ),
    taskCenter: () =>
      Promise.resolve(startTaskCenterActor({
        store,
        signer,
        taskCenter: { url: opts.taskCenterUrl, ...TASK_CENTER },
        dataDir,
        hubUrl: opts.hub.url,
        fetch: datasetFetch(FILES),
        dataset: { allow_hosts: [new URL(DATASET_HOST).hostname] }, // a fake host: never resolved
        report: (r) => void reportTo(pipeline(), r),
      })),
    pipeline: () =>
      Promise.resolve(startPipelineActor({
        store,
        queue: () => child<QueueMsg>("queue"),
        taskCenter: () => child<TaskCenterMsg>("taskCenter"),
        upload: () => child<UploadMsg>("upload"),
        backoff: { minMs: 200, maxMs: 2_000, jitter: 0 },
        onSettled: (t) => settled.push(t),
      })),
  };
  const children: ChildSpec[] = (Object.keys(starts) as ChildId[]).map((id) => ({
    id,
    shutdownMs: 15_000,
    start: () => opts.hold ? opts.hold(id, starts[id]) : starts[id](),
  }));
  sup = await startSupervisor({
    name: "harness",
    strategy: "one_for_one",
    intensity: 20,
    periodMs: 60_000,
    backoff: { minMs: 100, maxMs: 1_000, jitter: 0 },
    children,
  });
  const running = sup;
  const close = async () => {
    await running.stop();
    store.close();
  };
  return {
    sup: running,
    store,
    dataDir,
    settled,
    child,
    accept: (request) => acceptTask(pipeline()!, request, { hotkey: "5Validator", stakeTao: 1_000 }),
    [Symbol.asyncDispose]: close,
  };
}
