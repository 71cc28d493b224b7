/**
 * Brings a task's dataset onto this machine from its source: an HF dataset repo at the pinned
 * revision (through @huggingface/hub, so the local hub in tests/ and the real Hub are the same
 * code path), or an http(s) URL streamed to disk with the size limit enforced on the bytes
 * received and the sha256 checked before anything is unpacked.
 */
import { createHash } from "node:crypto";
import { downloadFile, listFiles } from "@huggingface/hub";
import type { DatasetSource } from "../../../core/task.ts";
import { redactUrl } from "../../../core/errors.ts";
import { Extractor } from "./extractor.ts";
import { Budget, DatasetError, type UnpackLimits } from "./limits.ts";
import { safeRelativePath } from "./safe_path.ts";

export interface FetchDeps {
  fetch?: typeof fetch;
  hubUrl: string;
  hfToken?: string | null;
  limits: UnpackLimits;
}

type UrlSource = Extract<DatasetSource, { kind: "url" }>;
type HfSource = Extract<DatasetSource, { kind: "hf" }>;

/** Downloads to `destFile`; returns the name to give a non-archive download. */
export async function downloadUrl(source: UrlSource, destFile: string, deps: FetchDeps): Promise<string> {
  const where = redactUrl(source.url);
  const res = await (deps.fetch ?? fetch)(source.url, { redirect: "follow" });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new DatasetError(`Cannot download dataset ${where}: answered ${res.status} ${res.statusText}`);
  }
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (declared > source.max_bytes) {
    await res.body.cancel();
    throw new DatasetError(
      `Cannot download dataset ${where}: ${declared} bytes, past its limit of ${source.max_bytes}`,
    );
  }
  const hash = createHash("sha256");
  let bytes = 0;
  {
    using file = await Deno.open(destFile, { write: true, createNew: true });
    for await (const chunk of res.body) {
      bytes += chunk.length;
      if (bytes > source.max_bytes) {
        throw new DatasetError(
          `Cannot download dataset ${where}: more than its limit of ${source.max_bytes} bytes`,
        );
      }
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    }
  }
  const actual = hash.digest("hex");
  if (actual !== source.sha256) {
    throw new DatasetError(
      `Cannot use dataset ${where}: sha256 is ${actual}, the task expects ${source.sha256}`,
    );
  }
  const base = decodeURIComponent(new URL(source.url).pathname.split("/").pop() ?? "");
  return base.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "") || "data";
}

/**
 * Downloads every file of the repo (or of `source.path` inside it) at `source.revision` into
 * `destDir`, paths relative to `source.path`, through the same path and size checks as archives.
 */
export async function downloadHf(source: HfSource, destDir: string, deps: FetchDeps): Promise<void> {
  const repo = { type: "dataset" as const, name: source.repo };
  const common = { repo, revision: source.revision, hubUrl: deps.hubUrl, fetch: deps.fetch, ...token(deps) };
  const prefix = (source.path ?? "").replace(/^\/+|\/+$/g, "");
  const files: { path: string; size: number }[] = [];
  for await (const entry of listFiles({ ...common, recursive: true, path: prefix || undefined })) {
    if (entry.type !== "file" || entry.path.endsWith(".gitattributes")) continue;
    files.push({ path: entry.path, size: entry.lfs?.size ?? entry.size });
    if (files.length > deps.limits.maxFiles) {
      throw new DatasetError(
        `Cannot fetch dataset "${source.repo}": more than ${deps.limits.maxFiles} files`,
      );
    }
  }
  if (files.length === 0) {
    throw new DatasetError(
      `Cannot fetch dataset "${source.repo}@${source.revision}": no files under "${prefix}"`,
    );
  }
  // Names are checked before any download: a hostile listing must not even steer a request.
  for (const f of files) safeRelativePath(relativeTo(prefix, f.path), deps.limits.maxPathLength);
  const total = files.reduce((n, f) => n + f.size, 0);
  const out = new Extractor(destDir, new Budget(deps.limits, Math.max(1, total)));
  for (const f of files) {
    const blob = await downloadFile({ ...common, path: f.path, xet: false });
    if (!blob) {
      throw new DatasetError(`Cannot fetch "${f.path}" from dataset "${source.repo}": not found`, f.path);
    }
    await out.file(relativeTo(prefix, f.path), blob.stream(), f.size);
  }
}

function relativeTo(prefix: string, path: string): string {
  return prefix && path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : path;
}

function token(deps: FetchDeps): { accessToken?: string } {
  return deps.hfToken ? { accessToken: deps.hfToken } : {};
}
