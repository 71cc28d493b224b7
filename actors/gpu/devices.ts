/**
 * GPU discovery: what `nvidia-smi` reports, narrowed by CUDA_VISIBLE_DEVICES and the config's
 * `miner.devices`. Parsing and selection are pure; `discoverDevices` is the one function that runs
 * a process. No usable GPU gives a single `cpu` device so local mode and tests still train.
 */
import { z } from "zod";
import { CPU_DEVICE, type Device } from "../../core/device.ts";
import { queryGpus } from "../../core/nvidia_smi.ts";

export const QUERY = "index,uuid,name,memory.total,memory.used,utilization.gpu";

const Row = z.tuple([
  z.coerce.number().int().nonnegative(),
  z.string().min(1),
  z.string().min(1),
  z.coerce.number().nonnegative(),
  z.coerce.number().nonnegative(),
  // "[N/A]" on some MIG and vGPU setups: treat as unknown (0) rather than refusing the card.
  z.string().transform((s) => (Number.isFinite(Number(s)) ? Number(s) : 0)),
]);

/** Parses `nvidia-smi --query-gpu=<QUERY> --format=csv,noheader,nounits`. Throws on a malformed line. */
export function parseNvidiaSmi(csv: string): Device[] {
  return csv.split("\n").map((l) => l.trim()).filter(Boolean).map((line, i) => {
    const parsed = Row.safeParse(line.split(",").map((c) => c.trim()));
    if (!parsed.success) throw new SyntaxError(`Cannot parse nvidia-smi output line ${i + 1}: "${line}"`);
    const [index, uuid, name, memoryTotalMb, memoryUsedMb, utilization] = parsed.data;
    return { kind: "cuda" as const, index, uuid, name, memoryTotalMb, memoryUsedMb, utilization };
  });
}

/**
 * Applies CUDA_VISIBLE_DEVICES (indices or GPU UUIDs, as CUDA accepts; "" or "-1" hides all)
 * and then the config's list of indices.
 */
export function selectDevices(
  all: Device[],
  cudaVisible: string | undefined,
  configured: number[] | null,
): Device[] {
  let visible = all;
  if (cudaVisible !== undefined) {
    const wanted = cudaVisible.split(",").map((s) => s.trim()).filter(Boolean);
    visible = wanted.includes("-1") ? [] : wanted.flatMap((w) => {
      const d = all.find((d) => d.kind === "cuda" && (String(d.index) === w || d.uuid.startsWith(w)));
      return d ? [d] : [];
    });
  }
  if (configured !== null) visible = visible.filter((d) => configured.includes(d.index));
  return visible;
}

export type Discovery = { devices: Device[]; note: string | null };

/** Runs nvidia-smi (from PATH) and selects the devices this miner may use. */
export async function discoverDevices(
  cudaVisible: string | undefined,
  configured: number[] | null,
  nvidiaSmi = "nvidia-smi",
): Promise<Discovery> {
  const out = await queryGpus(nvidiaSmi, QUERY);
  if (!out.ok) {
    const why = out.kind === "exited"
      ? `nvidia-smi exited ${out.code}: "${out.stderr}"`
      : "nvidia-smi is not installed";
    return { devices: [CPU_DEVICE], note: `No GPU found (${why}): training runs on the CPU` };
  }
  const chosen = selectDevices(parseNvidiaSmi(out.csv), cudaVisible, configured);
  if (chosen.length === 0) {
    return {
      devices: [CPU_DEVICE],
      note: "No GPU left after CUDA_VISIBLE_DEVICES and miner.devices: training runs on the CPU",
    };
  }
  return { devices: chosen, note: null };
}
