/**
 * The StatusActor's deps from the miner's config and the tree's children: which actor answers each
 * part of the view, through the interface functions of actors/protocol.ts. Looked up on every sample,
 * so a restarted child is read in its new instance; one that is down leaves its part out.
 */
import type { MinerConfig } from "../../core/config.ts";
import type { Device } from "../../core/device.ts";
import { recentLogLines } from "../../core/logging.ts";
import {
  type AxonMsg,
  axonStats,
  type ChainMsg,
  chainStatus,
  lookupHotkey,
  type QueueMsg,
  queueSnapshot,
  running,
} from "../protocol.ts";
import type { ActorRef } from "../runtime/actor.ts";
import type { StatusDeps } from "./status_actor.ts";
import type { Telemetry } from "./telemetry.ts";

export type StatusRefs = {
  queue: () => ActorRef<QueueMsg> | undefined;
  chain: () => ActorRef<ChainMsg> | undefined;
  axon: () => ActorRef<AxonMsg> | undefined;
  /** Lifetime restarts by child id, across the miner's supervisors. */
  restarts: () => Record<string, number>;
};

export function statusDepsOf(
  cfg: MinerConfig,
  parts: { hotkey: string; devices: readonly Device[] | (() => readonly Device[]); telemetry: Telemetry },
  refs: StatusRefs,
): StatusDeps {
  return {
    host: cfg.status.host,
    port: cfg.status.port,
    token: cfg.status.token,
    gpuPollMs: cfg.status.gpu_poll_s * 1000,
    telemetry: parts.telemetry,
    identity: {
      pid: Deno.pid,
      startedMs: Math.round(performance.timeOrigin),
      hotkey: parts.hotkey,
      netuid: cfg.bittensor.netuid,
    },
    devices: parts.devices,
    queueLimit: cfg.miner.max_queue_size,
    sources: {
      queue: () => queueSnapshot(running(refs.queue(), "queue actor")),
      chain: () => chainStatus(running(refs.chain(), "chain actor")),
      self: () => lookupHotkey(running(refs.chain(), "chain actor"), parts.hotkey),
      axon: () => axonStats(running(refs.axon(), "axon")),
      restarts: refs.restarts,
      logs: recentLogLines,
    },
  };
}
