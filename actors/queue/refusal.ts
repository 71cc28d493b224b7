/**
 * Why the queue refuses a task now, judged from its in-memory mirror: a passed deadline, a task no
 * device could hold, and a full queue for both admit and enqueue; and, when a validator's task first
 * arrives (admit), what the operator's policy (policy.ts) forbids: a base model not allowed, a field
 * above its cap, a run that cannot finish in time, a validator over its share (fairness.ts). A
 * refusal names what is wrong and the numbers, never another validator or this machine's files.
 */
import type { Task } from "../../core/task.ts";
import type { AdmitResult } from "../protocol.ts";
import { quotaRefusal } from "./fairness.ts";
import { estimateRunS, needOf, unplaceable } from "./placement.ts";
import {
  type AdmissionPolicy,
  admissionPolicy,
  baseModelRefusal,
  formatSeconds,
  limitRefusal,
} from "./policy.ts";
import { devicesOf, type QueueState } from "./state.ts";

export type Refusal = Extract<AdmitResult, { ok: false }>;
/** What enqueue may answer: the checks that do not depend on the policy. */
export type QueueRefusal = Refusal & { reason: "queue_full" | "deadline" | "unplaceable" };

/** A queue started without a policy (tests, benchmarks) gets the defaults: only default base models. */
const DEFAULT_POLICY = admissionPolicy();

/** Accepted tasks not yet training, against `miner.max_queue_size`. */
export function admittedCount(state: QueueState): number {
  return state.queued.length + state.waiting.size;
}

/** Why a validator's new task cannot be admitted now: the queue's checks and the policy's. */
export function admitRefusalOf(state: QueueState, task: Task): Refusal | null {
  return refusalOf(state, task, "accept", true, true);
}

/** Why `task` cannot be enqueued now; `counts`: it does not hold a slot yet. */
export function enqueueRefusalOf(state: QueueState, task: Task, counts: boolean): QueueRefusal | null {
  return refusalOf(state, task, "enqueue", counts, false) as QueueRefusal | null; // no policy reasons
}

function refusalOf(
  state: QueueState,
  task: Task,
  verb: string,
  counts: boolean,
  admitting: boolean,
): Refusal | null {
  const { maxQueueSize } = state.deps;
  const devices = devicesOf(state.deps);
  const refuse = (reason: Refusal["reason"], why: string): Refusal => ({
    ok: false,
    reason,
    message: `Cannot ${verb} task "${task.request.id}": ${why}`,
  });
  const now = state.clock.now();
  const deadline = task.request.deadline_ms;
  if (deadline !== null && deadline <= now) {
    return refuse("deadline", `its deadline passed ${Math.ceil((now - deadline) / 1000)} s ago`);
  }
  const policy = state.deps.policy ?? DEFAULT_POLICY;
  if (admitting) {
    const model = baseModelRefusal(task, policy);
    if (model) return refuse("model_not_allowed", model);
    const over = limitRefusal(task, policy.limits);
    if (over) return refuse("over_limit", over);
  }
  const why = unplaceable(needOf(task), devices);
  if (why) return refuse("unplaceable", why);
  if (admitting) {
    const long = tooLong(task, state, policy);
    if (long) return refuse("too_long", long);
  }
  if (!counts) return null;
  const n = admittedCount(state);
  if (n >= maxQueueSize) return refuse("queue_full", `queue is full (${n} of ${maxQueueSize})`);
  if (!admitting) return null;
  const who = { validator: task.validator_hotkey, stake: task.validator_stake_tao };
  const entries = [...state.waiting.values(), ...state.queued];
  const quota = quotaRefusal(entries, n, who, maxQueueSize, policy.fairness);
  return quota ? refuse("validator_quota", quota) : null;
}

/**
 * Why the task cannot finish in time, by its optimistic estimate (placement.ts), or null. A base model
 * still to download counts against the deadline, not against the training limit.
 */
function tooLong(task: Task, state: QueueState, policy: AdmissionPolicy): string | null {
  const runS = estimateRunS(task, devicesOf(state.deps));
  if (runS === null) return null;
  const limitS = policy.taskTimeLimitS;
  const needs = `it would train for at least ${formatSeconds(runS)} (estimated from its steps and size)`;
  if (runS > limitS) {
    return `${needs}, longer than this miner's limit of ${formatSeconds(limitS)} (miner.task_time_limit_s)`;
  }
  const downloadS = policy.downloadS?.(task.request.training.base_model) ?? 0;
  const deadline = task.request.deadline_ms;
  const leftS = deadline === null ? Infinity : (deadline - state.clock.now()) / 1000;
  if (runS + downloadS <= leftS) return null;
  const after = downloadS > 0
    ? ` after its base model's download (about ${formatSeconds(downloadS)} left)`
    : "";
  return `${needs}${after}, past its deadline in ${formatSeconds(leftS)}`;
}
