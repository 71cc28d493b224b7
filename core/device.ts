/**
 * A device the miner trains on, as the GPU actors, the queue's placement and the status pages see it:
 * a CUDA card as `nvidia-smi` reported it, or the CPU when no card is usable (local mode, tests).
 * Discovery (running `nvidia-smi`) is the GPU actors' business (actors/gpu/devices.ts).
 */

export type Device =
  | {
    kind: "cuda";
    index: number;
    uuid: string;
    name: string;
    memoryTotalMb: number;
    memoryUsedMb: number;
    utilization: number;
  }
  | { kind: "cpu"; index: -1; name: string };

export const CPU_DEVICE: Device = { kind: "cpu", index: -1, name: "cpu" };

/** Free memory in MiB, the figure placement compares against a task's estimated need. */
export function freeMemoryMb(d: Device): number {
  return d.kind === "cuda" ? d.memoryTotalMb - d.memoryUsedMb : Number.POSITIVE_INFINITY;
}

/** The stable name of a device in logs, snapshots and actor ids: `cuda:3` or `cpu`. */
export function deviceKey(d: Device): string {
  return d.kind === "cuda" ? `cuda:${d.index}` : "cpu";
}
