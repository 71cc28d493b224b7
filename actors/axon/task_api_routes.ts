/**
 * What each task API route answers once its caller is verified (task_api.ts): the same services and
 * the same reply fields as the TrainingTask, TaskStatus and Capacity synapses (synapse_handlers.ts),
 * as JSON with a status per outcome. A task of another validator reads as unknown (404).
 */
import { TaskRequest, TERMINAL_STATES } from "../../core/task.ts";
import type { AdmitRefusal, WithdrawResult } from "../protocol.ts";
import { jsonDepth, MAX_JSON_DEPTH } from "./request_body.ts";
import { echo } from "./response.ts";
import { type AxonServices, capacityReply, taskStatusReply } from "./synapse_handlers.ts";
import { describeZodError } from "./synapses.ts";

export type Route =
  | { kind: "openapi" }
  | { kind: "submit" }
  | { kind: "status"; taskId: string }
  | { kind: "cancel"; taskId: string }
  | { kind: "capacity" };

/** Seconds a validator is told to wait when the queue (or its share of it) is full. */
export const QUEUE_RETRY_AFTER_S = 30;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A refusal: `{"error": code, "message": …}` plus `extra` fields, with `Retry-After` when set. */
export class ApiError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
    readonly extra: Record<string, unknown> = {},
    readonly retryAfterS: number | null = null,
    readonly headers: Record<string, string> = {},
  ) {}

  response(): Response {
    const headers = { ...this.headers };
    if (this.retryAfterS !== null) headers["Retry-After"] = String(Math.ceil(this.retryAfterS));
    return json(this.status, { error: this.code, message: this.message, ...this.extra }, headers);
  }
}

/** The status of each admission refusal: the task's own fault (400), an id clash (409), a full queue (429). */
const REFUSAL_STATUS: Record<AdmitRefusal, 400 | 409 | 429> = {
  deadline: 400,
  model_not_allowed: 400,
  over_limit: 400,
  too_long: 400,
  unplaceable: 400,
  id_taken: 409,
  queue_full: 429,
  validator_quota: 429,
};

export type Caller = { hotkey: string; facts: { stakeTao: number }; body: Uint8Array };

export async function answer(
  route: Exclude<Route, { kind: "openapi" }>,
  caller: Caller,
  services: AxonServices,
) {
  switch (route.kind) {
    case "submit":
      return await submit(caller, services);
    case "status":
      return await status(route.taskId, caller, services);
    case "cancel":
      return await cancel(route.taskId, caller, services);
    case "capacity":
      return json(200, capacityReply(await services.capacity()));
  }
}

/** The body as a TaskRequest: strict UTF-8, bounded nesting, JSON, then the zod schema. */
export function parseTaskBody(body: Uint8Array): { ok: true; request: TaskRequest } | ApiError {
  const invalid = (message: string) => new ApiError(400, "invalid_task", message);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    return invalid("Body is not UTF-8 text");
  }
  if (jsonDepth(text) > MAX_JSON_DEPTH) return invalid(`Body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return invalid(`Body is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = TaskRequest.safeParse(value);
  if (!parsed.success) return invalid(describeZodError(parsed.error));
  return { ok: true, request: parsed.data };
}

async function submit(caller: Caller, services: AxonServices): Promise<Response> {
  const parsed = parseTaskBody(caller.body);
  if (parsed instanceof ApiError) throw parsed;
  const r = await services.acceptTask(parsed.request, {
    hotkey: caller.hotkey,
    stakeTao: caller.facts.stakeTao,
  });
  if (r.ok) return json(202, { task_id: r.taskId, accepted: true, queue_position: r.position });
  switch (r.reason) {
    case "unavailable":
      throw new ApiError(503, "unavailable", r.message, {}, r.retryAfterS);
    case "duplicate":
      // The validator's own task: where it is, so it can poll instead of sending again.
      throw new ApiError(409, "duplicate", r.message, {
        task_id: r.taskId,
        state: r.state,
        queue_position: r.position > 0 ? r.position : null,
      });
    default: {
      const status = REFUSAL_STATUS[r.reason];
      throw new ApiError(status, r.reason, r.message, {}, status === 429 ? QUEUE_RETRY_AFTER_S : null);
    }
  }
}

function unknownTask(taskId: string): ApiError {
  return new ApiError(404, "not_found", `Task "${echo(taskId)}" is not known to this miner`);
}

async function status(taskId: string, caller: Caller, services: AxonServices): Promise<Response> {
  const reply = taskStatusReply(taskId, await services.taskStatus(taskId), {
    hotkey: caller.hotkey,
    facts: null,
  });
  if (reply.state === "not_found") throw unknownTask(taskId);
  return json(200, { task_id: taskId, ...reply });
}

async function cancel(taskId: string, caller: Caller, services: AxonServices): Promise<Response> {
  const task = await services.taskStatus(taskId);
  if (task === null || task.validator_hotkey !== caller.hotkey) throw unknownTask(taskId);
  if (TERMINAL_STATES.has(task.state)) throw notCancellable(taskId, task.state);
  if (!services.cancelTask) throw new ApiError(503, "unavailable", "Cancelling is not available", {}, 5);
  const r: WithdrawResult = await services.cancelTask(taskId);
  if (r.ok) return json(200, { task_id: taskId, state: r.task.state, reason: r.task.reason });
  switch (r.reason) {
    case "unavailable":
      throw new ApiError(503, "unavailable", r.message, {}, r.retryAfterS);
    case "not_found":
      throw unknownTask(taskId);
    case "not_cancellable":
      throw new ApiError(409, "not_cancellable", r.message, { state: r.state });
  }
}

function notCancellable(taskId: string, state: string): ApiError {
  const message = `Cannot cancel task "${echo(taskId)}": it has already ended (${state})`;
  return new ApiError(409, "not_cancellable", message, { state });
}
