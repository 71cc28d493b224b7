/**
 * The dataset manifest: every file with its sha256 and size, the format the trainer will read, the
 * sample count and a few preview rows. It is what the task center validates, and what
 * `verifyDatasetHashes` holds the folder to right before training, so the trainer reads exactly
 * the bytes that were validated.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { z } from "zod";
import { DatasetSource } from "./task.ts";
import { manifestPath } from "./paths.ts";

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const DatasetFormat = z.enum(["jsonl", "csv", "parquet", "image_folder", "image_metadata", "unknown"]);
export type DatasetFormat = z.infer<typeof DatasetFormat>;

export const ManifestFile = z.strictObject({
  path: z.string().min(1),
  sha256: sha256Hex,
  bytes: z.number().int(),
});
export type ManifestFile = z.infer<typeof ManifestFile>;

export const DatasetManifest = z.strictObject({
  schema_version: z.literal(1),
  task_id: z.string().min(1),
  /** Where the bytes came from, pinned: HF repo + revision, or URL + sha256 of the download. */
  source: DatasetSource,
  /** How the download was packed: an archive kind, "plain" for a single file, "hf" for repo files. */
  packing: z.enum(["tar", "tar.gz", "zip", "gzip", "plain", "hf"]),
  format: DatasetFormat,
  /** Sorted by path; the folder holds exactly these files. */
  files: z.array(ManifestFile).min(1),
  total_bytes: z.number().int().nonnegative(),
  /** Rows (text) or captioned images; null where counting needs a reader we do not have (parquet). */
  sample_count: z.number().int().nonnegative().nullable(),
  preview: z.array(z.record(z.string(), z.unknown())).max(5),
});
export type DatasetManifest = z.infer<typeof DatasetManifest>;

/** sha256 of the manifest's canonical JSON (keys sorted): the id of what was validated. */
export function manifestSha256(m: DatasetManifest): string {
  return createHash("sha256").update(canonicalJson(m)).digest("hex");
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export type HashCheck = { ok: true } | { ok: false; reason: "dataset_modified"; message: string };

/**
 * Rechecks `dir` against the validated manifest right before training: same files, same sizes,
 * same sha256, nothing added, no links. A mismatch names the first file that differs.
 */
export async function verifyDatasetHashes(dir: string, manifest: DatasetManifest): Promise<HashCheck> {
  const bad = (message: string): HashCheck => ({ ok: false, reason: "dataset_modified", message });
  let listing: Awaited<ReturnType<typeof listFiles>>;
  try {
    listing = await listFiles(dir);
  } catch (e) {
    return bad(`Cannot verify dataset "${dir}": ${(e as Error).message}`);
  }
  if (listing.links.length > 0) return bad(`Cannot verify dataset "${dir}": "${listing.links[0]}" is a link`);
  const want = new Map(manifest.files.map((f) => [f.path, f]));
  for (const path of listing.files) {
    if (!want.has(path)) {
      return bad(`Cannot verify dataset "${dir}": "${path}" is not in the validated manifest`);
    }
  }
  for (const f of manifest.files) {
    if (!listing.files.includes(f.path)) return bad(`Cannot verify dataset "${dir}": "${f.path}" is missing`);
    const got = await hashFile(join(dir, f.path));
    if (got.bytes !== f.bytes || got.sha256 !== f.sha256) {
      return bad(
        `Cannot verify dataset "${dir}": "${f.path}" changed since validation (sha256 ${got.sha256})`,
      );
    }
  }
  return { ok: true };
}

export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const file = await Deno.open(path, { read: true }); // its readable closes it at the end
  for await (const chunk of file.readable) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Regular files under `dir` (sorted, relative, forward slashes) and any links found. */
export async function listFiles(dir: string): Promise<{ files: string[]; links: string[] }> {
  const files: string[] = [];
  const links: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel ? join(dir, rel) : dir)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymlink) links.push(path);
      else if (e.isDirectory) await walk(path);
      else if (e.isFile) files.push(path);
    }
  };
  await walk("");
  files.sort();
  return { files, links };
}

/** The manifest the task center validated for `taskId`, or null when there is none (or it is unreadable). */
export async function loadManifest(dataDir: string, taskId: string): Promise<DatasetManifest | null> {
  try {
    const parsed = DatasetManifest.safeParse(
      JSON.parse(await Deno.readTextFile(manifestPath(dataDir, taskId))),
    );
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
