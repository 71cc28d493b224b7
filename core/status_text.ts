/**
 * `main.ts status` as text: the running miner's StatusView (from its status server), or what the store
 * alone tells when no miner runs. Pure: the caller fetches, this formats; no colours, so the output
 * reads the same in a terminal, a log and a pipe.
 */
import type { StatusView } from "./status_view.ts";
import type { TaskState } from "./task.ts";

const BAR_WIDTH = 24;
/** Log lines and finished tasks shown (the dashboard has the rest). */
const LAST_LOGS = 5;
const LAST_ENDED = 5;

/** `[██████░░░░]`: `ratio` of `width` cells filled. */
export function progressBar(ratio: number, width = BAR_WIDTH): string {
  const r = Number.isFinite(ratio) ? Math.max(0, Math.min(1, ratio)) : 0;
  const full = Math.round(r * width);
  return `[${"█".repeat(full)}${"░".repeat(width - full)}]`;
}

export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3_600)} h ${String(Math.floor((s % 3_600) / 60)).padStart(2, "0")} min`;
}

const fixed = (v: number | null, digits: number) => (v === null ? "?" : v.toFixed(digits));
const gib = (bytes: number) => (bytes / 1024 ** 3).toFixed(1);

/** Task states with a count above zero, in the state machine's order. */
export function stateCounts(tasks: Partial<Record<TaskState, number>>): string {
  const shown = Object.entries(tasks).filter(([, n]) => (n ?? 0) > 0).map(([s, n]) => `${s} ${n}`);
  return shown.length ? shown.join(" · ") : "none yet";
}

export function renderLive(view: StatusView, head: string): string {
  const m = view.miner;
  const now = view.generated_ms;
  const lines = [head];
  const uid = m.uid === null ? "not registered" : `uid ${m.uid}`;
  const stake = m.stake_tao === null ? "" : ` · stake ${m.stake_tao.toFixed(2)} TAO`;
  const axon = m.axon_announced ?? m.axon_listening ?? "not listening";
  lines.push(`miner    ${m.hotkey} · ${uid} on netuid ${m.netuid}${stake} · v${m.version}`);
  lines.push(`axon     ${axon} (${m.axon_serve.replaceAll("_", " ")})`);
  const chain = m.chain_connected ? "connected" : "not connected";
  const sync = m.blocks_since_sync === null ? "" : `, metagraph synced ${m.blocks_since_sync} blocks ago`;
  lines.push(`chain    ${chain}${m.block === null ? "" : `, block ${m.block}`}${sync}`);
  lines.push(`tasks    ${stateCounts(view.tasks)}`);
  lines.push(`queue    ${view.queue.length} of ${view.queue.limit} accepted · ${view.queue.ready} ready`);
  lines.push("", "training");
  if (view.running.length === 0) lines.push("  nothing is training");
  for (const r of view.running) {
    const pct = `${Math.floor(r.progress * 100)}%`.padStart(4);
    lines.push(
      `  ${r.id}  ${progressBar(r.progress)} ${pct}  ${r.step}/${r.total || "?"} steps  ` +
        `${fixed(r.steps_per_second, 1)} step/s  ETA ${duration(r.eta_s)}  loss ${fixed(r.loss, 4)}`,
    );
    const what = [r.type, r.base_model].filter((x) => x !== null).join(" · ");
    lines.push(`    ${what}${what ? " · " : ""}on ${r.devices.join(", ")}`);
  }
  if (view.queue.next.length > 0) {
    lines.push("", "queue (next)");
    view.queue.next.forEach((q, i) => {
      const waited = duration((now - q.received_ms) / 1000);
      lines.push(`  ${i + 1}. ${q.id}  ${q.type} · ${q.base_model} · waiting ${waited}`);
    });
  }
  lines.push("", "devices");
  for (const d of view.devices) {
    const figures = [
      d.utilization === null ? null : `${Math.round(d.utilization * 100)}% load`,
      d.memory_used_bytes === null || d.memory_total_bytes === null
        ? null
        : `${gib(d.memory_used_bytes)}/${gib(d.memory_total_bytes)} GiB`,
      d.temperature_c === null ? null : `${d.temperature_c} °C`,
      d.power_w === null ? null : `${Math.round(d.power_w)} W`,
      d.task_id ? `training ${d.task_id}` : d.used ? "idle" : "not used",
    ].filter((x) => x !== null);
    lines.push(`  ${d.key.padEnd(7)} ${d.name.padEnd(24)} ${figures.join(" · ")}`);
  }
  if (view.gpu_note) lines.push(`  (GPU figures: ${view.gpu_note})`);
  if (view.recent.length > 0) {
    lines.push("", "finished");
    for (const t of view.recent.slice(0, LAST_ENDED)) {
      const detail = t.state === "done" ? (t.repo ?? "") : (t.reason ?? "");
      lines.push(`  ${t.state.padEnd(8)} ${t.id}  ${duration((now - t.ended_ms) / 1000)} ago  ${detail}`);
    }
  }
  if (view.logs.length > 0) {
    lines.push("", "warnings");
    for (const l of view.logs.slice(-LAST_LOGS)) {
      const time = new Date(l.time_ms).toISOString().slice(11, 19);
      lines.push(`  ${time} ${l.level.toUpperCase()} ${l.category}: ${l.message}`);
    }
  }
  return lines.join("\n");
}

/** A task record's progress as the store holds it (written every few seconds while training). */
export type StoredTask = {
  id: string;
  state: TaskState;
  progress: { step: number; total: number; loss: number } | null;
  reason: string | null;
};

export function renderStored(head: string, counts: Partial<Record<TaskState, number>>, open: StoredTask[]) {
  const lines = [head, `tasks    ${stateCounts(counts)}`];
  if (open.length > 0) lines.push("", "unfinished (as last written)");
  for (const t of open) {
    const p = t.progress;
    const bar = p && p.total > 0
      ? `  ${progressBar(p.step / p.total)} ${p.step}/${p.total} steps  loss ${p.loss.toFixed(4)}`
      : "";
    lines.push(`  ${t.id}  ${t.state}${bar}`);
  }
  return lines.join("\n");
}
