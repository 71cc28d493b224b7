/**
 * Brings a task's dataset onto this machine from its source: an HF dataset repo at the pinned
 * revision (hub.ts: the listing and `resolve` routes, the token only for the Hub's origin), or an
 * http(s) URL streamed to disk with the sha256 checked before anything is unpacked. Both go through
 * one FetchSession (safe_fetch.ts): the miner's caps on bytes and time, public addresses only.
 * The validator's `max_bytes` can only lower the miner's `dataset.max_bytes`, never raise it.
 */
import { createHash } from "node:crypto";
import { ConfigSchema, type DatasetConfig } from "../../../core/config.ts";
import type { DatasetSource } from "../../../core/task.ts";
import { AllowList } from "./address.ts";
import { Extractor } from "./extractor.ts";
import { hubOptions, type HubRef, listHubFiles, resolveUrl } from "./hub.ts";
import { Budget, DatasetError, type UnpackLimits } from "./limits.ts";
import { type Fetched, FetchSession, type NetDeps, redact } from "./safe_fetch.ts";
import { safeRelativePath } from "./safe_path.ts";

export interface FetchDeps extends NetDeps {
  hubUrl: string;
  hfToken?: string | null;
  limits: UnpackLimits;
  /** Config `dataset`; a missing key takes its default (no allow-list). */
  dataset?: Partial<DatasetConfig>;
}

type UrlSource = Extract<DatasetSource, { kind: "url" }>;
type HfSource = Extract<DatasetSource, { kind: "hf" }>;

const DEFAULTS: DatasetConfig = ConfigSchema.shape.dataset.parse(undefined);

/** The session for one dataset, under the config's caps; `maxBytes` (the task's) may lower the cap. */
export function fetchSession(deps: FetchDeps, what: string, maxBytes = Infinity): FetchSession {
  const cfg = { ...DEFAULTS, ...deps.dataset };
  const caps = {
    maxBytes: Math.min(cfg.max_bytes, maxBytes),
    firstByteMs: cfg.first_byte_timeout_s * 1000,
    idleMs: cfg.idle_timeout_s * 1000,
    totalMs: cfg.total_timeout_s * 1000,
  };
  return new FetchSession(caps, new AllowList(cfg.allow_hosts), deps, what);
}

/** Downloads to `destFile`; returns the name to give a non-archive download. */
export async function downloadUrl(source: UrlSource, destFile: string, deps: FetchDeps): Promise<string> {
  const url = new URL(source.url);
  const session = fetchSession(deps, redact(url), source.max_bytes);
  const fetched = await session.get(url);
  const hash = createHash("sha256");
  try {
    refuseDeclaredSize(session, fetched, session.budget.max);
    using file = await Deno.open(destFile, { write: true, createNew: true });
    for await (const chunk of session.body(fetched)) {
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    }
  } finally {
    await session.discard(fetched);
  }
  const actual = hash.digest("hex");
  if (actual !== source.sha256) {
    const detail = `sha256 is ${actual}, the task expects ${source.sha256}`;
    throw session.fail("dataset_hash_mismatch", detail);
  }
  const base = decodeURIComponent(url.pathname.split("/").pop() ?? "");
  return base.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "") || "data";
}

/**
 * Downloads every file of the repo (or of `source.path` inside it) at `source.revision` into
 * `destDir`, paths relative to `source.path`, through the same path and size checks as archives.
 */
export async function downloadHf(source: HfSource, destDir: string, deps: FetchDeps): Promise<void> {
  const ref: HubRef = {
    hubUrl: deps.hubUrl,
    token: deps.hfToken,
    repo: source.repo,
    revision: source.revision,
  };
  const session = fetchSession(deps, `"${source.repo}@${source.revision}"`);
  const prefix = source.path ?? "";
  const files = await listHubFiles(session, ref, source.path, deps.limits.maxFiles);
  if (files.length === 0) {
    throw new DatasetError(
      `Cannot fetch dataset "${source.repo}@${source.revision}": no files under "${prefix}"`,
    );
  }
  // Names are checked before any download: a hostile listing must not even steer a request.
  for (const f of files) {
    safeRelativePath(f.path, deps.limits.maxPathLength);
    safeRelativePath(relativeTo(prefix, f.path), deps.limits.maxPathLength);
  }
  const total = files.reduce((n, f) => n + (f.size ?? 0), 0);
  if (total > session.budget.max) {
    throw session.fail(
      "dataset_too_large",
      `the listing adds up to ${total} bytes, past ${session.budget.max}`,
    );
  }
  const out = new Extractor(destDir, new Budget(deps.limits, Math.max(1, total)));
  const opts = hubOptions(ref);
  for (const f of files) {
    const fetched = await session.get(resolveUrl(ref, f.path), opts);
    try {
      refuseDeclaredSize(session, fetched, session.budget.max - session.budget.used);
      await out.file(relativeTo(prefix, f.path), session.body(fetched), f.size);
    } finally {
      await session.discard(fetched);
    }
  }
}

/** A Content-Length past what is left is refused before a byte is read. */
function refuseDeclaredSize(session: FetchSession, fetched: Fetched, left: number): void {
  const declared = Number(fetched.response.headers.get("content-length") ?? NaN);
  if (declared > left) {
    throw session.fail("dataset_too_large", `${declared} bytes, past its limit of ${left}`);
  }
}

function relativeTo(prefix: string, path: string): string {
  return prefix && path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : path;
}
