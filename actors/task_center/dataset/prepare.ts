/**
 * From a task's dataset source to a validated-ready folder: download into a staging area, unpack
 * safely, normalise (a lone top folder is hoisted, archiver junk dropped), describe with a
 * manifest, then move into `<data_dir>/datasets/<task-id>/` with the manifest beside it (not
 * inside: the trainer would read a .json file as data). A crash leaves only staging to discard.
 */
import { join } from "node:path";
import type { DatasetSource } from "../../../core/task.ts";
import { downloadHf, downloadUrl, type FetchDeps } from "./fetch.ts";
import type { DatasetManifest } from "../../../core/manifest.ts";
import { buildManifest } from "./describe.ts";
import { unpack } from "./unpack.ts";
import { datasetDir, manifestPath, stagingRoot } from "../../../core/paths.ts";

export interface PrepareDeps extends FetchDeps {
  dataDir: string;
}

/** Fetches, unpacks and describes the dataset; throws DatasetError for a dataset we refuse. */
export async function prepareDatasetDir(
  taskId: string,
  source: DatasetSource,
  deps: PrepareDeps,
): Promise<DatasetManifest> {
  const staging = join(stagingRoot(deps.dataDir), taskId);
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  const files = join(staging, "files");
  await Deno.mkdir(files, { recursive: true });
  try {
    let packing: DatasetManifest["packing"] = "hf";
    if (source.kind === "url") {
      const download = join(staging, "download");
      const name = await downloadUrl(source, download, deps);
      packing = await unpack(download, files, name, deps.limits);
      await Deno.remove(download);
    } else {
      await downloadHf(source, files, deps);
    }
    const root = await hoistLoneFolder(files);
    const manifest = await buildManifest(root, taskId, source, packing);
    const final = datasetDir(deps.dataDir, taskId);
    await Deno.remove(final, { recursive: true }).catch(() => {});
    await Deno.rename(root, final);
    const tmp = `${manifestPath(deps.dataDir, taskId)}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(manifest, null, 1));
    await Deno.rename(tmp, manifestPath(deps.dataDir, taskId));
    return manifest;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** Archives often wrap everything in one folder (`dataset/…`); the data starts inside it. */
async function hoistLoneFolder(dir: string): Promise<string> {
  let root = dir;
  for (;;) {
    const entries = await Array.fromAsync(Deno.readDir(root));
    if (entries.length !== 1 || !entries[0].isDirectory) return root;
    root = join(root, entries[0].name);
  }
}
