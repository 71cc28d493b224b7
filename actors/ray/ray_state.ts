/**
 * The RayActor's state and dependencies, as types: what it was started with, the cluster as last polled,
 * and the runs it follows (one Ray job each). Only the actor's handler touches them.
 */
import type { Device } from "../../core/device.ts";
import type { Store } from "../../core/store.ts";
import type { GpuMsg, GpuReport, GpuReporter } from "../protocol.ts";
import type { ActorRef, Clock, Reply } from "../runtime/actor.ts";
import type { JobFilesServer } from "./job_files_server.ts";
import type { RayClient, RayNode } from "./ray_client.ts";
import type { JobLog, Stopping } from "./ray_jobs.ts";

export type RayDeps = {
  client: RayClient;
  store: Store;
  dataDir: string;
  /** The trainer package (trainer_package.ts), uploaded once per content hash. */
  trainerPackage: { name: string; uri: string; bytes: Uint8Array };
  files: JobFilesServer;
  /** `cluster.ray.python`, `work_dir`, `stop_wait_s`, `gpu_memory_mb`. */
  python: string;
  nodeWorkDir: string;
  stopWaitS: number;
  gpuMemoryMb: number;
  pollMs: number;
  startTimeoutMs: number;
  /** `miner.task_time_limit_s` in ms: a job still running then is stopped as timed out. */
  timeLimitMs: number;
  /** Environment for the trainer on the node: never a secret (Ray shows it to anyone with the token). */
  env?: Record<string, string>;
  /** Told the cluster's devices after every poll. */
  publish: (devices: Device[]) => void;
  clock?: Clock;
};

export type Run = {
  taskId: string;
  sid: string;
  devices: Device[];
  report: GpuReporter | null;
  log: JobLog;
  submittedMs: number;
  started: boolean;
  stopping: Stopping;
  /** Ray took the stop; until then each poll asks again. */
  stopSent: boolean;
  tail: AbortController;
  tailing: boolean;
};

/** A run that ended while no queue listened, with the cards it held. */
export type Missed = { report: GpuReport; devices: Device[] };

export type State = {
  deps: RayDeps;
  clock: Clock;
  self: ActorRef<Msg>;
  nodes: RayNode[];
  /** When `nodes` was read (clock ms). */
  nodesReadMs: number;
  devices: Device[];
  runs: Map<string, Run>;
  unreported: Missed[];
  timer: unknown;
};

export type Private =
  | { type: "ready"; reply: Reply<Device[]> }
  | { type: "tick" }
  | { type: "logs"; taskId: string; sid: string; text: string; from: number }
  | { type: "tailEnded"; taskId: string; sid: string };
export type Msg = GpuMsg | Private;
