/**
 * Describes a normalised dataset folder as the manifest the task center validates: every file with
 * its hash, the format the trainer will read, the sample count and a few preview rows.
 */
import { join } from "node:path";
import type { DatasetSource } from "../../../core/task.ts";
import {
  type DatasetFormat,
  type DatasetManifest,
  hashFile,
  listFiles,
  type ManifestFile,
} from "../../../core/manifest.ts";
import { countSamples, previewRows } from "./samples.ts";

const IMAGE = /\.(png|jpe?g|webp|bmp)$/i;

/** Describes the normalised folder `dir`. */
export async function buildManifest(
  dir: string,
  taskId: string,
  source: DatasetSource,
  packing: DatasetManifest["packing"],
): Promise<DatasetManifest> {
  const paths = (await listFiles(dir)).files;
  const files: ManifestFile[] = [];
  for (const path of paths) files.push({ path, ...(await hashFile(join(dir, path))) });
  const format = detectFormat(paths);
  return {
    schema_version: 1,
    task_id: taskId,
    source,
    packing,
    format,
    files,
    total_bytes: files.reduce((n, f) => n + f.bytes, 0),
    sample_count: await countSamples(dir, format, paths),
    preview: await previewRows(dir, format, paths),
  };
}

export function detectFormat(paths: string[]): DatasetFormat {
  if (paths.some((p) => IMAGE.test(p))) {
    return paths.includes("metadata.jsonl") ? "image_metadata" : "image_folder";
  }
  if (paths.some((p) => /\.jsonl?$/i.test(p))) return "jsonl";
  if (paths.some((p) => /\.csv$/i.test(p))) return "csv";
  if (paths.some((p) => /\.parquet$/i.test(p))) return "parquet";
  return "unknown";
}
