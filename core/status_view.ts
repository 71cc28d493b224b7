/**
 * What the status server tells its readers: the dashboard (`/api/status` and every `/events` message),
 * `main.ts status --json`, and the gauges of `/metrics`. One schema, so the page, the terminal and the
 * server cannot drift. It holds public facts only (hotkeys, ids, counts, figures, redacted log lines):
 * nothing here is a secret, by construction, because nothing secret is ever put into it.
 */
import { z } from "zod";
import { TaskState } from "./task.ts";

const count = z.number().int().nonnegative();
const maybe = <T extends z.ZodType>(t: T) => t.nullable();

export const StatusTaskType = z.enum(["text", "image"]);

/** A task waiting for a device, in dispatch order. */
export const QueuedTask = z.object({
  id: z.string(),
  type: StatusTaskType,
  base_model: z.string(),
  validator: z.string(),
  priority: z.number(),
  received_ms: z.number(),
});

/** A training run: the trainer's latest progress, and its loss curve (decimated to a few hundred points). */
export const RunningTask = z.object({
  id: z.string(),
  type: maybe(StatusTaskType),
  base_model: maybe(z.string()),
  devices: z.array(z.string()),
  started_ms: z.number(),
  step: count,
  total: count,
  /** step / total, 0 before the first progress event. */
  progress: z.number().min(0).max(1),
  steps_per_second: maybe(z.number()),
  eta_s: maybe(z.number()),
  loss: maybe(z.number()),
  eval_loss: maybe(z.number()),
  /** [step, loss] pairs, oldest first. */
  loss_points: z.array(z.tuple([z.number(), z.number()])),
});

/** A device: a CUDA card as nvidia-smi last reported it, or the CPU the miner trains on without one. */
export const DeviceView = z.object({
  key: z.string(),
  name: z.string(),
  /** Whether the miner trains on it (config `miner.devices`, CUDA_VISIBLE_DEVICES). */
  used: z.boolean(),
  utilization: maybe(z.number().min(0).max(1)),
  memory_used_bytes: maybe(z.number()),
  memory_total_bytes: maybe(z.number()),
  temperature_c: maybe(z.number()),
  power_w: maybe(z.number()),
  task_id: maybe(z.string()),
});

export const EndedTask = z.object({
  id: z.string(),
  state: z.enum(["done", "failed", "rejected"]),
  reason: maybe(z.string()),
  ended_ms: z.number(),
  type: StatusTaskType,
  base_model: z.string(),
  loss: maybe(z.number()),
  repo: maybe(z.string()),
});

export const LogLineView = z.object({
  time_ms: z.number(),
  level: z.string(),
  category: z.string(),
  message: z.string(),
});

export const StatusView = z.object({
  schema: z.literal(1),
  generated_ms: z.number(),
  miner: z.object({
    version: z.string(),
    pid: z.number().int(),
    started_ms: z.number(),
    hotkey: z.string(),
    netuid: count,
    uid: maybe(count),
    stake_tao: maybe(z.number()),
    /** Where the axon listens, and the address announced on chain (`serve_axon`). */
    axon_listening: maybe(z.string()),
    axon_announced: maybe(z.string()),
    axon_serve: z.string(),
    chain_connected: z.boolean(),
    block: maybe(count),
    synced_block: maybe(count),
    blocks_since_sync: maybe(z.number().int()),
  }),
  /** Every task state with its count (zeros included), from the store's writes, not a scan. */
  tasks: z.record(TaskState, count),
  queue: z.object({
    /** Accepted tasks not yet training: what `miner.max_queue_size` bounds. */
    length: count,
    limit: count,
    /** Of those, the ones whose dataset is validated and that wait for a device. */
    ready: count,
    next: z.array(QueuedTask),
  }),
  running: z.array(RunningTask),
  devices: z.array(DeviceView),
  /** Why GPU figures are missing (no nvidia-smi, or it failed), or null. */
  gpu_note: maybe(z.string()),
  /** The latest ended tasks, newest first. */
  recent: z.array(EndedTask),
  /** The latest log lines at warning and above, redacted, oldest first. */
  logs: z.array(LogLineView),
  axon: maybe(z.object({ open_connections: count, in_flight: count, waiting: count })),
  restarts: z.record(z.string(), count),
  /** Which actors answered this sample; a restarting one leaves its part empty rather than stale. */
  sources: z.object({ queue: z.boolean(), chain: z.boolean(), axon: z.boolean() }),
});
export type StatusView = z.infer<typeof StatusView>;
export type RunningTask = z.infer<typeof RunningTask>;
export type DeviceView = z.infer<typeof DeviceView>;
export type EndedTask = z.infer<typeof EndedTask>;
export type QueuedTask = z.infer<typeof QueuedTask>;
export type LogLineView = z.infer<typeof LogLineView>;
