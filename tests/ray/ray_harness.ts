/**
 * The miner's training half on a real Ray cluster (scripts/ray_cluster.sh): the real QueueActor, the
 * RayActor, the job files server and Deno KV on disk, under one supervisor. Tasks go in already
 * validated (their dataset copied in with a real manifest), as the task center actor leaves them;
 * the trainer is the real one (python -m trainer remote → run) on the tiny Llama.
 */
import { buildManifest } from "../../actors/task_center/dataset/describe.ts";
import { datasetDir, manifestPath, rayKeyPath, storePath } from "../../core/paths.ts";
import { Store } from "../../core/store.ts";
import { newTask, type Task, TaskRequest, transition } from "../../core/task.ts";
import { type Device, hostOf } from "../../core/device.ts";
import { enqueue, type GpuMsg, type GpuReport, type QueueMsg } from "../../actors/protocol.ts";
import { admissionPolicy } from "../../actors/queue/policy.ts";
import { startQueueActor } from "../../actors/queue/queue_actor.ts";
import { type JobFilesServer, startJobFilesServer } from "../../actors/ray/job_files_server.ts";
import { loadOrCreateKey } from "../../actors/ray/job_tokens.ts";
import { startRayActor } from "../../actors/ray/ray_actor.ts";
import { type RayClient, rayClient } from "../../actors/ray/ray_client.ts";
import { trainerPackage } from "../../actors/ray/trainer_package.ts";
import type { ActorRef } from "../../actors/runtime/actor.ts";
import { startSupervisor, type Supervisor } from "../../actors/runtime/supervisor.ts";
import { PYTHON, ROOT, tinyText, tinyTraining, TRAINER_ENV } from "../queue_tiny_text.ts";
import { rayAddress, rayToken } from "./cluster.ts";

export type RayMiner = AsyncDisposable & {
  sup: Supervisor;
  store: Store;
  dataDir: string;
  client: RayClient;
  files: JobFilesServer;
  reports: GpuReport[];
  devices: () => Device[];
  queue(): ActorRef<QueueMsg>;
  /** Stores a validated text task for the tiny Llama and queues it; `onEnqueue` runs just before the enqueue. */
  submit(
    id: string,
    opts?: { maxSteps?: number; checkpointEvery?: number; onEnqueue?: () => void },
  ): Promise<Task>;
  waitState(id: string, states: string[], timeoutMs?: number): Promise<Task>;
};

export type RayMinerOptions = {
  dataDir?: string;
  /** Where nodes keep task folders; one per test file, so runs do not resume each other's checkpoints. */
  nodeWorkDir?: string;
  onReport?: (report: GpuReport) => void;
  token?: string;
  stopWaitS?: number;
  /** Wraps the RayActor's client: a test makes the head fail a call. */
  wrapClient?: (client: RayClient) => RayClient;
  /** The files server's port: fixed across a restart (as `cluster.ray.files.port` is), else any. */
  filesPort?: number;
  /** Only these nodes' cards reach the queue (a one-node baseline on the same cluster); default all. */
  onlyHosts?: string[];
};

export async function startRayMiner(opts: RayMinerOptions = {}): Promise<RayMiner> {
  const dataDir = opts.dataDir ?? await Deno.makeTempDir({ prefix: "ray-miner-" });
  const nodeWorkDir = opts.nodeWorkDir ?? await Deno.makeTempDir({ prefix: "ray-node-" });
  const store = await Store.open(storePath(dataDir));
  const client = rayClient({ address: rayAddress(), token: opts.token ?? rayToken() });
  const files = await startJobFilesServer({
    dataDir,
    key: await loadOrCreateKey(rayKeyPath(dataDir)),
    hostname: "127.0.0.1",
    port: opts.filesPort ?? 0,
    maxFileBytes: 1024 ** 3,
  });
  const pkg = await trainerPackage(ROOT);
  const reports: GpuReport[] = [];
  let devices: Device[] = [];
  let sup: Supervisor | undefined = undefined;
  const child = <M>(id: string) => sup?.child<ActorRef<M>>(id);
  try {
    sup = await startSupervisor({
      name: "ray-harness",
      strategy: "one_for_one",
      intensity: 10,
      periodMs: 60_000,
      backoff: { minMs: 100, maxMs: 1_000, jitter: 0 },
      children: [
        {
          id: "ray",
          shutdownMs: 15_000,
          start: () =>
            startRayActor({
              client: opts.wrapClient?.(client) ?? client,
              store,
              dataDir,
              trainerPackage: pkg,
              files,
              python: PYTHON,
              nodeWorkDir,
              stopWaitS: opts.stopWaitS ?? 60,
              gpuMemoryMb: 81_920,
              pollMs: 500,
              startTimeoutMs: 60_000,
              timeLimitMs: 600_000,
              env: TRAINER_ENV,
              publish: (d) => (devices = opts.onlyHosts
                ? d.filter((x) => opts.onlyHosts!.includes(hostOf(x)))
                : d),
            }),
        },
        {
          id: "queue",
          shutdownMs: 15_000,
          start: () =>
            startQueueActor({
              store,
              devices: () => devices,
              gpu: () => child<GpuMsg>("ray"),
              maxQueueSize: 20,
              maxAttempts: 3,
              dataDir,
              policy: admissionPolicy({ allowedBaseModels: [TINY_MODEL_DIR] }),
              manifestFile: (t) => manifestPath(dataDir, t.request.id),
              onReport: (r) => {
                reports.push(r);
                opts.onReport?.(r);
              },
              progressWriteMs: 0,
            }),
        },
      ],
    });
  } catch (e) {
    await files.close();
    store.close();
    throw e;
  }
  const started = sup;
  const tiny = await tinyText();
  const miner: RayMiner = {
    sup: started,
    store,
    dataDir,
    client,
    files,
    reports,
    devices: () => devices,
    queue: () => child<QueueMsg>("queue")!,
    async submit(id, o = {}) {
      const task = await validatedTinyTask(store, dataDir, tiny.model, tiny.dataset, id, {
        maxSteps: o.maxSteps ?? 6,
        checkpointEvery: o.checkpointEvery ?? 2,
      });
      o.onEnqueue?.();
      const queued = await enqueue(miner.queue(), task);
      if (!queued.ok) throw new Error(`Cannot queue ${id}: ${queued.message}`);
      return task;
    },
    async waitState(id, states, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Task | null = null;
      while (Date.now() < deadline) {
        last = await store.getTask(id);
        if (last && states.includes(last.state)) return last;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(
        `Task ${id} did not reach ${states.join("/")} in ${timeoutMs} ms (it is ${last?.state})`,
      );
    },
    [Symbol.asyncDispose]: async () => {
      await started.stop();
      await files.close();
      store.close();
    },
  };
  return miner;
}

/**
 * A validated text task for the tiny Llama, as the task center actor leaves one: its dataset copied to
 * where the queue looks, with a real manifest, stored in `dataset_validated`, ready for `enqueue`.
 */
export async function validatedTinyTask(
  store: Store,
  dataDir: string,
  model: string,
  dataset: string,
  id: string,
  o: { maxSteps: number; checkpointEvery: number },
): Promise<Task> {
  const training = tinyTraining(model, o.maxSteps);
  training.hyperparameters.checkpoint_every = o.checkpointEvery;
  const request = TaskRequest.parse({
    id,
    type: "text",
    dataset: { kind: "hf", repo: "satori/toy", revision: "main" },
    training,
  });
  const dir = datasetDir(dataDir, id);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.copyFile(`${dataset}/train.jsonl`, `${dir}/train.jsonl`);
  const manifest = await buildManifest(dir, id, request.dataset, "hf");
  await Deno.writeTextFile(manifestPath(dataDir, id), JSON.stringify(manifest));
  const now = Date.now();
  const task = transition(
    transition(newTask(request, "5Validator", now, 1_000), { type: "submitDataset" }, now),
    { type: "datasetValidated" },
    now,
  );
  await store.createTask(task);
  return task;
}

/** The tiny model's folder, as the queue's allow-list names it (tests/queue_tiny_text.ts builds it there). */
const TINY_MODEL_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/satori-tiny-text-v1/model`;

/** Every job Ray has whose submission id starts with `prefix` (GET /api/jobs/). */
export async function jobsLike(prefix: string): Promise<{ submission_id: string; status: string }[]> {
  const res = await fetch(`${rayAddress()}/api/jobs/`, {
    headers: { Authorization: `Bearer ${rayToken()}` },
  });
  const all = await res.json() as { submission_id: string | null; status: string }[];
  return all.filter((j) => j.submission_id?.startsWith(prefix)) as {
    submission_id: string;
    status: string;
  }[];
}

export { PYTHON };
