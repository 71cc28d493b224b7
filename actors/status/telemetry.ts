/**
 * What the miner's hooks feed and the StatusActor reads: the task tally (store writes), the training
 * runs (GPU reports), and the event counters (axon requests, refusals, retries). Created once per
 * `runMiner`, before the tree, so a restart of the StatusActor loses none of it; every hook is
 * synchronous and O(1), so the axon and the queue never wait on it.
 */
import { Registry } from "prom-client";
import type { StatusView } from "../../core/status_view.ts";
import type { GpuReport } from "../protocol.ts";
import { createMetrics, type Metrics, REFUSAL_REASONS, setFromView } from "./metrics.ts";
import { RunTracker } from "./runs.ts";
import { TaskTally } from "./tally.ts";

export class Telemetry {
  readonly registry = new Registry();
  readonly metrics: Metrics = createMetrics(this.registry);
  readonly tasks = new TaskTally();
  readonly runs: RunTracker;
  readonly #synapses: ReadonlySet<string>;

  /** `synapses`: the axon's synapse names, the only single-segment paths counted by name. */
  constructor(opts: { synapses?: Iterable<string>; now?: () => number } = {}) {
    this.#synapses = new Set(opts.synapses ?? []);
    this.runs = new RunTracker(opts.now);
  }

  /** The queue's `onReport` dep. */
  readonly onGpuReport = (report: GpuReport): void => this.runs.report(report);

  /** One axon request answered: its path, HTTP status and time from request to response. */
  readonly onAxonReply = (path: string, status: number, seconds: number): void => {
    const route = axonRoute(path, this.#synapses);
    this.metrics.axonRequests.inc({ route, status: String(status) });
    this.metrics.axonLatency.observe({ route }, seconds);
  };

  /** A validator's task refused by the pipeline (queue full, over a limit, …). */
  readonly onRefusal = (reason: string): void => {
    this.metrics.refusals.inc({ reason: REFUSAL_REASONS.has(reason) ? reason : "other" });
  };

  /** The upload actor's `onRetry` dep. */
  readonly onUploadRetry = (): void => this.metrics.uploadRetries.inc();

  /** The task center actor's `onRetry` dep: which call is retried. */
  readonly onTaskCenterRetry = (call: "dataset" | "result"): void => {
    this.metrics.taskCenterRetries.inc({ call });
  };

  /** The Prometheus text exposition with every gauge set from `view`. */
  async render(view: StatusView): Promise<string> {
    setFromView(this.metrics, view, this.tasks.outboxLength);
    return await this.registry.metrics();
  }
}

/**
 * A bounded label for an axon path: a synapse name we serve, a task API route with its id replaced,
 * or "other" (a validator picks the path, so it never becomes a label as sent).
 */
export function axonRoute(path: string, synapses: ReadonlySet<string>): string {
  const p = path.split("?")[0];
  if (p.startsWith("/v1")) {
    if (p === "/v1/tasks" || p === "/v1/capacity" || p === "/v1/openapi.yaml") return p;
    if (/^\/v1\/tasks\/[^/]+$/.test(p)) return "/v1/tasks/{id}";
    if (/^\/v1\/tasks\/[^/]+\/cancel$/.test(p)) return "/v1/tasks/{id}/cancel";
    return "/v1/other";
  }
  const name = p.slice(1);
  return synapses.has(name) ? name : "other";
}
