/**
 * The job files server: how a Ray node, which shares no disk with the miner, reads one task's spec,
 * manifest and validated dataset and writes its trained artifacts back. Every URL carries a signed
 * per-job token (job_tokens.ts) naming the task, the scope and an expiry, so a node reaches only
 * its own task's files, and only until the token runs out. Reads are limited to the files the
 * validated manifest lists; writes land in the task's output folder through a temp file and a
 * rename. The token never reaches a response body or a log line.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { actorLogger } from "../../core/logging.ts";
import { DatasetManifest } from "../../core/manifest.ts";
import { datasetDir, manifestPath, outputDir, workDir } from "../../core/paths.ts";
import { decodeRelativePath, redactedPath, routeOf, splitJobPath } from "./job_files_paths.ts";
import { type JobClaims, type JobScope, mintToken, verifyToken } from "./job_tokens.ts";

const log = actorLogger("ray");

export type JobFilesOptions = {
  dataDir: string;
  key: Uint8Array;
  hostname: string;
  port: number;
  /** The base URL nodes use, e.g. http://10.8.0.1:8003 (default http://<hostname>:<port>). */
  publicUrl?: string;
  maxFileBytes: number;
  clock?: { now(): number };
};

export type JobFilesServer = AsyncDisposable & {
  url: string;
  /** Base URL ending in "/" for one job and scope. */
  urlFor(claims: JobClaims): Promise<string>;
  close(): Promise<void>;
};

export async function startJobFilesServer(opts: JobFilesOptions): Promise<JobFilesServer> {
  const handler = createJobFilesHandler(opts);
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
    // The handler answers its own failures; this only sees what escapes it, and never the URL.
    onError: (e) => {
      log.error("Job files server failed a request: {error}", { error: (e as Error)?.name ?? String(e) });
      return json(500, { error: "Internal error" });
    },
  }, handler);
  const addr = await listening;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = (opts.publicUrl ?? `http://${host}:${addr.port}`).replace(/\/+$/, "");
  log.info("Job files server on {listen}, reached as {url}", { listen: `${host}:${addr.port}`, url });
  let closed: Promise<void> | null = null;
  const close = () => (closed ??= server.shutdown());
  return {
    url,
    urlFor: async (claims) => `${url}/v1/${await mintToken(opts.key, claims)}/`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

type Deps = Pick<JobFilesOptions, "dataDir" | "key" | "maxFileBytes" | "clock">;

/** `Request → Response`, testable without a socket; logs one line per request, token cut out. */
export function createJobFilesHandler(deps: Deps): (req: Request) => Promise<Response> {
  const clock = deps.clock ?? { now: () => Date.now() };
  const manifests = new ManifestCache();
  return async (req) => {
    const started = clock.now();
    const pathname = new URL(req.url).pathname;
    let res: Response;
    try {
      res = await route(req, pathname, { ...deps, clock, manifests });
    } catch (e) {
      log.error("Job files request {method} {path} failed: {error}", {
        method: req.method,
        path: redactedPath(pathname),
        error: scrub(`${(e as Error)?.name}: ${(e as Error)?.message}`, splitJobPath(pathname)?.token),
      });
      res = json(500, { error: "Internal error" });
    }
    const level = res.status >= 500
      ? "error"
      : res.status === 401 || res.status === 403
      ? "warn"
      : res.status >= 400
      ? "info"
      : "debug";
    log[level]("{method} {path} {status} in {ms} ms", {
      method: req.method,
      path: redactedPath(pathname),
      status: res.status,
      ms: clock.now() - started,
    });
    return res;
  };
}

type Ctx = Deps & { clock: { now(): number }; manifests: ManifestCache };

const READ = ["GET", "HEAD"];

async function route(req: Request, pathname: string, ctx: Ctx): Promise<Response> {
  const split = splitJobPath(pathname);
  if (!split) return json(404, { error: "No such route" });
  const check = await verifyToken(ctx.key, split.token, ctx.clock.now());
  if (!check.ok) return json(401, { error: TOKEN_ERRORS[check.reason] });
  const { claims } = check;
  const r = routeOf(split.rest);
  const gate = (methods: string[], scope: JobScope): Response | null => {
    if (!methods.includes(req.method)) {
      return json(405, { error: "Method not allowed" }, { allow: methods.join(", ") });
    }
    if (claims.scope !== scope) {
      return json(403, { error: `This job token allows ${claims.scope}, not ${scope}` });
    }
    return null;
  };
  const head = req.method === "HEAD";
  switch (r.kind) {
    case "task":
      return gate(READ, "read") ??
        await serveFile(join(workDir(ctx.dataDir, claims.taskId), "task.json"), JSON_TYPE, head);
    case "manifest":
      return gate(READ, "read") ?? await serveFile(manifestPath(ctx.dataDir, claims.taskId), JSON_TYPE, head);
    case "dataset":
      return gate(READ, "read") ?? await serveDatasetFile(r.rawPath, claims, ctx, head, split.token);
    case "out":
      return gate(["PUT"], "write") ?? await writeOutput(req, r.rawPath, claims, ctx, split.token);
    case "unknown":
      return json(404, { error: "No such route" });
  }
}

const TOKEN_ERRORS = {
  malformed: "The job token is malformed",
  bad_signature: "The job token's signature does not match",
  expired: "The job token has expired",
} as const;

const JSON_TYPE = "application/json";

async function serveDatasetFile(
  rawPath: string,
  claims: JobClaims,
  ctx: Ctx,
  head: boolean,
  token: string,
): Promise<Response> {
  const decoded = decodeRelativePath(rawPath);
  if (!decoded.ok) return badPath("read", rawPath, decoded.problem, token);
  const listed = await ctx.manifests.files(ctx.dataDir, claims.taskId);
  if (listed === null) return json(404, { error: `Task "${claims.taskId}" has no validated manifest` });
  if (!listed.has(decoded.path)) {
    return json(404, {
      error: scrub(`Cannot read ${quote(decoded.path)}: not in the task's manifest`, token),
    });
  }
  return await serveFile(
    join(datasetDir(ctx.dataDir, claims.taskId), decoded.path),
    "application/octet-stream",
    head,
  );
}

/** A regular file (never a link), streamed with its length; 404 when there is none. */
async function serveFile(path: string, type: string, head: boolean): Promise<Response> {
  const missing = () => json(404, { error: `No ${quote(basename(path))} for this job` });
  try {
    if (!(await Deno.lstat(path)).isFile) return missing();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return missing();
    throw e;
  }
  const file = await Deno.open(path, { read: true });
  const { size } = await file.stat();
  const headers = { "content-type": type, "content-length": String(size), "cache-control": "no-store" };
  if (head) {
    file.close();
    return new Response(null, { headers });
  }
  return new Response(file.readable, { headers }); // the readable closes the file at its end or cancel
}

/**
 * Streams the body to a temp file beside the target, then renames it into place: a reader never
 * sees half a file, and a retried PUT replaces the first. Over the cap, nothing is left behind.
 */
async function writeOutput(
  req: Request,
  rawPath: string,
  claims: JobClaims,
  ctx: Ctx,
  token: string,
): Promise<Response> {
  const decoded = decodeRelativePath(rawPath);
  if (!decoded.ok) return badPath("write", rawPath, decoded.problem, token);
  const rel = decoded.path;
  const tooBig = () =>
    json(413, {
      error: scrub(`Cannot write ${quote(rel)}: over the limit of ${ctx.maxFileBytes} bytes`, token),
    });
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > ctx.maxFileBytes) return tooBig();
  const target = join(outputDir(ctx.dataDir, claims.taskId), rel);
  const conflict = () =>
    json(409, { error: scrub(`Cannot write ${quote(rel)}: a folder or file is in the way`, token) });
  try {
    await Deno.mkdir(dirname(target), { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory) return conflict();
    throw e;
  }
  const temp = join(dirname(target), `.${basename(target)}.${crypto.randomUUID()}.part`);
  const hash = createHash("sha256");
  let bytes = 0;
  let kept = false;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
    try {
      for await (const chunk of req.body ?? []) {
        bytes += chunk.byteLength;
        if (bytes > ctx.maxFileBytes) return tooBig();
        hash.update(chunk);
        for (let at = 0; at < chunk.byteLength;) at += await file.write(chunk.subarray(at));
      }
      await file.syncData(); // the rename must not outlive the bytes after a power cut
    } finally {
      file.close();
    }
    try {
      await Deno.rename(temp, target);
    } catch (e) {
      if (e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.AlreadyExists) return conflict();
      throw e;
    }
    kept = true;
  } finally {
    if (!kept) await Deno.remove(temp).catch(() => {});
  }
  return json(200, { path: rel, bytes, sha256: hash.digest("hex") });
}

function badPath(action: "read" | "write", rawPath: string, problem: string, token: string): Response {
  return json(400, { error: scrub(`Cannot ${action} ${quote(rawPath)}: ${problem}`, token) });
}

/**
 * Which paths each task's manifest lists, reread only when the file changes: a dataset of many
 * small files is fetched in as many requests, and each would otherwise parse the whole manifest.
 */
class ManifestCache {
  static readonly MAX_TASKS = 32;
  #byTask = new Map<string, { stamp: string; files: Set<string> }>();

  async files(dataDir: string, taskId: string): Promise<Set<string> | null> {
    const path = manifestPath(dataDir, taskId);
    let stamp: string;
    try {
      const info = await Deno.stat(path);
      stamp = `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    const cached = this.#byTask.get(taskId);
    if (cached?.stamp === stamp) return cached.files;
    let files: Set<string> | null = null;
    try {
      const parsed = DatasetManifest.safeParse(JSON.parse(await Deno.readTextFile(path)));
      if (parsed.success) files = new Set(parsed.data.files.map((f) => f.path));
    } catch {
      // unreadable or not JSON: no manifest, as loadManifest sees it
    }
    this.#byTask.delete(taskId);
    if (files === null) return null;
    this.#byTask.set(taskId, { stamp, files });
    if (this.#byTask.size > ManifestCache.MAX_TASKS) this.#byTask.delete(this.#byTask.keys().next().value!);
    return files;
  }
}

/** A message with the token cut out, whatever the client put where. */
function scrub(text: string, token: string | undefined): string {
  return token ? text.replaceAll(token, "<redacted>") : text;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, "cache-control": "no-store", ...headers },
  });
}
