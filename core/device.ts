/**
 * A device the miner trains on, as the GPU actors, the queue's placement and the status pages see it:
 * a CUDA card as `nvidia-smi` reported it, or the CPU when no card is usable (local mode, tests).
 * Discovery (running `nvidia-smi`) is the GPU actors' business (actors/gpu/devices.ts). A card on a
 * Ray node (actors/ray) carries the node's address as `host`: a multi-GPU task takes cards of one host.
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
    /** The Ray node holding the card (its IP); absent for this machine's own cards. */
    host?: string;
  }
  | { kind: "cpu"; index: -1; name: string };

export const CPU_DEVICE: Device = { kind: "cpu", index: -1, name: "cpu" };

/** Free memory in MiB, the figure placement compares against a task's estimated need. */
export function freeMemoryMb(d: Device): number {
  return d.kind === "cuda" ? d.memoryTotalMb - d.memoryUsedMb : Number.POSITIVE_INFINITY;
}

/** The stable name of a device in logs, snapshots and actor ids: `cuda:3`, `10.0.0.7/cuda:1` or `cpu`. */
export function deviceKey(d: Device): string {
  if (d.kind === "cpu") return "cpu";
  return d.host === undefined ? `cuda:${d.index}` : `${d.host}/cuda:${d.index}`;
}

/** Where a device is: its Ray node, or "" for this machine. */
export function hostOf(d: Device): string {
  return d.kind === "cuda" ? d.host ?? "" : "";
}
