/**
 * The miner's client for the Jobs REST API of a Ray cluster (Ray 2.60): one function per endpoint, every
 * answer checked with zod, every request bearing the cluster's token and bounded in time. The outcomes a
 * caller plans for are values (an unknown job is null, a resubmitted id is `submitted: false`, stopping an
 * ended job is false); anything else is a RayError naming the action, the endpoint, the address, the HTTP
 * status and Ray's own short cause, never the token.
 */
import { z } from "zod";
import {
  containsToken,
  type Ctx,
  normalizeAddress,
  parseOk,
  RayError,
  request,
  statusError,
} from "./ray_http.ts";
import { tail } from "./ray_tail.ts";

export { RayError };

export type RayJobStatus = "PENDING" | "RUNNING" | "STOPPED" | "SUCCEEDED" | "FAILED";
export type RayJob = {
  submissionId: string;
  status: RayJobStatus;
  message: string | null;
  errorType: string | null;
  driverExitCode: number | null;
  driverNodeId: string | null;
  metadata: Record<string, string>;
  entrypoint: string;
};
export type RayNode = {
  nodeId: string;
  ip: string;
  alive: boolean;
  isHead: boolean;
  gpus: number;
  /** MiB per GPU as the node's agent reports it (nvidia-smi/pynvml); [] on a box without real GPUs */
  gpuMemoryMb: number[];
  resources: Record<string, number>;
};
export type SubmitRequest = {
  submissionId: string;
  entrypoint: string;
  numGpus: number;
  resources: Record<string, number>;
  runtimeEnv: { working_dir: string; env_vars: Record<string, string> };
  metadata: Record<string, string>;
};

export type RayClientOptions = { address: string; token: string; timeoutMs?: number; fetch?: typeof fetch };

export interface RayClient {
  readonly address: string;
  /** GET /api/version; a refused token names cluster.ray.token and RAY_AUTH_TOKEN. */
  version(): Promise<{ rayVersion: string }>;
  /** /api/v0/nodes joined with /nodes?view=summary (by node id) for GPU memory. */
  nodes(): Promise<RayNode[]>;
  /** POST /api/jobs/. A known submission id is not an error: the job is read back, `submitted: false`. */
  submit(req: SubmitRequest): Promise<{ submitted: boolean; job: RayJob }>;
  /** GET /api/jobs/{id}; null on 404. */
  job(submissionId: string): Promise<RayJob | null>;
  /** POST /api/jobs/{id}/stop; true when Ray stopped it, false when it had already ended or is unknown. */
  stop(submissionId: string): Promise<boolean>;
  /** GET /api/jobs/{id}/logs: the whole log so far. */
  logs(submissionId: string): Promise<string>;
  /** WebSocket /api/jobs/{id}/logs/tail: text chunks (not line-aligned) until Ray closes or `signal` aborts. */
  tail(submissionId: string, signal?: AbortSignal): AsyncIterable<string>;
  /** Uploads a working_dir package unless Ray already has it; true when it uploaded. */
  ensurePackage(name: string, bytes: Uint8Array): Promise<boolean>;
}

const VersionBody = z.looseObject({ ray_version: z.string() });
const JobBody = z.looseObject({
  submission_id: z.string(),
  status: z.enum(["PENDING", "RUNNING", "STOPPED", "SUCCEEDED", "FAILED"]),
  message: z.string().nullish(),
  error_type: z.string().nullish(),
  driver_exit_code: z.number().int().nullish(),
  driver_node_id: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  entrypoint: z.string(),
});
const SubmitBody = z.looseObject({ submission_id: z.string() });
const StopBody = z.looseObject({ stopped: z.boolean() });
const LogsBody = z.looseObject({ logs: z.string() });
const NodesBody = z.looseObject({
  data: z.looseObject({
    result: z.looseObject({
      result: z.array(z.looseObject({
        node_id: z.string(),
        node_ip: z.string(),
        is_head_node: z.boolean(),
        state: z.string(),
        resources_total: z.record(z.string(), z.number()).nullish(),
      })),
    }),
  }),
});
const SummaryBody = z.looseObject({
  data: z.looseObject({
    summary: z.array(z.looseObject({
      gpus: z.array(z.looseObject({ memoryTotal: z.number() })).nullish(),
      raylet: z.looseObject({ nodeId: z.string() }).nullish(),
    })),
  }),
});

/** Ray's state API answers 100 rows unless told; this is its maximum. */
const NODE_LIMIT = 10_000;

export function rayClient(opts: RayClientOptions): RayClient {
  const ctx: Ctx = {
    address: normalizeAddress(opts.address),
    token: opts.token,
    timeoutMs: opts.timeoutMs ?? 10_000,
    fetch: opts.fetch ?? fetch,
  };
  return {
    address: ctx.address,
    version: () => version(ctx),
    nodes: () => nodes(ctx),
    submit: (req) => submit(ctx, req),
    job: (id) => job(ctx, id),
    stop: (id) => stop(ctx, id),
    logs: (id) => logs(ctx, id),
    tail: (id, signal) => tail(ctx, `${jobPath(id)}/logs/tail`, `follow the log of Ray job "${id}"`, signal),
    ensurePackage: (name, bytes) => ensurePackage(ctx, name, bytes),
  };
}

async function version(ctx: Ctx): Promise<{ rayVersion: string }> {
  const action = "read the Ray version";
  const a = await request(ctx, action, "GET", "/api/version");
  return { rayVersion: parseOk(ctx, action, "GET /api/version", a, VersionBody).ray_version };
}

async function nodes(ctx: Ctx): Promise<RayNode[]> {
  const action = "list Ray nodes";
  const [listPath, summaryPath] = [`/api/v0/nodes?limit=${NODE_LIMIT}`, "/nodes?view=summary"];
  const [list, summary] = await Promise.all([
    request(ctx, action, "GET", listPath),
    request(ctx, action, "GET", summaryPath),
  ]);
  const rows = parseOk(ctx, action, `GET ${listPath}`, list, NodesBody).data.result.result;
  const memory = new Map<string, number[]>();
  for (const s of parseOk(ctx, action, `GET ${summaryPath}`, summary, SummaryBody).data.summary) {
    if (s.raylet) memory.set(s.raylet.nodeId, (s.gpus ?? []).map((g) => g.memoryTotal));
  }
  return rows.map((n) => ({
    nodeId: n.node_id,
    ip: n.node_ip,
    alive: n.state === "ALIVE",
    isHead: n.is_head_node,
    gpus: n.resources_total?.GPU ?? 0,
    gpuMemoryMb: memory.get(n.node_id) ?? [],
    resources: n.resources_total ?? {},
  }));
}

async function submit(ctx: Ctx, req: SubmitRequest): Promise<{ submitted: boolean; job: RayJob }> {
  const action = `submit Ray job "${req.submissionId}"`;
  // Without an id Ray would make one up, and a retry after a lost answer would start a second run.
  if (req.submissionId === "") throw new TypeError("Cannot submit a Ray job: submissionId is empty");
  // Ray echoes all of these in every job read; the token must not be among them.
  const echoed = [
    req.submissionId,
    req.entrypoint,
    ...Object.values(req.runtimeEnv.env_vars),
    ...Object.values(req.metadata),
  ];
  if (echoed.some((v) => containsToken(ctx, v))) {
    throw new TypeError(
      "Cannot submit a Ray job: its id, entrypoint, env_vars or metadata contain the Ray token",
    );
  }
  const body = JSON.stringify({
    submission_id: req.submissionId,
    entrypoint: req.entrypoint,
    entrypoint_num_gpus: req.numGpus,
    entrypoint_resources: req.resources,
    // Ray fails a job whose working_dir is "" in runtime env setup; "" here means none.
    runtime_env: req.runtimeEnv.working_dir === "" ? { env_vars: req.runtimeEnv.env_vars } : req.runtimeEnv,
    metadata: req.metadata,
  });
  const a = await request(ctx, action, "POST", "/api/jobs/", body);
  // A resubmission after a lost answer or a restart: Ray keeps the first job, which is the one wanted.
  const known = a.status === 500 && /already exists/i.test(a.text);
  if (!known) parseOk(ctx, action, "POST /api/jobs/", a, SubmitBody);
  const read = await job(ctx, req.submissionId);
  if (read === null) {
    throw new RayError(
      `Cannot ${action}: Ray at ${ctx.address} took it but GET ${
        jobPath(req.submissionId)
      } answered HTTP 404`,
      404,
    );
  }
  return { submitted: !known, job: read };
}

async function job(ctx: Ctx, id: string): Promise<RayJob | null> {
  const action = `read Ray job "${id}"`;
  const a = await request(ctx, action, "GET", jobPath(id));
  if (a.status === 404) return null;
  const j = parseOk(ctx, action, `GET ${jobPath(id)}`, a, JobBody);
  return {
    submissionId: j.submission_id,
    status: j.status,
    message: j.message ?? null,
    errorType: j.error_type ?? null,
    driverExitCode: j.driver_exit_code ?? null,
    driverNodeId: j.driver_node_id ?? null,
    metadata: j.metadata ?? {},
    entrypoint: j.entrypoint,
  };
}

async function stop(ctx: Ctx, id: string): Promise<boolean> {
  const path = `${jobPath(id)}/stop`;
  const action = `stop Ray job "${id}"`;
  const a = await request(ctx, action, "POST", path);
  if (a.status === 404) return false;
  return parseOk(ctx, action, `POST ${path}`, a, StopBody).stopped;
}

async function logs(ctx: Ctx, id: string): Promise<string> {
  const path = `${jobPath(id)}/logs`;
  const action = `read the log of Ray job "${id}"`;
  return parseOk(ctx, action, `GET ${path}`, await request(ctx, action, "GET", path), LogsBody).logs;
}

async function ensurePackage(ctx: Ctx, name: string, bytes: Uint8Array): Promise<boolean> {
  if (!/^[\w.-]+\.zip$/.test(name)) {
    throw new TypeError(
      `Cannot upload Ray package "${name}": the name must be a plain file name ending in .zip`,
    );
  }
  const path = `/api/packages/gcs/${encodeURIComponent(name)}`;
  const action = `upload Ray package "${name}"`;
  const found = await request(ctx, action, "GET", path);
  if (found.status === 200) return false;
  if (found.status !== 404) throw statusError(ctx, action, `GET ${path}`, found);
  const put = await request(ctx, action, "PUT", path, bytes);
  if (put.status !== 200) throw statusError(ctx, action, `PUT ${path}`, put);
  return true;
}

function jobPath(id: string): string {
  return `/api/jobs/${encodeURIComponent(id)}`;
}
