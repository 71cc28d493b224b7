/**
 * Typed client for the task center (docs/task-center.openapi.yml): one function per endpoint, each
 * request signed by the miner's hotkey (signing.ts), each response checked with zod. Refusals are
 * results, not throws (STYLE: an expected outcome is a reply): the caller decides whether a 4xx
 * fails the task and whether a 429, a 5xx or a network error is retried.
 */
import type { z } from "zod";
import { redactUrl } from "../../core/errors.ts";
import { nonceSource, type Signer, signRequest } from "./signing.ts";
import {
  type DatasetManifest,
  ErrorBody,
  paths,
  ResultAck,
  type ResultSubmission,
  TaskStatus,
  ValidationStatus,
} from "./task_center_api.ts";

export interface TaskCenterOptions {
  baseUrl: string;
  signer: Signer;
  fetch?: typeof fetch;
  /** Per-request bound; a slower answer counts as a network error. */
  timeoutMs?: number;
  /** Nonce time source (ms); the actor passes its clock. */
  now?: () => number;
}

export interface TaskCenter {
  readonly baseUrl: string;
  call<T>(method: string, path: string, body: unknown, schema: z.ZodType<T>): Promise<CallResult<T>>;
}

export type CallFailure =
  /** The task center answered with an error status; `reason` is its machine code. */
  | {
    ok: false;
    kind: "http";
    status: number;
    reason: string;
    /** The task center's own message, without our request line: fit for a task's failure reason. */
    detail: string;
    message: string;
    retryAfterMs: number | null;
  }
  /** No usable answer: refused connection, timeout, or a body that is not what the document says. */
  | { ok: false; kind: "network"; message: string };
export type CallResult<T> = { ok: true; value: T } | CallFailure;

/** True when trying the same request later may succeed (network, 408, 425, 429, 5xx). */
export function retryable(f: CallFailure): boolean {
  return f.kind === "network" || f.status === 408 || f.status === 425 || f.status === 429 || f.status >= 500;
}

/** A failure as a task's reason: the task center's code and message, or what went wrong on the way. */
export function failureReason(f: CallFailure): string {
  return f.kind === "http" ? `${f.reason}: ${f.detail}` : f.message;
}

export function taskCenter(opts: TaskCenterOptions): TaskCenter {
  const doFetch = opts.fetch ?? fetch;
  const nextNonce = nonceSource(opts.now ?? Date.now);
  const base = opts.baseUrl.replace(/\/+$/, "");
  return {
    baseUrl: base,
    async call(method, path, body, schema) {
      const url = new URL(base + path);
      const text = body === undefined ? "" : JSON.stringify(body);
      const headers = signRequest(opts.signer, nextNonce(), method, url.pathname + url.search, text);
      let res: Response;
      try {
        res = await doFetch(url, {
          method,
          headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : text,
          signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
        });
      } catch (e) {
        return { ok: false, kind: "network", message: `${method} ${redactUrl(url.href)}: ${errorText(e)}` };
      }
      return await readResponse(method, url, res, schema);
    },
  };
}

/** PUT the dataset manifest; the answer is the validation status (usually pending). */
export function submitDataset(
  tc: TaskCenter,
  taskId: string,
  manifest: DatasetManifest,
): Promise<CallResult<ValidationStatus>> {
  return tc.call("PUT", paths.dataset(taskId), { manifest }, ValidationStatus);
}

export function getValidation(tc: TaskCenter, taskId: string): Promise<CallResult<ValidationStatus>> {
  return tc.call("GET", paths.validation(taskId), undefined, ValidationStatus);
}

export function postResult(tc: TaskCenter, result: ResultSubmission): Promise<CallResult<ResultAck>> {
  return tc.call("POST", paths.result(result.task_id), result, ResultAck);
}

export function getTaskStatus(tc: TaskCenter, taskId: string): Promise<CallResult<TaskStatus>> {
  return tc.call("GET", paths.task(taskId), undefined, TaskStatus);
}

async function readResponse<T>(
  method: string,
  url: URL,
  res: Response,
  schema: z.ZodType<T>,
): Promise<CallResult<T>> {
  const where = `${method} ${redactUrl(url.href)}`;
  const raw = await res.text().catch((e) => `\u0000${errorText(e)}`);
  let json: unknown = undefined;
  try {
    json = JSON.parse(raw);
  } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const err = ErrorBody.safeParse(json);
    const detail = err.success ? err.data.message : raw.slice(0, 200);
    return {
      ok: false,
      kind: "http",
      status: res.status,
      reason: err.success ? err.data.reason : `http_${res.status}`,
      detail,
      message: `${where} answered ${res.status}: ${detail}`,
      retryAfterMs: retryAfterMs(res.headers.get("retry-after")),
    };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  // A 2xx we cannot read is not an acknowledgement: treat it like no answer and try again later.
  return { ok: false, kind: "network", message: `${where} answered ${res.status} with an unexpected body` };
}

/** Retry-After in seconds or as an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, nowMs = Date.now()): number | null {
  if (value === null) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
