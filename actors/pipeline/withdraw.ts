/**
 * A validator's cancel of its task, routed by the pipeline to the one actor whose write comes next for
 * the task's state, so each transition keeps one writer: the task center actor while the dataset is
 * fetched or validated (it also drops the dataset job), the queue from `dataset_validated` on (it also
 * stops a trainer). A task that moves on between the read and the ask is routed again from the store.
 */
import { unavailableOf } from "../../core/errors.ts";
import type { Store } from "../../core/store.ts";
import { type Task, type TaskState, TERMINAL_STATES } from "../../core/task.ts";
import { cancelDataset, cancelTask, type Reply, running, type WithdrawResult } from "../protocol.ts";
import type { StepActors } from "./steps.ts";

/** Routings of one cancel at most: states only move forward, so two suffice; a third is a margin. */
const MAX_ROUTINGS = 3;

/** What the holder answered: a result for the validator, or that the task was no longer its. */
type CancelAnswer = { kind: "result"; result: WithdrawResult } | { kind: "moved" };
type Answer = { ok: true; value: CancelAnswer } | { ok: false; error: unknown };

/** The holder's answer, back in the pipeline's mailbox. */
export type Withdrawn = {
  type: "withdrawn";
  taskId: string;
  attempt: number;
  answer: Answer;
  reply: Reply<WithdrawResult>;
};

export interface WithdrawContext {
  readonly actors: StepActors;
  readonly store: Store;
  /** Posts the holder's answer to the pipeline's own mailbox. */
  readonly tell: (msg: Withdrawn) => void;
  /** Told of a task the cancel ended (the pipeline's `onSettled`). */
  readonly settled: (task: Task) => void;
}

/** The actor that fails a task cancelled in `state`; null once nothing is left to cancel. */
export function holderOf(state: TaskState): "taskCenter" | "queue" | null {
  switch (state) {
    case "received":
    case "dataset_submitted":
      return "taskCenter";
    case "dataset_validated":
    case "queued":
    case "training":
      return "queue";
    default:
      return null;
  }
}

/** Reads the task and asks its holder to cancel it, off the handler; the answer comes as `withdrawn`. */
export async function withdraw(
  ctx: WithdrawContext,
  taskId: string,
  reply: Reply<WithdrawResult>,
  attempt = 0,
): Promise<void> {
  const task = await ctx.store.getTask(taskId);
  if (task === null) {
    return reply({ ok: false, reason: "not_found", message: `Task "${taskId}" is not known`, state: null });
  }
  const holder = holderOf(task.state);
  if (holder === null || attempt >= MAX_ROUTINGS) {
    const why = TERMINAL_STATES.has(task.state) ? "it has already ended" : "its result is on its way";
    const message = `Cannot cancel task "${taskId}": ${why} (${task.state})`;
    return reply({ ok: false, reason: "not_cancellable", message, state: task.state });
  }
  const told = (answer: Answer) => ctx.tell({ type: "withdrawn", taskId, attempt, answer, reply });
  try {
    ask(ctx.actors, holder, taskId).then(
      (value) => told({ ok: true, value }),
      (error) => told({ ok: false, error }),
    );
  } catch (error) {
    told({ ok: false, error });
  }
}

/** The holder answered: reply, or route again if the task had moved on. A bug (not a busy actor) throws. */
export async function withdrawn(ctx: WithdrawContext, msg: Withdrawn): Promise<void> {
  const { answer, reply, taskId } = msg;
  if (!answer.ok) {
    const busy = unavailableOf(answer.error);
    if (!busy) throw answer.error;
    const { message, what, retryAfterS } = busy;
    return reply({ ok: false, reason: "unavailable", message, what, retryAfterS });
  }
  if (answer.value.kind === "moved") return await withdraw(ctx, taskId, reply, msg.attempt + 1);
  const { result } = answer.value;
  if (result.ok) ctx.settled(result.task);
  reply(result);
}

async function ask(
  actors: StepActors,
  holder: "taskCenter" | "queue",
  taskId: string,
): Promise<CancelAnswer> {
  if (holder === "taskCenter") {
    const r = await cancelDataset(running(actors.taskCenter(), "task center actor"), taskId);
    if (r.ok) return { kind: "result", result: { ok: true, task: r.task } };
    if (r.reason === "moved") return { kind: "moved" };
    return { kind: "result", result: { ok: false, reason: "not_found", message: r.message, state: null } };
  }
  const r = await cancelTask(running(actors.queue(), "queue actor"), taskId);
  if (r.ok) return { kind: "result", result: { ok: true, task: r.task } };
  if (r.reason === "not_found") {
    return { kind: "result", result: { ok: false, reason: "not_found", message: r.message, state: null } };
  }
  return { kind: "moved" }; // not queued or running (any more): the store says where it went
}
