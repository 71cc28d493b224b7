/**
 * A local task center speaking docs/task-center.openapi.yml on 127.0.0.1, for tests and
 * `deno task local`. It verifies every request's signature with the miner's own verify code
 * (known hotkeys, replay window), validates manifests with scripted outcomes per task, records
 * results exactly once per (task id, dedupe key), and injects faults: statuses, lost
 * acknowledgements, and being down (the listener closed, the state kept).
 */
import { verifyRequest } from "../actors/task_center/signing.ts";
import { manifestSha256 } from "../core/manifest.ts";
import {
  type DatasetManifest,
  type ResultAck,
  ResultSubmission,
  SubmitDatasetBody,
  type TaskStatus,
  type ValidationStatus,
} from "../actors/task_center/task_center_api.ts";

/** What validation answers for a task: at once, after some polls, or never. */
export type Outcome =
  | { status: "validated"; afterPolls?: number }
  | { status: "rejected"; reason: string; afterPolls?: number }
  | { status: "pending" };

export interface Fault {
  /** Which endpoint it hits: "dataset" (PUT), "validation", "result", "task", or any. */
  route?: "dataset" | "validation" | "result" | "task";
  status: number;
  /** How many matching requests get it. */
  times: number;
  retryAfterS?: number;
  /** Process the request first (a result is recorded), then answer `status`: a lost acknowledgement. */
  afterHandling?: boolean;
}

export interface ServerOptions {
  knownHotkeys: Iterable<string>;
  port?: number;
  now?: () => number;
  windowMs?: number;
  /** Default outcome for tasks with no script. */
  defaultOutcome?: Outcome;
}

interface TaskRecord {
  hotkey: string;
  manifest: DatasetManifest | null;
  manifestSha: string | null;
  status: ValidationStatus["status"];
  reason: string | null;
  polls: number;
  result: { ack: ResultAck; submission: ResultSubmission } | null;
}

type Route = { route: Fault["route"]; taskId: string; method: string };

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const error = (status: number, reason: string, message: string, headers: Record<string, string> = {}) =>
  json(status, { reason, message }, headers);

export class TaskCenterServer implements AsyncDisposable {
  readonly tasks = new Map<string, TaskRecord>();
  readonly scripts = new Map<string, Outcome>();
  readonly faults: Fault[] = [];
  /** Every request that reached the handler: method, path, answer status. */
  readonly log: { method: string; path: string; status: number }[] = [];
  /** Result POSTs that were recorded (not duplicates): the exactly-once count. */
  readonly recorded: ResultSubmission[] = [];
  #seen = new Map<string, Map<string, number>>();
  #server: Deno.HttpServer | null = null;
  #port = 0;

  private constructor(private readonly opts: ServerOptions, readonly known = new Set(opts.knownHotkeys)) {}

  static async start(opts: ServerOptions): Promise<TaskCenterServer> {
    const s = new TaskCenterServer(opts);
    s.#port = opts.port ?? 0;
    await s.up();
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Closes the listener (connections are refused); state is kept for `up()`. */
  async down(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = null;
  }

  /** Listens again, on the same port once one was chosen. */
  up(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#server = Deno.serve({
      hostname: "127.0.0.1",
      port: this.#port,
      onListen: ({ port }) => (this.#port = port, resolve()),
    }, (req) => this.handle(req));
    return promise;
  }

  /** Marks a task's dataset validated for `hotkey`, for tests that start at the result. */
  preValidate(taskId: string, hotkey: string): void {
    this.tasks.set(taskId, { ...blank(hotkey), status: "validated" });
  }

  recordedFor(taskId: string): number {
    return this.recorded.filter((r) => r.task_id === taskId).length;
  }

  requestsTo(route: string): number {
    return this.log.filter((l) => l.path.includes(route)).length;
  }

  /** Answers one request; usable without a socket (`new Request(...)`). */
  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const res = await this.#route(req, url);
    this.log.push({ method: req.method, path: url.pathname, status: res.status });
    return res;
  }

  async #route(req: Request, url: URL): Promise<Response> {
    const route = match(req.method, url.pathname);
    if (!route) return error(404, "not_found", `No route ${req.method} ${url.pathname}`);
    const body = new Uint8Array(await req.arrayBuffer());
    if (body.length > 1024 * 1024) return error(413, "body_too_large", "Body is over 1 MiB");
    const auth = verifyRequest(req.headers, req.method, url.pathname + url.search, body, {
      known: this.known,
      nowMs: this.#now(),
      windowMs: this.opts.windowMs ?? 60_000,
      seen: this.#seen,
    });
    if (!auth.ok) return error(auth.reason === "unknown_hotkey" ? 403 : 401, auth.reason, auth.message);
    const fault = this.#takeFault(route.route);
    if (fault && !fault.afterHandling) return faultResponse(fault);
    const res = this.#serve(route, auth.hotkey, body);
    return fault ? faultResponse(fault) : res;
  }

  #takeFault(route: Fault["route"]): Fault | null {
    const f = this.faults.find((f) => f.times > 0 && (f.route === undefined || f.route === route));
    if (f) f.times--;
    return f ?? null;
  }

  #serve(route: Route, hotkey: string, body: Uint8Array): Response {
    const task = this.tasks.get(route.taskId);
    if (task && task.hotkey !== hotkey) {
      return error(403, "not_task_owner", `Task "${route.taskId}" belongs to another hotkey`);
    }
    switch (route.route) {
      case "dataset":
        return this.#putDataset(route.taskId, hotkey, task, body);
      case "validation":
        return task ? json(200, this.#poll(route.taskId, task)) : notFound(route.taskId);
      case "result":
        return this.#postResult(route.taskId, task, body);
      default:
        return task ? json(200, this.#status(route.taskId, task)) : notFound(route.taskId);
    }
  }

  #putDataset(taskId: string, hotkey: string, task: TaskRecord | undefined, body: Uint8Array): Response {
    const parsed = SubmitDatasetBody.safeParse(parseJson(body));
    if (!parsed.success) return error(422, "manifest_invalid", parsed.error.issues[0]?.message ?? "invalid");
    const m = parsed.data.manifest;
    const problem = checkManifest(taskId, m);
    if (problem) return error(422, "manifest_invalid", problem);
    const sha = manifestSha256(m);
    if (task && task.manifestSha === sha) return json(200, view(taskId, task));
    if (task && task.status !== "pending") {
      return error(409, "dataset_already_decided", `Task "${taskId}" dataset is already ${task.status}`);
    }
    const rec: TaskRecord = { ...blank(hotkey), manifest: m, manifestSha: sha };
    this.tasks.set(taskId, rec);
    return json(202, view(taskId, rec));
  }

  #poll(taskId: string, task: TaskRecord): ValidationStatus {
    if (task.status !== "pending") return view(taskId, task);
    task.polls++;
    const outcome = this.scripts.get(taskId) ?? this.opts.defaultOutcome ?? { status: "validated" };
    if (outcome.status !== "pending" && task.polls > (outcome.afterPolls ?? 0)) {
      task.status = outcome.status;
      task.reason = outcome.status === "rejected" ? outcome.reason : null;
    }
    return view(taskId, task);
  }

  #postResult(taskId: string, task: TaskRecord | undefined, body: Uint8Array): Response {
    const parsed = ResultSubmission.safeParse(parseJson(body));
    if (!parsed.success) return error(422, "result_invalid", parsed.error.issues[0]?.message ?? "invalid");
    const s = parsed.data;
    if (s.task_id !== taskId) return error(422, "result_invalid", "task_id does not match the path");
    if (!task || task.status !== "validated") {
      return error(409, "dataset_not_validated", `Task "${taskId}" has no validated dataset`);
    }
    if (task.manifestSha && s.dataset_manifest_sha256 !== task.manifestSha) {
      return error(422, "manifest_mismatch", "Result names a dataset manifest that was not validated");
    }
    if (task.result) {
      if (task.result.ack.dedupe_key !== s.dedupe_key) {
        return error(409, "result_already_recorded", `Task "${taskId}" already has a different result`);
      }
      return json(200, { ...task.result.ack, duplicate: true });
    }
    const ack = { task_id: taskId, dedupe_key: s.dedupe_key, duplicate: false, recorded_at_ms: this.#now() };
    task.result = { ack, submission: s };
    this.recorded.push(s);
    return json(201, ack);
  }

  #status(taskId: string, task: TaskRecord): TaskStatus {
    const dataset = task.manifestSha ? view(taskId, task) : null;
    return { task_id: taskId, hotkey: task.hotkey, dataset, result: task.result?.ack ?? null };
  }

  #now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}

function match(method: string, path: string): Route | null {
  const m = path.match(/^\/v1\/tasks\/([^/]+)(\/dataset(\/validation)?|\/result)?$/);
  if (!m) return null;
  const taskId = decodeURIComponent(m[1]);
  const table: Record<string, [string, Fault["route"]]> = {
    "": ["GET", "task"],
    "/dataset": ["PUT", "dataset"],
    "/dataset/validation": ["GET", "validation"],
    "/result": ["POST", "result"],
  };
  const [want, route] = table[m[2] ?? ""];
  return want === method ? { route, taskId, method } : null;
}

function checkManifest(taskId: string, m: DatasetManifest): string | null {
  if (m.task_id !== taskId) return "manifest task_id does not match the path";
  const paths = m.files.map((f) => f.path);
  if (new Set(paths).size !== paths.length) return "manifest lists a file twice";
  if (m.files.reduce((n, f) => n + f.bytes, 0) !== m.total_bytes) {
    return "total_bytes is not the sum of the files";
  }
  if (m.format === "unknown") return "no file the trainer can read";
  return null;
}

function blank(hotkey: string): TaskRecord {
  return {
    hotkey,
    manifest: null,
    manifestSha: null,
    status: "pending",
    reason: null,
    polls: 0,
    result: null,
  };
}

function view(taskId: string, t: TaskRecord): ValidationStatus {
  return {
    task_id: taskId,
    status: t.status,
    reason: t.reason,
    manifest_sha256: t.manifestSha ?? "0".repeat(64),
    retry_after_s: t.status === "pending" ? 1 : null,
  };
}

function notFound(taskId: string): Response {
  return error(404, "task_not_found", `No dataset was submitted for task "${taskId}"`);
}

function faultResponse(f: Fault): Response {
  const headers: Record<string, string> = f.retryAfterS !== undefined
    ? { "retry-after": String(f.retryAfterS) }
    : {};
  return error(
    f.status,
    f.status === 429 ? "rate_limited" : "injected_fault",
    `Injected ${f.status}`,
    headers,
  );
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}
