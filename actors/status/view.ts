/**
 * Builds the StatusView from one sample of the actors (queue snapshot, chain status, axon stats,
 * restarts), the last GPU poll, the recent log lines and the telemetry. Pure; bounded by the queue's
 * limit, the runs and fixed list lengths, never by the number of tasks the store holds.
 */
import type { Device } from "../../core/device.ts";
import { deviceKey } from "../../core/device.ts";
import type { RecentLogLine } from "../../core/logging.ts";
import type { DeviceView, QueuedTask, RunningTask, StatusView } from "../../core/status_view.ts";
import type { AxonStats, ChainStatus, HotkeyFacts, QueueSnapshot } from "../protocol.ts";
import type { GpuPoll } from "./gpu_poll.ts";
import type { Telemetry } from "./telemetry.ts";

/** Queued tasks listed by id (the count covers the rest). */
export const QUEUE_LISTED = 20;
/** Log lines sent to the page. */
export const LOG_LINES = 30;

export type Identity = { version: string; pid: number; startedMs: number; hotkey: string; netuid: number };

/** What the actors answered for one view; null where one did not answer in time (restarting). */
export type Sample = {
  queue: QueueSnapshot | null;
  chain: ChainStatus | null;
  self: HotkeyFacts | null;
  axon: AxonStats | null;
  restarts: Record<string, number>;
  logs: readonly RecentLogLine[];
  gpus: GpuPoll | null;
};

export type ViewContext = {
  identity: Identity;
  /** The devices the miner trains on. */
  devices: readonly Device[];
  queueLimit: number;
  telemetry: Telemetry;
  nowMs: number;
};

export function buildView(sample: Sample, ctx: ViewContext): StatusView {
  const { telemetry } = ctx;
  const running = sample.queue ? runningOf(sample.queue, telemetry, ctx.nowMs) : [];
  return {
    schema: 1,
    generated_ms: ctx.nowMs,
    miner: minerOf(sample, ctx.identity),
    tasks: telemetry.tasks.counts(),
    queue: {
      length: sample.queue?.admitted ?? 0,
      limit: ctx.queueLimit,
      ready: sample.queue?.queued.length ?? 0,
      next: (sample.queue?.queued ?? []).slice(0, QUEUE_LISTED).flatMap((id) => queuedOf(id, telemetry)),
    },
    running,
    devices: devicesOf(sample, ctx.devices, running),
    gpu_note: sample.gpus && !sample.gpus.ok ? sample.gpus.note : null,
    recent: [...telemetry.tasks.recent()],
    logs: sample.logs.slice(-LOG_LINES).map((l) => ({
      time_ms: l.timeMs,
      level: l.level,
      category: l.category,
      message: l.message,
    })),
    axon: sample.axon
      ? {
        open_connections: sample.axon.connections.open,
        in_flight: sample.axon.inFlight,
        waiting: sample.axon.waiting,
      }
      : null,
    restarts: sample.restarts,
    sources: { queue: sample.queue !== null, chain: sample.chain !== null, axon: sample.axon !== null },
  };
}

function minerOf(sample: Sample, id: Identity): StatusView["miner"] {
  const { chain, self, axon } = sample;
  const serve = chain?.axon ?? { state: "pending" as const };
  const announced = "endpoint" in serve ? serve.endpoint : null;
  const block = chain?.block ?? null;
  const synced = chain?.metagraph?.block ?? null;
  return {
    version: id.version,
    pid: id.pid,
    started_ms: id.startedMs,
    hotkey: id.hotkey,
    netuid: id.netuid,
    uid: chain?.uid ?? self?.uid ?? null,
    stake_tao: self?.registered ? self.stakeTao : null,
    axon_listening: axon ? `${axon.address.hostname}:${axon.address.port}` : null,
    axon_announced: announced,
    axon_serve: serve.state,
    chain_connected: chain?.connected ?? false,
    block,
    synced_block: synced,
    blocks_since_sync: block !== null && synced !== null ? Math.max(0, block - synced) : null,
  };
}

function queuedOf(id: string, telemetry: Telemetry): QueuedTask[] {
  const b = telemetry.tasks.brief(id);
  if (!b) return [];
  return [{
    id,
    type: b.type,
    base_model: b.baseModel,
    validator: b.validator,
    priority: b.priority,
    received_ms: b.receivedMs,
  }];
}

function runningOf(queue: QueueSnapshot, telemetry: Telemetry, nowMs: number): RunningTask[] {
  telemetry.runs.retain(new Set(queue.running.map((r) => r.taskId)));
  return queue.running.map(({ taskId, devices }) => {
    const run = telemetry.runs.get(taskId);
    const brief = telemetry.tasks.brief(taskId);
    const total = run?.total ?? 0;
    const step = run?.step ?? 0;
    return {
      id: taskId,
      type: brief?.type ?? null,
      base_model: brief?.baseModel ?? null,
      devices,
      started_ms: run?.startedMs ?? nowMs,
      step,
      total,
      progress: total > 0 ? Math.min(1, step / total) : 0,
      steps_per_second: run?.rate ?? null,
      eta_s: run?.etaS ?? null,
      loss: run?.loss ?? null,
      eval_loss: run?.evalLoss ?? null,
      loss_points: run ? [...run.points] : [],
    };
  });
}

function devicesOf(sample: Sample, devices: readonly Device[], running: RunningTask[]): DeviceView[] {
  const taskOn = new Map(running.flatMap((r) => r.devices.map((d) => [d, r.id] as const)));
  const used = new Set(devices.map(deviceKey));
  const out: DeviceView[] = [];
  const polled = sample.gpus?.ok ? sample.gpus.gpus : [];
  for (const g of polled) {
    const key = `cuda:${g.index}`;
    out.push({
      key,
      name: g.name,
      used: used.has(key),
      utilization: g.utilization,
      memory_used_bytes: g.memoryUsedBytes,
      memory_total_bytes: g.memoryTotalBytes,
      temperature_c: g.temperatureC,
      power_w: g.powerW,
      task_id: taskOn.get(key) ?? null,
    });
  }
  // Devices the miner uses that the poll did not list: the CPU, or every card while nvidia-smi fails.
  for (const d of devices) {
    const key = deviceKey(d);
    if (out.some((o) => o.key === key)) continue;
    out.push({
      key,
      name: d.name,
      used: true,
      utilization: null,
      memory_used_bytes: d.kind === "cuda" ? d.memoryUsedMb * 1024 * 1024 : null,
      memory_total_bytes: d.kind === "cuda" ? d.memoryTotalMb * 1024 * 1024 : null,
      temperature_c: null,
      power_w: null,
      task_id: taskOn.get(key) ?? null,
    });
  }
  return out;
}
