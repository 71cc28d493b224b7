/**
 * A miner's task path without its chain and axon: the real QueueActor, GpuActor (running the fake
 * trainer, tests/gpu_fake_python.sh), UploadActor against the local Hub, TaskCenterActor against the
 * local task center, and the PipelineActor, under one real supervisor; Deno KV on disk. Tests take a
 * validator's part with `accept`, and may wrap a child's start (to hold an actor down) through `hold`.
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
  type PipelineMsg,
  type QueueMsg,
  reportTo,
  type TaskCenterMsg,
  type UploadMsg,
} from "../actors/protocol.ts";
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

export type Harness = AsyncDisposable & {
  sup: Supervisor;
  store: Store;
  dataDir: string;
  taskCenter: TaskCenterServer;
  hub: HubServer;
  settled: Task[];
  child<M>(id: ChildId): ActorRef<M> | undefined;
  accept(request: TaskRequest): Promise<AcceptResult>;
};

/** A text task the fake trainer turns into an uploadable adapter, its dataset at DATASET_HOST. */
export function pipelineRequest(id: string): TaskRequest {
  return TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "url", url: `${DATASET_HOST}/train.jsonl`, sha256: sha256(FILES.get("train.jsonl")!) },
    training: { base_model: "fake:adapter", hyperparameters: { max_steps: 2 } },
  });
}

export async function startHarness(
  opts: { dataDir?: string; hold?: (id: ChildId, start: () => Promise<Child>) => Promise<Child> } = {},
): Promise<Harness> {
  const dataDir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "pipeline-" });
  const signer = await testSigner();
  const taskCenter = await TaskCenterServer.start({ knownHotkeys: [signer.hotkey.ss58] });
  const hub = await startHubServer();
  const store = await Store.open(storePath(dataDir));
  const settled: Task[] = [];
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
        manifestFile: (t) => manifestPath(dataDir, t.request.id),
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
        startUploadActor({ hubUrl: hub.url, token: hub.hub.token, username: null, private: true }),
      ),
    taskCenter: () =>
      Promise.resolve(startTaskCenterActor({
        store,
        signer,
        taskCenter: { url: taskCenter.url, ...TASK_CENTER },
        dataDir,
        hubUrl: hub.url,
        fetch: datasetFetch(FILES),
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
    await taskCenter[Symbol.asyncDispose]();
    await hub.close();
  };
  return {
    sup: running,
    store,
    dataDir,
    taskCenter,
    hub,
    settled,
    child,
    accept: (request) => acceptTask(pipeline()!, request, { hotkey: "5Validator", stakeTao: 1_000 }),
    [Symbol.asyncDispose]: close,
  };
}
