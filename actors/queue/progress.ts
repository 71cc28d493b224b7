/** Pure formatting of trainer progress for the log: percent, steps per second and ETA. */
import type { TrainerEvent } from "../../core/training.ts";

export type ProgressEvent = Extract<TrainerEvent, { type: "progress" }>;

/** Steps per second between two progress events (trainer clock), or from the trainer's ETA for the first. */
export function stepRate(prev: ProgressEvent | null, ev: ProgressEvent): number | null {
  if (prev && ev.step > prev.step && ev.time > prev.time) {
    return (ev.step - prev.step) / (ev.time - prev.time);
  }
  if (ev.eta_s > 0 && ev.total > ev.step) return (ev.total - ev.step) / ev.eta_s;
  return null;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3_600)} h ${String(Math.floor((s % 3_600) / 60)).padStart(2, "0")} min`;
}

/** `Task "t-1" 40% (4 of 10 steps), 1.25 step/s, ETA 5 s, loss 5.5700` */
export function progressLine(taskId: string, ev: ProgressEvent, rate: number | null): string {
  const pct = Math.floor((100 * ev.step) / ev.total);
  const speed = rate === null ? "? step/s" : `${rate.toFixed(2)} step/s`;
  return `Task "${taskId}" ${pct}% (${ev.step} of ${ev.total} steps), ${speed}, ETA ${
    formatDuration(ev.eta_s)
  }, ` +
    `loss ${ev.loss.toFixed(4)}`;
}
