/**
 * The Prometheus metrics (prom-client), named by Prometheus's conventions: the `satori_` prefix, base
 * units in the name (`_seconds`, `_bytes`, `_ratio`), `_total` on counters only. Counters the hooks
 * feed (axon requests, refusals, retries) count as events happen; every gauge is set from one
 * StatusView just before a scrape renders, so a scrape costs what the view cost (no store scan). No
 * label takes an unbounded value: routes, statuses and reasons come from fixed sets, and task ids
 * label only the gauges of tasks that run now (a handful), which are cleared when they end.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { StatusView } from "../../core/status_view.ts";

/** Axon latency buckets: a refused request answers in well under a millisecond, a task accept in tens. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Label values a refusal reason may take; anything else is counted as "other". */
export const REFUSAL_REASONS: ReadonlySet<string> = new Set([
  "queue_full",
  "deadline",
  "unplaceable",
  "id_taken",
  "model_not_allowed",
  "over_limit",
  "too_long",
  "validator_quota",
  "duplicate",
  "unavailable",
]);

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers });
  return {
    build: gauge("satori_build_info", "The miner's version (value 1)", ["version"]),
    tasks: gauge("satori_tasks", "Tasks in the store by state", ["state"]),
    queueLength: gauge("satori_queue_length", "Accepted tasks not yet training (bounded by the limit)"),
    queueLimit: gauge("satori_queue_limit", "The queue's limit (miner.max_queue_size)"),
    queueReady: gauge("satori_queue_ready", "Tasks with a validated dataset waiting for a device"),
    taskStep: gauge("satori_task_step", "Latest step of a running task", ["task_id"]),
    taskSteps: gauge("satori_task_total_steps", "Steps a running task will train", ["task_id"]),
    taskProgress: gauge("satori_task_progress_ratio", "Step over total steps of a running task", ["task_id"]),
    taskRate: gauge("satori_task_steps_per_second", "Step rate of a running task", ["task_id"]),
    taskLoss: gauge("satori_task_loss", "Latest training loss of a running task", ["task_id"]),
    taskEta: gauge("satori_task_eta_seconds", "Estimated seconds until a running task ends", ["task_id"]),
    gpuInfo: gauge("satori_gpu_info", "A GPU nvidia-smi reports (value 1)", ["gpu", "name"]),
    gpuUtil: gauge("satori_gpu_utilization_ratio", "GPU utilisation, 0 to 1", ["gpu"]),
    gpuMemUsed: gauge("satori_gpu_memory_used_bytes", "GPU memory in use", ["gpu"]),
    gpuMemTotal: gauge("satori_gpu_memory_total_bytes", "GPU memory in all", ["gpu"]),
    gpuTemp: gauge("satori_gpu_temperature_celsius", "GPU core temperature", ["gpu"]),
    gpuPower: gauge("satori_gpu_power_watts", "GPU power draw", ["gpu"]),
    gpuBusy: gauge("satori_gpu_busy", "1 while a task trains on the device", ["gpu"]),
    axonRequests: counter("satori_axon_requests_total", "Axon requests by route and HTTP status", [
      "route",
      "status",
    ]),
    axonLatency: new Histogram<"route">({
      name: "satori_axon_request_duration_seconds",
      help: "Axon request latency by route, from the request to its response",
      labelNames: ["route"],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    axonOpen: gauge("satori_axon_connections_open", "Axon connections open now"),
    axonInFlight: gauge("satori_axon_in_flight", "Axon requests being handled now"),
    refusals: counter("satori_refusals_total", "Validator tasks refused, by reason", ["reason"]),
    restarts: counter("satori_supervisor_restarts_total", "Actor restarts by supervisor child", ["child"]),
    uploadRetries: counter("satori_upload_retries_total", "Hub calls retried by the upload actor"),
    taskCenterRetries: counter("satori_task_center_retries_total", "Task center calls retried", ["call"]),
    outbox: gauge("satori_outbox_length", "Results waiting in the outbox for the task center"),
    chainConnected: gauge("satori_chain_connected", "1 while the chain endpoint is connected"),
    chainBlock: gauge("satori_chain_block", "Best block height seen"),
    chainSince: gauge("satori_chain_blocks_since_sync", "Blocks since the last metagraph sync"),
    stake: gauge("satori_stake_tao", "The miner's own stake, in TAO"),
    uid: gauge("satori_uid", "The miner's uid on its netuid"),
    residentMemory: gauge("satori_process_resident_memory_bytes", "Resident memory of the miner process"),
    heapUsed: gauge("satori_process_heap_used_bytes", "JavaScript heap in use"),
    startTime: gauge("satori_process_start_time_seconds", "When the miner process started (Unix time)"),
    sourceUp: gauge("satori_status_source_up", "1 when the actor answered the last status sample", [
      "source",
    ]),
  };
}

/** Sets every gauge from `view` (and the counters that mirror an actor's own count). */
export function setFromView(m: Metrics, view: StatusView, outboxLength: number): void {
  m.build.reset();
  m.build.set({ version: view.miner.version }, 1);
  for (const [state, n] of Object.entries(view.tasks)) m.tasks.set({ state }, n);
  m.queueLength.set(view.queue.length);
  m.queueLimit.set(view.queue.limit);
  m.queueReady.set(view.queue.ready);
  const perTask = [m.taskStep, m.taskSteps, m.taskProgress, m.taskRate, m.taskLoss, m.taskEta];
  for (const g of perTask) g.reset(); // ended tasks leave the exposition
  for (const run of view.running) {
    const task_id = run.id;
    m.taskStep.set({ task_id }, run.step);
    m.taskSteps.set({ task_id }, run.total);
    m.taskProgress.set({ task_id }, run.progress);
    if (run.steps_per_second !== null) m.taskRate.set({ task_id }, run.steps_per_second);
    if (run.loss !== null) m.taskLoss.set({ task_id }, run.loss);
    if (run.eta_s !== null) m.taskEta.set({ task_id }, run.eta_s);
  }
  setDevices(m, view);
  if (view.axon) {
    m.axonOpen.set(view.axon.open_connections);
    m.axonInFlight.set(view.axon.in_flight);
  }
  m.restarts.reset();
  for (const [child, n] of Object.entries(view.restarts)) if (n > 0) m.restarts.inc({ child }, n);
  m.outbox.set(outboxLength);
  setChain(m, view.miner);
  const mem = Deno.memoryUsage();
  m.residentMemory.set(mem.rss);
  m.heapUsed.set(mem.heapUsed);
  m.startTime.set(view.miner.started_ms / 1000);
  for (const [source, up] of Object.entries(view.sources)) m.sourceUp.set({ source }, up ? 1 : 0);
}

function setDevices(m: Metrics, view: StatusView): void {
  const perGpu = [m.gpuInfo, m.gpuUtil, m.gpuMemUsed, m.gpuMemTotal, m.gpuTemp, m.gpuPower, m.gpuBusy];
  for (const g of perGpu) g.reset();
  for (const d of view.devices) {
    const gpu = d.key;
    m.gpuBusy.set({ gpu }, d.task_id === null ? 0 : 1);
    if (d.key === "cpu") continue;
    m.gpuInfo.set({ gpu, name: d.name }, 1);
    if (d.utilization !== null) m.gpuUtil.set({ gpu }, d.utilization);
    if (d.memory_used_bytes !== null) m.gpuMemUsed.set({ gpu }, d.memory_used_bytes);
    if (d.memory_total_bytes !== null) m.gpuMemTotal.set({ gpu }, d.memory_total_bytes);
    if (d.temperature_c !== null) m.gpuTemp.set({ gpu }, d.temperature_c);
    if (d.power_w !== null) m.gpuPower.set({ gpu }, d.power_w);
  }
}

function setChain(m: Metrics, miner: StatusView["miner"]): void {
  m.chainConnected.set(miner.chain_connected ? 1 : 0);
  for (const [g, v] of [[m.chainBlock, miner.block], [m.chainSince, miner.blocks_since_sync]] as const) {
    if (v === null) g.reset();
    else g.set(v);
  }
  if (miner.stake_tao === null) m.stake.reset();
  else m.stake.set(miner.stake_tao);
  if (miner.uid === null) m.uid.reset();
  else m.uid.set(miner.uid);
}
