/**
 * Training runs as the dashboard and /metrics show them, from the GpuActors' reports (the queue hands
 * each one on through its `onReport` dep): step, total, smoothed step rate, ETA, loss, and the loss
 * curve, decimated so a run of any length keeps at most MAX_POINTS points. Pure bookkeeping, O(1) per
 * report; the queue stays the owner of which task runs where.
 */
import type { GpuReport } from "../protocol.ts";
import type { TrainerEvent } from "../../core/training.ts";

/** Loss points kept per run: enough for a smooth curve, small enough to send every second. */
export const MAX_POINTS = 240;
/** Weight of the newest step-rate sample in the moving average. */
const RATE_WEIGHT = 0.3;

type Progress = Extract<TrainerEvent, { type: "progress" }>;

export type Run = {
  taskId: string;
  startedMs: number;
  step: number;
  total: number;
  loss: number | null;
  evalLoss: number | null;
  /** Steps per second, smoothed over progress events (trainer clock). */
  rate: number | null;
  /** The trainer's own estimate, else from the rate. */
  etaS: number | null;
  points: [number, number][];
  /** Steps between kept points; doubles each time the curve is halved. */
  stride: number;
  last: { step: number; time: number } | null;
};

export class RunTracker {
  readonly #runs = new Map<string, Run>();

  constructor(private readonly now: () => number = Date.now) {}

  /** One GpuActor report, as the queue received it. */
  report(report: GpuReport): void {
    const { taskId } = report;
    if (report.kind === "ended") return void this.#runs.delete(taskId);
    const run = this.#runs.get(taskId) ?? this.#start(taskId);
    if (report.kind === "spawned") return;
    const ev = report.event;
    if (ev.type === "started") {
      run.total = ev.total_steps;
      run.step = ev.start_step;
    } else if (ev.type === "progress") progress(run, ev);
    else if (ev.type === "eval") run.evalLoss = ev.eval_loss;
  }

  get(taskId: string): Run | undefined {
    return this.#runs.get(taskId);
  }

  /** Forgets runs the queue no longer runs (an `ended` lost to a restart); `running`: its task ids. */
  retain(running: ReadonlySet<string>): void {
    for (const id of this.#runs.keys()) if (!running.has(id)) this.#runs.delete(id);
  }

  get size(): number {
    return this.#runs.size;
  }

  #start(taskId: string): Run {
    const run: Run = {
      taskId,
      startedMs: this.now(),
      step: 0,
      total: 0,
      loss: null,
      evalLoss: null,
      rate: null,
      etaS: null,
      points: [],
      stride: 1,
      last: null,
    };
    this.#runs.set(taskId, run);
    return run;
  }
}

function progress(run: Run, ev: Progress): void {
  if (run.last && ev.step > run.last.step && ev.time > run.last.time) {
    const sample = (ev.step - run.last.step) / (ev.time - run.last.time);
    run.rate = run.rate === null ? sample : run.rate + RATE_WEIGHT * (sample - run.rate);
  }
  run.last = { step: ev.step, time: ev.time };
  run.step = ev.step;
  run.total = ev.total;
  run.loss = ev.loss;
  const fromRate = run.rate && run.rate > 0 ? (ev.total - ev.step) / run.rate : null;
  run.etaS = ev.eta_s > 0 || ev.step >= ev.total ? ev.eta_s : fromRate;
  addPoint(run, ev.step, ev.loss);
}

/** Keeps every `stride`-th step; past MAX_POINTS, drops every other point and doubles the stride. */
export function addPoint(run: Pick<Run, "points" | "stride">, step: number, loss: number): void {
  if (!Number.isFinite(loss)) return;
  const lastStep = run.points.at(-1)?.[0];
  if (lastStep !== undefined && step <= lastStep) {
    // A resume from a checkpoint replays steps: the curve restarts from there.
    while (run.points.length > 0 && run.points.at(-1)![0] >= step) run.points.pop();
  } else if (lastStep !== undefined && step - lastStep < run.stride) return;
  run.points.push([step, loss]);
  if (run.points.length > MAX_POINTS) {
    const keep = (run.points.length - 1) % 2; // the newest point stays
    run.points = run.points.filter((_, i) => i % 2 === keep);
    run.stride *= 2;
  }
}
