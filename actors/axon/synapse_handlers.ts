/**
 * What each synapse does once a request passed blacklist, verify and priority: the forward functions.
 * They call the miner through injected services (wired to the queue and GPU actors by actors/tree.ts)
 * and return the reply fields. A refusal (queue full, invalid task, unknown id) is a reply field, not an
 * HTTP error. An actor that is restarting is an UnavailableError, answered 503 with Retry-After by the
 * handler; a service that throws anything else is a failure, answered 500.
 */
import { UnavailableError } from "../../core/errors.ts";
import { type Task, TaskRequest } from "../../core/task.ts";
import type { AcceptResult, HotkeyFacts, Sender, WithdrawResult } from "../protocol.ts";
import {
  type CapacityReply,
  describeZodError,
  type SynapseName,
  type TaskStatusReply,
  type TrainingTaskReply,
} from "./synapses.ts";

export interface CapacitySnapshot {
  readonly totalGpus: number;
  readonly freeGpus: number;
  /** Total VRAM per GPU in MiB, by GPU index. */
  readonly vramMb: readonly number[];
  readonly queueLength: number;
  readonly queueMax: number;
}

/** The miner as the axon sees it. Each call may be an `ask` to an actor; none may block on the chain. */
export interface AxonServices {
  /** From the ChainActor's cached metagraph. */
  lookup(hotkey: string): HotkeyFacts | Promise<HotkeyFacts>;
  acceptTask(request: TaskRequest, sender: Sender): AcceptResult | Promise<AcceptResult>;
  taskStatus(taskId: string): Task | null | Promise<Task | null>;
  capacity(): CapacitySnapshot | Promise<CapacitySnapshot>;
  /**
   * A validator's cancel of its task (the task API's `POST /v1/tasks/{id}/cancel`; the synapses have
   * none). Optional for axons built without a pipeline (tests, bench): the route then answers 503.
   */
  cancelTask?(taskId: string): WithdrawResult | Promise<WithdrawResult>;
}

/** Who sent the (verified) request: the hotkey and, for validator-only synapses, its metagraph facts. */
export interface Caller {
  readonly hotkey: string;
  readonly facts: HotkeyFacts | null;
}

type ReplyFields = TrainingTaskReply | TaskStatusReply | CapacityReply | Record<string, never>;

/** Runs the synapse `name` on its validated fields; returns the reply fields to merge into the synapse. */
export async function forward(
  name: SynapseName,
  fields: Record<string, unknown>,
  caller: Caller,
  services: AxonServices,
): Promise<ReplyFields> {
  switch (name) {
    case "Synapse":
      return {};
    case "TrainingTask":
      return await trainingTask(fields.task, caller, services);
    case "TaskStatus":
      return taskStatusReply(
        String(fields.task_id ?? ""),
        await services.taskStatus(String(fields.task_id ?? "")),
        caller,
      );
    case "Capacity":
      return capacityReply(await services.capacity());
  }
}

async function trainingTask(
  task: unknown,
  caller: Caller,
  services: AxonServices,
): Promise<TrainingTaskReply> {
  const refuse = (reason: string, message: string): TrainingTaskReply => ({
    accepted: false,
    task_id: null,
    queue_position: null,
    reason,
    message,
  });
  if (task === null || task === undefined) return refuse("invalid_task", 'Field "task" is required');
  const parsed = TaskRequest.safeParse(task);
  if (!parsed.success) return refuse("invalid_task", describeZodError(parsed.error, ["task"]));
  const result = await services.acceptTask(parsed.data, {
    hotkey: caller.hotkey,
    stakeTao: caller.facts?.stakeTao ?? 0,
  });
  if (!result.ok && result.reason === "unavailable") {
    throw new UnavailableError(result.what, result.retryAfterS);
  }
  if (!result.ok && result.reason === "duplicate") {
    // The validator's own task: its id and place, so it can poll TaskStatus instead of sending again.
    return {
      accepted: false,
      task_id: result.taskId,
      queue_position: result.position > 0 ? result.position : null,
      reason: "duplicate",
      message: result.message,
    };
  }
  if (!result.ok) return refuse(result.reason, result.message);
  return {
    accepted: true,
    task_id: result.taskId,
    queue_position: result.position,
    reason: null,
    message: null,
  };
}

/** A task another validator sent reads as unknown: its existence is not the caller's business. */
export function taskStatusReply(taskId: string, task: Task | null, caller: Caller): TaskStatusReply {
  if (task === null || task.validator_hotkey !== caller.hotkey) {
    return {
      state: "not_found",
      progress: null,
      result_repo: null,
      reason: `Task "${taskId}" is not known to this miner`,
    };
  }
  const p = task.progress;
  const progress = task.state === "done" ? 1 : p && p.total > 0 ? Math.min(1, p.step / p.total) : null;
  return { state: task.state, progress, result_repo: task.result?.repo_id ?? null, reason: task.reason };
}

export function capacityReply(c: CapacitySnapshot): CapacityReply {
  return {
    total_gpus: c.totalGpus,
    free_gpus: c.freeGpus,
    gpu_vram_mb: [...c.vramMb],
    queue_length: c.queueLength,
    queue_max: c.queueMax,
  };
}
