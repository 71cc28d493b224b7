/**
 * A miner as the status server sees it, without the miner: a Telemetry fed with tasks and trainer
 * progress, actor answers (queue snapshot, chain status, axon stats) as plain values, and a
 * StatusActor on 127.0.0.1 reading them. Used by the status tests and the bench (100 queued tasks and
 * 8 GPUs is the bench's miner).
 */
import { CPU_DEVICE, type Device } from "../core/device.ts";
import type { RecentLogLine } from "../core/logging.ts";
import { transition } from "../core/task.ts";
import type { AxonStats, ChainStatus, HotkeyFacts, QueueSnapshot, StatusMsg } from "../actors/protocol.ts";
import type { ActorRef } from "../actors/runtime/actor.ts";
import { startStatusActor, type StatusDeps } from "../actors/status/status_actor.ts";
import { Telemetry } from "../actors/status/telemetry.ts";
import { parseGpuQuery } from "../actors/status/gpu_poll.ts";
import { buildView, type Sample } from "../actors/status/view.ts";
import { doneEvent, textTask } from "./fixtures.ts";
import { RESULT } from "./task_center_fixtures.ts";

export const FAKE_NVIDIA_SMI = new URL("./fakebin/nvidia-smi", import.meta.url).pathname;
export const HOTKEY = "5FakeMinerHotkey1111111111111111111111111111111";

export type FakeMiner = {
  telemetry: Telemetry;
  queue: QueueSnapshot;
  chain: ChainStatus;
  self: HotkeyFacts;
  axon: AxonStats;
  logs: RecentLogLine[];
  devices: Device[];
};

/** `queued` tasks waiting, `running` training on cuda:0…, `done` ended, on a box of `gpus` cards. */
export function fakeMiner(opts: { queued?: number; running?: number; done?: number; gpus?: number } = {}) {
  const { queued = 3, running = 1, done = 2, gpus = 2 } = opts;
  const telemetry = new Telemetry({ synapses: ["TrainingTask", "TaskStatus", "Capacity"] });
  const t0 = 1_700_000_000_000;
  const queuedIds: string[] = [];
  for (let i = 0; i < queued + running + done; i++) {
    const id = i < queued ? `q-${i}` : i < queued + running ? `r-${i - queued}` : `d-${i - queued - running}`;
    let t = textTask(id, t0 + i);
    for (const type of ["submitDataset", "datasetValidated", "enqueue"] as const) {
      t = transition(t, { type }, t0 + i);
      telemetry.tasks.record(t);
    }
    if (i < queued) {
      queuedIds.push(id);
      continue;
    }
    t = transition(t, { type: "startTraining" }, t0 + i);
    telemetry.tasks.record(t);
    if (i >= queued + running) {
      // Ended tasks: the even ones done, the odd ones failed with a reason.
      t = transition(t, { type: "trained", done: doneEvent(), outDir: "/unused" }, t0 + i);
      if ((i - queued - running) % 2 === 0) {
        t = transition(t, { type: "uploaded", result: RESULT }, t0 + i);
        t = transition(t, { type: "submitted" }, t0 + 10_000 + i);
      } else t = transition(t, { type: "fail", reason: "upload_rejected" }, t0 + 10_000 + i);
      telemetry.tasks.record(t);
    }
  }
  const runningIds = Array.from({ length: running }, (_, i) => `r-${i}`);
  runningIds.forEach((taskId, i) => feedProgress(telemetry, taskId, 120, 1_000, i));
  const devices: Device[] = gpus === 0 ? [CPU_DEVICE] : parseGpus(gpus);
  const miner: FakeMiner = {
    telemetry,
    queue: {
      queued: queuedIds,
      admitted: queuedIds.length,
      running: runningIds.map((taskId, i) => ({
        taskId,
        devices: [gpus === 0 ? "cpu" : `cuda:${i % gpus}`],
      })),
      idle: [],
    },
    chain: {
      endpoint: "ws://127.0.0.1:9944",
      netuid: 119,
      hotkey: HOTKEY,
      connected: true,
      staleSince: null,
      block: 5_000,
      specVersion: 218,
      uid: 7,
      metagraph: { block: 4_990, syncedAt: t0, neurons: 256, validators: 64, source: "test" },
      axon: { state: "up_to_date", endpoint: "203.0.113.10:8001", block: 4_000 },
    },
    self: { registered: true, uid: 7, validatorPermit: false, stakeTao: 12.5, stale: false },
    axon: {
      address: { hostname: "0.0.0.0", port: 8001 },
      replies: { "200": 10 },
      inFlight: 1,
      waiting: 0,
      nonceKeys: 3,
      rateBuckets: 2,
      staleLookups: 0,
      connections: { open: 4, refused: 0, timedOut: 1, aborted: 0 },
    },
    logs: [{ timeMs: t0, level: "warning", category: "tree", message: "No GPU left after miner.devices" }],
    devices,
  };
  return miner;
}

/** `steps` progress events of a run of `total` steps, one per second of trainer time, loss falling. */
export function feedProgress(telemetry: Telemetry, taskId: string, steps: number, total: number, seed = 0) {
  telemetry.onGpuReport({ kind: "spawned", taskId, pid: 1000 + seed });
  for (let s = 1; s <= steps; s++) {
    telemetry.onGpuReport({
      kind: "event",
      taskId,
      event: {
        type: "progress",
        time: s,
        step: s,
        total,
        loss: 3 / (1 + s / 50) + seed * 0.01,
        lr: 1e-4,
        samples_per_s: 8,
        tokens_per_s: null,
        eta_s: total - s,
        gpu_mem_mb: 1024,
      },
    });
  }
}

function parseGpus(n: number): Device[] {
  return parseGpuQuery(
    Array.from({ length: n }, (_, i) => `${i}, GPU-${i}, NVIDIA H100 80GB HBM3, 50, 1000, 81559, 60, 300`)
      .join("\n"),
  ).map((g) => ({
    kind: "cuda" as const,
    index: g.index,
    uuid: g.uuid,
    name: g.name,
    memoryTotalMb: 81559,
    memoryUsedMb: 1000,
    utilization: 50,
  }));
}

/** What the StatusActor would sample from `miner` (and a GPU poll of its cards). */
export function sampleOf(miner: FakeMiner): Sample {
  const cards = miner.devices.filter((d) => d.kind === "cuda");
  return {
    queue: miner.queue,
    chain: miner.chain,
    self: miner.self,
    axon: miner.axon,
    restarts: { queue: 1, axon: 0 },
    logs: miner.logs,
    gpus: cards.length === 0 ? { ok: false, note: "nvidia-smi is not installed" } : {
      ok: true,
      gpus: parseGpuQuery(
        cards.map((d) => `${d.index}, GPU-${d.index}, ${d.name}, 93, 61234, 81559, 71, 612.5`).join("\n"),
      ),
    },
  };
}

export function viewOf(miner: FakeMiner, nowMs = 1_700_000_100_000) {
  return buildView(sampleOf(miner), {
    identity: { version: "0.1.0", pid: 4242, startedMs: 1_700_000_000_000, hotkey: HOTKEY, netuid: 119 },
    devices: miner.devices,
    queueLimit: 100,
    telemetry: miner.telemetry,
    nowMs,
  });
}

/** A StatusActor on 127.0.0.1 (a free port) reading `miner`; `over` sets the token, host and the rest. */
export function startFakeStatus(miner: FakeMiner, over: Partial<StatusDeps> = {}): ActorRef<StatusMsg> {
  return startStatusActor({
    host: "127.0.0.1",
    port: 0,
    token: null,
    gpuPollMs: 1_000,
    nvidiaSmi: FAKE_NVIDIA_SMI,
    telemetry: miner.telemetry,
    identity: { pid: Deno.pid, startedMs: Date.now(), hotkey: HOTKEY, netuid: 119 },
    devices: miner.devices,
    queueLimit: 100,
    sources: {
      queue: () => Promise.resolve(miner.queue),
      chain: () => Promise.resolve(miner.chain),
      self: () => Promise.resolve(miner.self),
      axon: () => Promise.resolve(miner.axon),
      restarts: () => ({ queue: 1 }),
      logs: () => miner.logs,
    },
    ...over,
  });
}
