/**
 * GPU load for the status page and /metrics: one `nvidia-smi --query-gpu` per poll (a few ms of a
 * child process every few seconds, never per scrape). Parsing is pure; a field a card does not report
 * ("[N/A]", "[Not Supported]") is null rather than a refusal of the card.
 */
import { queryGpus } from "../../core/nvidia_smi.ts";

export const GPU_QUERY =
  "index,uuid,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw";

const MIB = 1024 * 1024;

export type GpuSample = {
  index: number;
  uuid: string;
  name: string;
  /** 0..1 */
  utilization: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  temperatureC: number | null;
  powerW: number | null;
};

export type GpuPoll = { ok: true; gpus: GpuSample[] } | { ok: false; note: string };

const num = (s: string | undefined): number | null => {
  const n = Number(s?.trim());
  return s !== undefined && s.trim() !== "" && Number.isFinite(n) ? n : null;
};

/** Parses `nvidia-smi --query-gpu=<GPU_QUERY> --format=csv,noheader,nounits`; throws on a malformed line. */
export function parseGpuQuery(csv: string): GpuSample[] {
  return csv.split("\n").map((l) => l.trim()).filter(Boolean).map((line, i) => {
    const cells = line.split(",").map((c) => c.trim());
    const index = num(cells[0]);
    if (cells.length !== 8 || index === null || !Number.isInteger(index) || index < 0) {
      throw new SyntaxError(`Cannot parse nvidia-smi output line ${i + 1}: "${line.slice(0, 200)}"`);
    }
    const util = num(cells[3]);
    const used = num(cells[4]);
    const total = num(cells[5]);
    return {
      index,
      uuid: cells[1],
      name: cells[2],
      utilization: util === null ? null : Math.min(1, Math.max(0, util / 100)),
      memoryUsedBytes: used === null ? null : used * MIB,
      memoryTotalBytes: total === null ? null : total * MIB,
      temperatureC: num(cells[6]),
      powerW: num(cells[7]),
    };
  });
}

/** Runs `command` (nvidia-smi from PATH by default) once; a missing or failing tool is a note. */
export async function pollGpus(command = "nvidia-smi", timeoutMs = 5_000): Promise<GpuPoll> {
  const out = await queryGpus(command, GPU_QUERY, timeoutMs);
  if (!out.ok) {
    if (out.kind === "missing") return { ok: false, note: "nvidia-smi is not installed" };
    if (out.kind === "failed") return { ok: false, note: `nvidia-smi failed: ${out.error.message}` };
    return { ok: false, note: `nvidia-smi exited ${out.code}: ${out.stderr.slice(0, 200)}` };
  }
  try {
    return { ok: true, gpus: parseGpuQuery(out.csv) };
  } catch (e) {
    return { ok: false, note: (e as Error).message };
  }
}
